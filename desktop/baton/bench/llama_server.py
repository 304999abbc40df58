"""llama-cpp-python's own OpenAI-compatible server on loopback: the one launcher the routing benchmark (its
strong tier) and the tests (a real remote tier) share.

    with llama_server(model_path, alias="bench-strong") as srv:
        srv.base_url  # "http://127.0.0.1:PORT/v1"

The server runs as a child process (``python -m llama_cpp.server``) on a free port of 127.0.0.1, without the
caller's ``OPENAI_API_KEY``; it is stopped (terminate, then kill after 15 s) when the block ends.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from baton.core.errors import BatonError

SERVER_MODULES = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")


@dataclass(frozen=True)
class LlamaServer:
    """A running server: ``base_url`` ends in ``/v1`` (what an ``Endpoint`` takes), ``root_url`` does not;
    ``model`` is the alias it answers to; ``pid`` the server process; ``log_path`` its stdout and stderr."""

    base_url: str
    root_url: str
    port: int
    model: str
    pid: int
    log_path: Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_server_modules() -> list[str]:
    """The modules of llama-cpp-python's ``[server]`` extra that cannot be found (empty when all are there)."""
    return [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]


@contextmanager
def llama_server(model_path: Path | None = None, n_ctx: int = 2048, alias: str = "smollm2", n_threads: int = 2,
                 start_timeout_s: float = 120.0, *, log_path: Path | None = None,
                 warm_up: bool = True) -> Iterator[LlamaServer]:
    """Start the server on ``model_path`` (default: the packaged default model), wait until ``/v1/models`` lists
    ``alias``, optionally send one 1-token completion (``warm_up``), yield it, and stop it on exit.

    ``n_threads`` is used for both decoding and prompt processing. ``log_path``: append the server's output there
    and keep it; by default it goes to a temporary file removed on exit. Raises ``BatonError`` when the server
    extra is not installed, when the process exits early (with the end of its log), or when it does not answer
    within ``start_timeout_s`` (Units: s).
    """
    missing = missing_server_modules()
    if missing:
        raise BatonError(f"llama-cpp-python's server needs {', '.join(missing)}: install the server extra "
                         "(`pip install 'llama-cpp-python[server]'`, part of `make setup`)")
    if model_path is None:
        from baton.core.engine.defaults import default_model_path

        model_path = default_model_path(None)
    keep_log = log_path is not None
    if log_path is None:
        with tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False) as tmp:
            log_path = Path(tmp.name)
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", alias, "--n_threads", str(n_threads),
           "--n_threads_batch", str(n_threads), "--verbose", "False"]
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    root = f"http://127.0.0.1:{port}"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_ready(proc, root, alias, start_timeout_s, log_path)
            if warm_up:
                _warm_up(root, alias)
            yield LlamaServer(root + "/v1", root, port, alias, proc.pid, log_path)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    if not keep_log:
        log_path.unlink(missing_ok=True)


def _wait_ready(proc: subprocess.Popen, root: str, alias: str, timeout_s: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise BatonError(f"llama_cpp.server exited with code {proc.returncode}{_tail(log_path)}")
        try:
            with urllib.request.urlopen(root + "/v1/models", timeout=2) as r:
                if alias in [m["id"] for m in json.load(r)["data"]]:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise BatonError(f"llama_cpp.server did not answer /v1/models within {timeout_s:.0f} s"
                             f"{_tail(log_path)}")
        time.sleep(0.25)


def _tail(log_path: Path) -> str:
    text = log_path.read_text(encoding="utf-8", errors="replace")[-2000:].strip()
    return f": {text}" if text else ""


def _warm_up(root: str, alias: str) -> None:
    """One tiny completion, so the first real request does not pay for the server's first-call setup."""
    body = json.dumps({"model": alias, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}).encode()
    req = urllib.request.Request(root + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()
