"""`baton endpoints`, `baton keys` and `baton config` through the real CLI."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from baton import cli
from tests.helpers.fakes import MemoryKeyring, installed_keyring
from tests.helpers.llama_server import free_port
from tests.helpers.proc import run_baton, run_json


@pytest.fixture()
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed_keyring(MemoryKeyring()) as backend:
        yield backend


def _main(argv: list[str], capsys: pytest.CaptureFixture[str], stdin: str = "") -> tuple[int, str, str]:
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        rc = cli.main(argv)
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return rc, out, err


ADD = ["endpoints", "add", "openai", "--base-url", "https://api.openai.com/v1/", "--model", "gpt-4o-mini",
       "--key-env", "OPENAI_API_KEY", "--usd-per-mtok-in", "0.15", "--usd-per-mtok-out", "0.6",
       "--j-per-token", "0.3", "--context-window", "128000"]


def test_add_list_remove_persist_in_config_without_keys(baton_home: Path) -> None:
    proc = run_baton(baton_home, *ADD, OPENAI_API_KEY="sk-proj-envkeyenvkeyenvkey1234567890")
    assert proc.returncode == 0, proc.stderr
    assert "added endpoint openai" in proc.stderr
    docs = run_json(baton_home, "endpoints", "list", "--json", OPENAI_API_KEY="sk-proj-envkeyenvkeyenvkey1234567890")
    assert docs == [{"name": "openai", "base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini",
                     "key_env": "OPENAI_API_KEY", "usd_per_mtok_in": 0.15, "usd_per_mtok_out": 0.6,
                     "j_per_token": 0.3, "context_window": 128000, "timeout_s": 60.0,
                     "key": "env:OPENAI_API_KEY", "loopback": False}]
    config = (baton_home / "config" / "config.toml").read_text()
    assert "api.openai.com" in config and "sk-proj" not in config
    # a second add of the same name needs --replace
    again = run_baton(baton_home, *ADD)
    assert again.returncode == 2 and "--replace" in again.stderr
    assert run_baton(baton_home, *ADD, "--replace", "--model", "gpt-4o").returncode == 0
    assert run_json(baton_home, "endpoints", "list", "--json")[0]["model"] == "gpt-4o"
    table = run_baton(baton_home, "endpoints", "list")
    assert "openai" in table.stdout and "gpt-4o" in table.stdout
    rm = run_baton(baton_home, "endpoints", "remove", "openai", "--json",
                   PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    assert rm.returncode == 0 and json.loads(rm.stdout) == {"removed": "openai", "key_removed": False}
    assert run_json(baton_home, "endpoints", "list", "--json") == []
    missing = run_baton(baton_home, "endpoints", "remove", "openai")
    assert missing.returncode == 2 and "no endpoint named 'openai'" in missing.stderr


@pytest.mark.parametrize(("extra", "message"), [
    (["--base-url", "ftp://x/v1"], "not an http(s) URL"),
    (["--base-url", "https://me:hunter2@api.example.com/v1"], "must not carry a user or password"),
    (["--base-url", "https://api.example.com/v1?key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"], "contain a key"),
    (["--key-env", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"], "is not an environment variable name"),
    (["--key-env", "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"], "NAME of an environment variable"),
    (["--usd-per-mtok-in", "-1"], "must be a number >= 0"),
    (["--context-window", "10"], "at least 256"),
], ids=["scheme", "userinfo", "key-in-url", "key-as-env", "random-env", "negative-price", "tiny-context"])
def test_add_refuses_bad_input_with_exit_2(baton_home: Path, extra: list[str], message: str) -> None:
    args = ["endpoints", "add", "x", "--base-url", "https://api.example.com/v1", "--model", "m", *extra]
    proc = run_baton(baton_home, *args)
    assert proc.returncode == 2 and message in proc.stderr
    assert not (baton_home / "config" / "config.toml").exists() or "[[endpoints]]" not in \
        (baton_home / "config" / "config.toml").read_text()


def test_keys_set_reads_stdin_stores_in_keyring_and_never_prints_it(
        baton_home: Path, memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(ADD, capsys)[0] == 0
    secret = "sk-proj-Zq9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7"
    rc, out, err = _main(["keys", "set", "openai"], capsys, stdin=secret + "\n")
    assert rc == 0 and "stored the key for openai" in err
    assert secret not in out + err
    assert memory_keyring.store[("baton", "openai")] == secret
    rc, out, _ = _main(["endpoints", "list", "--json"], capsys)
    assert json.loads(out)[0]["key"] == "keyring"  # no env var set in this process
    for path in baton_home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    rc, out, err = _main(["keys", "rm", "openai"], capsys)
    assert rc == 0 and "removed the stored key" in err and memory_keyring.store == {}
    rc, out, err = _main(["keys", "rm", "openai"], capsys)
    assert rc == 0 and "no key was stored" in err


def test_endpoint_remove_also_removes_its_key(baton_home: Path, memory_keyring: MemoryKeyring,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _main(ADD, capsys)
    _main(["keys", "set", "openai"], capsys, stdin="sk-abcdefghijklmnopqrstuvwxyz012345\n")
    rc, out, _ = _main(["endpoints", "remove", "openai", "--json"], capsys)
    assert rc == 0 and json.loads(out) == {"removed": "openai", "key_removed": True}
    assert memory_keyring.store == {}


def test_keys_set_refuses_empty_and_multiline_input(baton_home: Path, memory_keyring: MemoryKeyring,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(["keys", "set", "x"], capsys, stdin="\n")[0] == 2
    rc, _, err = _main(["keys", "set", "x"], capsys, stdin="a\nb\n")
    assert rc == 2 and "more than one line" in err
    assert memory_keyring.store == {}


def test_keys_without_a_keyring_point_to_key_env(baton_home: Path) -> None:
    proc = run_baton(baton_home, "keys", "set", "openai", input="sk-nowhere-to-store-1234567890\n",
                     PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    assert proc.returncode == 1
    assert "no OS keyring" in proc.stderr and "--key-env VAR" in proc.stderr
    assert "sk-nowhere" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_keys_refuse_a_plain_file_keyring(baton_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "xdg-data"
    proc = run_baton(baton_home, "keys", "set", "openai", input="sk-would-be-plaintext-1234567890\n",
                     PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring", XDG_DATA_HOME=str(data))
    assert proc.returncode == 1 and "plain file" in proc.stderr
    assert not data.exists() or not any(p.is_file() for p in data.rglob("*"))


def test_endpoints_test_says_what_is_wrong(baton_home: Path) -> None:
    port = free_port()
    assert run_baton(baton_home, "endpoints", "add", "lan", "--base-url", f"http://127.0.0.1:{port}/v1",
                     "--model", "m").returncode == 0
    proc = run_baton(baton_home, "endpoints", "test", "lan", "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and "could not connect" in doc["error"]
    assert run_baton(baton_home, "endpoints", "add", "cloud", "--base-url", "https://api.openai.com/v1",
                     "--model", "gpt-4o-mini").returncode == 0
    offline = run_baton(baton_home, "endpoints", "test", "cloud", BATON_OFFLINE="1")
    assert offline.returncode == 1 and "offline mode" in offline.stderr


def test_config_get_set_list(baton_home: Path) -> None:
    assert run_baton(baton_home, "config", "get", "routing.mode").stdout.strip() == "auto"
    proc = run_baton(baton_home, "config", "set", "routing.mode", "ask")
    assert proc.returncode == 0 and "routing.mode = ask (was auto)" in proc.stderr
    assert run_json(baton_home, "config", "get", "routing.mode", "--json") == {"routing.mode": "ask"}
    assert run_baton(baton_home, "config", "set", "engine.n_ctx", "8192").returncode == 0
    assert run_baton(baton_home, "config", "set", "offline", "yes").returncode == 0
    flat = run_json(baton_home, "config", "list", "--json")
    assert flat["routing.mode"] == "ask" and flat["engine.n_ctx"] == 8192 and flat["offline"] is True
    assert "endpoints" not in flat
    text = (baton_home / "config" / "config.toml").read_text()
    assert 'mode = "ask"' in text and "n_ctx = 8192" in text
    listing = run_baton(baton_home, "config", "list")
    assert "routing.mode" in listing.stdout and "ask" in listing.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["config", "set", "routing.mode", "sometimes"], "routing.mode must be one of"),
    (["config", "set", "engine.n_ctx", "lots"], "engine.n_ctx must be 0 (the model's trained context) or a whole"),
    (["config", "set", "no.such.key", "1"], "unknown setting"),
    (["config", "get", "routing"], "is a group of settings"),
    (["config", "set", "model_dirs", "/x"], "is a list"),
])
def test_config_bad_input_exits_2(baton_home: Path, args: list[str], message: str) -> None:
    proc = run_baton(baton_home, *args)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr
