"""Start llama-cpp-python's own OpenAI-compatible server on loopback, for tests that need a real
remote tier. It runs the default model (SmolLM2-135M) unless told otherwise.

    with llama_server() as srv:
        srv.base_url  # "http://127.0.0.1:PORT/v1"
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

SERVER_MODULES = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")


@dataclass(frozen=True)
class LlamaServer:
    base_url: str  # ends in /v1
    root_url: str
    port: int
    model: str  # the alias the server answers to
    pid: int
    log_path: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_server_modules() -> list[str]:
    return [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]


@contextmanager
def llama_server(model_path: Path | None = None, n_ctx: int = 2048, alias: str = "smollm2",
                 n_threads: int = 2, start_timeout_s: float = 120.0) -> Iterator[LlamaServer]:
    missing = missing_server_modules()
    if missing:
        raise RuntimeError(f"llama-cpp-python's server needs {', '.join(missing)}: "
                           "run `.venv/bin/pip install 'llama-cpp-python[server]'` (part of `make setup`)")
    if model_path is None:
        from baton.core.engine.defaults import default_model_path

        model_path = default_model_path(None)
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", alias, "--n_threads", str(n_threads),
           "--verbose", "False"]
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with code {proc.returncode}: "
                                   f"{Path(log.name).read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(root + "/v1/models", timeout=2) as r:
                    ids = [m["id"] for m in json.load(r)["data"]]
                    if alias in ids:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not answer /v1/models within {start_timeout_s:.0f} s")
            time.sleep(0.25)
        _warm_up(root, alias)
        yield LlamaServer(root + "/v1", root, port, alias, proc.pid, Path(log.name))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        Path(log.name).unlink(missing_ok=True)


def _warm_up(root: str, alias: str) -> None:
    """One tiny completion, so the first test's request does not pay for the server's first-call setup."""
    body = json.dumps({"model": alias, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}).encode()
    req = urllib.request.Request(root + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()
