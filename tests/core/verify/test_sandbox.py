"""The sandbox against hostile answers, with the real bubblewrap: each is stopped or finds nothing, and the caller
gets its answer back. Limits are small so the file stays quick on a busy machine."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from pathlib import Path

import pytest

from baton.core.verify import Limits, Sandbox, SandboxUnavailable, find_sandbox, verify_examples
from tests.helpers.tcp import accept_loop

REPO = Path(__file__).resolve().parents[3]


def _processes_with(token: str) -> list[int]:
    """Process ids whose command line holds ``token``."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if token.encode() in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
            except OSError:
                continue
    return out


def test_a_trivial_program_runs_as_nobody_with_a_clean_environment(sandbox: Sandbox) -> None:
    r = sandbox.run_python("import os, sys\nprint(os.getuid(), os.geteuid(), os.getgid())\n"
                           "print(sorted(os.environ))\nprint(os.getcwd(), sorted(os.listdir('.')))\n")
    assert r.exit_code == 0 and r.ok and not r.timed_out and r.killed is None, r
    lines = r.stdout.splitlines()
    assert lines[0] == "65534 65534 65534"  # even though the tests (and Baton) may run as root
    assert "BATON_HOME" not in lines[1] and "HOME" in lines[1]
    assert lines[2] == "/tmp ['main.py']"


def test_an_endless_loop_is_stopped_by_the_cpu_limit(sandbox: Sandbox) -> None:
    r = sandbox.run_python("while True:\n    pass\n", Limits(cpu_s=1, wall_s=30))
    assert r.exit_code is not None and r.exit_code != 0
    assert r.killed == "cpu_time" and not r.timed_out


def test_a_sleeping_program_and_its_children_are_killed_at_the_wall_clock_limit(sandbox: Sandbox) -> None:
    """Run from a worker thread: the caller's thread keeps going, the run returns, nothing is left behind."""
    token = f"1000.{secrets.randbelow(10**9):09d}"
    src = ("import os, time\n"
           f"if os.fork() == 0:\n    os.execv('/usr/bin/sleep', ['sleep', '{token}'])\n"
           "print('started', flush=True)\nwhile True:\n    time.sleep(1)\n")
    box: list = []
    worker = threading.Thread(target=lambda: box.append(sandbox.run_python(src, Limits(wall_s=1.5))))
    worker.start()
    ticks = 0
    while worker.is_alive() and ticks < 10_000:
        ticks += 1
        time.sleep(0.01)
    worker.join(timeout=30)
    assert not worker.is_alive(), "run_python did not return after its wall-clock limit"
    assert ticks > 0
    (r,) = box
    assert r.timed_out and r.exit_code is None and r.killed == "wall_time"
    assert "started" in r.stdout
    assert _processes_with(token) == [], "a process of the sandbox outlived it"


def test_a_child_left_running_in_the_background_ends_with_the_program(sandbox: Sandbox) -> None:
    token = f"1000.{secrets.randbelow(10**9):09d}"
    src = (f"import os\nif os.fork() == 0:\n    os.setsid()\n    os.execv('/usr/bin/sleep', ['sleep', '{token}'])\n"
           "print('bye')\n")
    r = sandbox.run_python(src, Limits(wall_s=20))
    assert r.exit_code == 0 and r.stdout == "bye\n" and not r.timed_out
    assert _processes_with(token) == [], "a background process of the sandbox outlived it"


def test_a_fork_bomb_hits_the_process_limit_and_the_run_returns(sandbox: Sandbox) -> None:
    src = ("import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError as e:\n"
           "        print('refused', e.errno, flush=True)\n        time.sleep(0.2)\n")
    r = sandbox.run_python(src, Limits(cpu_s=2, wall_s=3, nproc=8))
    assert "refused 11" in r.stdout  # EAGAIN: RLIMIT_NPROC
    assert r.timed_out or r.killed is not None
    again = sandbox.run_python("print('fine')", Limits(wall_s=10))
    assert again.stdout == "fine\n"


def test_a_huge_file_stops_at_the_file_size_limit_and_nothing_lands_outside(sandbox: Sandbox) -> None:
    token = secrets.token_hex(6)
    src = (f"import os\nfor p in ['/{token}', '/usr/{token}', '/dev/{token}', '/etc/{token}']:\n"
           "    try:\n        open(p, 'w').write('x')\n        print('wrote', p)\n"
           "    except OSError as e:\n        print('refused', p, e.errno)\n"
           f"open('/tmp/{token}', 'w').write('inside')\n"
           "with open('big', 'wb') as f:\n    for _ in range(64):\n        f.write(b'x' * (1 << 20))\n")
    r = sandbox.run_python(src, Limits(file_mb=4, wall_s=20))
    assert r.exit_code != 0 and r.killed == "file_size", r
    assert "wrote" not in r.stdout and r.stdout.count("refused") == 4
    assert not Path(f"/tmp/{token}").exists() and not Path(f"/{token}").exists()


def test_a_socket_to_a_loopback_server_of_the_caller_finds_nothing(sandbox: Sandbox) -> None:
    seen: list[socket.socket] = []
    stop, threads = threading.Event(), []
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        srv.settimeout(0.1)
        port = srv.getsockname()[1]
        loop = threading.Thread(target=accept_loop, args=(srv, stop, seen.append, threads), daemon=True)
        loop.start()
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # the server does accept from here
            deadline = time.monotonic() + 10
            while not seen and time.monotonic() < deadline:
                time.sleep(0.01)
        assert len(seen) == 1
        src = (f"import socket\nfor host in ['127.0.0.1', 'localhost', '::1']:\n    try:\n"
               f"        socket.create_connection((host, {port}), timeout=2)\n        print('connected', host)\n"
               "    except OSError as e:\n        print('failed', host, type(e).__name__)\n")
        r = sandbox.run_python(src, Limits(wall_s=20))
        time.sleep(0.3)
        stop.set()
        loop.join(timeout=5)
    assert r.exit_code == 0, r
    assert "connected" not in r.stdout and r.stdout.count("failed") == 3
    assert len(seen) == 1, "the server saw a connection from the sandbox"
    for conn in seen:
        conn.close()


def test_files_of_the_home_folder_and_of_work_are_not_visible(sandbox: Sandbox, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    secret = secrets.token_hex(8)
    home = tmp_path / "home"
    home.mkdir()
    (home / "secret.txt").write_text(secret)
    real_home = Path.home()
    monkeypatch.setenv("HOME", str(home))
    paths = [home / "secret.txt", real_home, Path("/root"), REPO / "pyproject.toml", REPO, Path("/work"), tmp_path]
    src = ("import os\n"
           f"for p in {[str(p) for p in paths]!r}:\n    try:\n"
           "        print('read', p, open(p).read() if os.path.isfile(p) else os.listdir(p))\n"
           "    except OSError as e:\n        print('hidden', p, type(e).__name__)\n")
    r = sandbox.run_python(src, Limits(wall_s=20))
    assert r.exit_code == 0, r
    assert secret not in r.stdout and "read" not in r.stdout
    assert r.stdout.count("hidden") == len(paths)


def test_a_memory_hog_is_stopped(sandbox: Sandbox) -> None:
    r = sandbox.run_python("chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))\n",
                           Limits(memory_mb=128, wall_s=20))
    assert r.exit_code != 0 and r.killed == "memory", r
    assert "MemoryError" in r.stderr


def test_a_flood_of_output_comes_back_capped(sandbox: Sandbox) -> None:
    r = sandbox.run_python("import sys\nsys.stdout.write('x' * (4 << 20))\nprint('end')\n", Limits(wall_s=20))
    assert r.exit_code == 0
    assert len(r.stdout) < 70_000 and "bytes cut" in r.stdout and r.stdout.endswith("end\n")


def test_without_bwrap_on_the_path_the_sandbox_is_unavailable_and_says_how_to_get_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    found = find_sandbox()
    assert isinstance(found, SandboxUnavailable)
    assert "bwrap" in found.reason and "apt install bubblewrap" in found.reason
    v = verify_examples("assert f(1) == 2", "def f(x):\n    return 2\n", found)
    assert v.state == "not_run"
    assert v.sentence == f"not run: sandbox unavailable ({found.reason})"


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="cpu_s"):
        Limits(cpu_s=0)
