"""`baton keys` and key use through the real CLI: keys with control characters refused without echo,
stdin that is not UTF-8, and a keyring backend that fails in its own way: one line each, never a
traceback, and the env var to use instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.proc import run_baton

BROKEN_BUS = {"PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}


def _one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("bad", ["\t", "\x00", "\x1b[2J", "\r", "\x85", "\u2028"])
def test_keys_set_refuses_a_key_with_a_control_character(baton_home: Path, bad: str, tmp_path: Path) -> None:
    proc = run_baton(baton_home, "keys", "set", "openai", input=f"sk-left-0123{bad}right-4567\n",
                     PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    assert proc.returncode == 2
    line = _one_line(proc.stderr)
    assert "control character" in line or "more than one line" in line
    assert "left-0123" not in proc.stderr + proc.stdout and "right-4567" not in proc.stderr + proc.stdout


def test_keys_set_refuses_stdin_that_is_not_utf8(baton_home: Path) -> None:
    import subprocess
    import sys

    from tests.helpers.proc import baton_env

    proc = subprocess.run([sys.executable, "-m", "baton", "keys", "set", "openai"], input=b"sk-\xff\xfe-key\n",
                          capture_output=True, timeout=120,
                          env=baton_env(baton_home, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring"))
    assert proc.returncode == 2
    assert "not valid UTF-8" in _one_line(proc.stderr.decode())


def test_keys_set_with_a_keyring_whose_bus_is_missing_is_one_line(baton_home: Path, tmp_path: Path) -> None:
    assert run_baton(baton_home, "endpoints", "add", "openai", "--base-url", "https://api.openai.com/v1",
                     "--model", "gpt-4o-mini", "--key-env", "MY_OPENAI_KEY").returncode == 0
    proc = run_baton(baton_home, "keys", "set", "openai", input="sk-bus-less-0123456789\n",
                     DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path}/no-bus", **BROKEN_BUS)
    assert proc.returncode == 1
    line = _one_line(proc.stderr)
    assert line.startswith("baton: no usable keyring: ") and "set the env var MY_OPENAI_KEY instead" in line
    assert "sk-bus-less" not in proc.stderr + proc.stdout


def test_an_env_key_with_a_line_break_is_refused_at_use_without_echo(baton_home: Path, tmp_path: Path) -> None:
    assert run_baton(baton_home, "endpoints", "add", "lan", "--base-url", "http://127.0.0.1:9/v1",
                     "--model", "m", "--key-env", "LAN_KEY_WITH_BREAK").returncode == 0
    proc = run_baton(baton_home, "endpoints", "test", "lan", LAN_KEY_WITH_BREAK="sk-top-half-0123\nbottom-half-4567",
                     DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path}/no-bus", **BROKEN_BUS)
    assert proc.returncode == 1
    line = _one_line(proc.stderr)
    assert "LAN_KEY_WITH_BREAK" in line and "control character" in line
    assert "top-half" not in proc.stderr + proc.stdout and "bottom-half" not in proc.stderr + proc.stdout


def test_a_broken_keyring_on_use_points_to_the_env_var(baton_home: Path, tmp_path: Path) -> None:
    assert run_baton(baton_home, "endpoints", "add", "lan", "--base-url", "http://127.0.0.1:9/v1",
                     "--model", "m", "--key-env", "LAN_KEY_UNSET").returncode == 0
    proc = run_baton(baton_home, "endpoints", "test", "lan",
                     DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path}/no-bus", **BROKEN_BUS)
    assert proc.returncode == 1
    line = _one_line(proc.stderr)
    assert "no usable keyring" in line and "set the env var LAN_KEY_UNSET instead" in line


def _files_holding(home: Path, *needles: str) -> list[tuple[str, str]]:
    found = []
    for f in home.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            found += [(str(f), n) for n in needles if n.encode() in data]
    return found


def test_a_server_echoing_the_key_leaves_it_in_no_output_and_no_file(baton_home: Path) -> None:
    from tests.helpers.dialect_server import DialectServer, Reply

    key = "sk-e2e-SECRET-0123456789abcdef"

    def echo(req):  # type: ignore[no-untyped-def]
        return f"bad request; you sent Authorization: {req.headers.get('authorization')}".encode()

    with DialectServer() as srv:
        srv.enqueue(Reply(status=400, body=echo, content_type="text/plain"),
                    *[Reply(status=500, body=echo, content_type="text/plain")] * 3)
        assert run_baton(baton_home, "endpoints", "add", "echo", "--base-url", srv.base_url, "--model", "m",
                         "--key-env", "ECHO_KEY").returncode == 0
        outputs = []
        for code in (400, 500):
            proc = run_baton(baton_home, "ask", "--tier", "cloud", "Say hi", ECHO_KEY=key,
                             PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
            assert proc.returncode == 1 and f"HTTP {code}" in proc.stderr and "Traceback" not in proc.stderr
            outputs.append(proc.stdout + proc.stderr)
        assert srv.requests[0].headers["authorization"] == f"Bearer {key}"  # it was sent, and echoed back
    assert not any(key in o for o in outputs)
    assert _files_holding(baton_home, key) == []  # the database and logs included


def test_an_env_key_with_a_line_break_reaches_no_output_and_no_file(baton_home: Path) -> None:
    assert run_baton(baton_home, "endpoints", "add", "lan", "--base-url", "http://127.0.0.1:9/v1",
                     "--model", "m", "--key-env", "LAN_KEY_BROKEN").returncode == 0
    proc = run_baton(baton_home, "ask", "--tier", "cloud", "Say hi", LAN_KEY_BROKEN="sk-top-0123\nbottom-4567",
                     PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "LAN_KEY_BROKEN" in proc.stderr and "check the URL" not in proc.stderr
    assert "top-0123" not in proc.stdout + proc.stderr and "bottom-4567" not in proc.stdout + proc.stderr
    assert _files_holding(baton_home, "top-0123", "bottom-4567") == []
