"""Start `baton serve` for tests: as a real process (`baton serve --port 0`, URL read from its stderr), or
in-process (uvicorn on a free loopback port, in a thread) around any service object; and raw HTTP helpers."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers.proc import baton_env

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


@dataclass
class ServeProc:
    proc: subprocess.Popen
    base_url: str  # ends in /v1
    port: int
    token: str | None
    home: Path
    lines: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def start_serve(home: Path, *extra: str, **env: str) -> ServeProc:
    """`baton serve --port 0 ...` in ``home``; returns once it prints its URL and token line."""
    proc = subprocess.Popen([sys.executable, "-m", "baton", "serve", "--port", "0", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=baton_env(home, **NO_KEYRING, **env))
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "bearer token" in line:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    assert ready.wait(180), "baton serve did not start"
    assert proc.poll() is None, "".join(lines)
    text = "".join(lines)
    m = re.search(r"at (http://[^ ]+?:(\d+)/v1)", text)
    assert m, text
    tok = re.search(r"bearer token \(kept in .+?\): (\S+)", text)
    return ServeProc(proc, m.group(1), int(m.group(2)), tok.group(1) if tok else None, home, lines)


@dataclass
class InProcess:
    base_url: str
    port: int
    token: str
    app: Any


@contextmanager
def serve_in_process(service: Any, token: str = "test-token", **config: Any) -> Iterator[InProcess]:
    """uvicorn serving ``build_app(service, ServeConfig(token, **config))`` on a free loopback port, in a thread."""
    import uvicorn

    from baton.commands.serve import bind_socket
    from baton.commands.serve_app import ServeConfig, build_app

    app = build_app(service, ServeConfig(token=token, **config))
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                           http="h11", loop="asyncio", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield InProcess(f"http://127.0.0.1:{port}/v1", port, token, app)
    finally:
        server.should_exit = True
        thread.join(15)
        app.state.dispatcher.close()
        sock.close()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(port: int, method: str, path: str, body: bytes | None = None, token: str | None = None,
                headers: dict[str, str] | None = None, timeout: float = 300) -> Reply:
    """One HTTP request on a fresh connection; ``headers`` may override ``Host``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = {"Content-Type": "application/json"}
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        hdrs.update(headers or {})
        skip_host = any(k.lower() == "host" for k in hdrs)
        conn.putrequest(method, path, skip_host=skip_host, skip_accept_encoding=True)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def post_json(port: int, token: str | None, doc: Any, path: str = "/v1/chat/completions", **kw: Any) -> Reply:
    return raw_request(port, "POST", path, json.dumps(doc).encode(), token, **kw)


def wait_until(cond: Any, timeout_s: float = 60.0, what: str = "condition") -> None:
    """Poll ``cond()`` until it is true (a liveness wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
