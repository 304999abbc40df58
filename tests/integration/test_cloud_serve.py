"""`baton serve`: an OpenAI-compatible API over the real pipeline (default local model), with a
bearer token, receipts in a `baton` field and X-Baton-* headers, streaming and not."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from baton.config import Endpoint
from baton.core.cloud.client import CloudClient
from baton.core.errors import CloudAuthError
from baton.core.types import ChatMessage, GenerationRequest
from tests.helpers.llama_server import free_port
from tests.helpers.proc import baton_env

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


@dataclass
class Served:
    base_url: str
    token: str
    home: Path
    stderr_lines: list[str]


def _start(home: Path, *extra: str) -> tuple[subprocess.Popen, list[str], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "baton", "serve", "--port", str(port), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=baton_env(home, **NO_KEYRING))
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
    assert ready.wait(120), "baton serve did not start"
    assert proc.poll() is None, "".join(lines)
    return proc, lines, f"http://127.0.0.1:{port}/v1"


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("serve-home")
    proc, lines, base = _start(home)
    m = re.search(r"bearer token \(kept in (.+?)\): (\S+)", "".join(lines))
    assert m, "".join(lines)
    try:
        yield Served(base, m.group(2), home, lines)
    finally:
        _stop(proc)


def _request(url: str, token: str | None, body: dict | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_token_is_required_and_kept_in_a_private_file(served: Served) -> None:
    code, headers, body = _request(served.base_url + "/models", None)
    assert code == 401 and headers.get("WWW-Authenticate") == "Bearer"
    assert json.loads(body)["error"]["type"] == "authentication_error"
    assert _request(served.base_url + "/models", "not-the-token")[0] == 401
    assert _request(served.base_url + "/chat/completions", "nope", {"messages": []})[0] == 401
    token_file = served.home / "config" / "serve-token"
    assert token_file.read_text().strip() == served.token
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert "serve-token" in "".join(served.stderr_lines)


def test_models_lists_router_tiers_and_local_models(served: Served) -> None:
    code, _, body = _request(served.base_url + "/models", served.token)
    ids = [m["id"] for m in json.loads(body)["data"]]
    assert code == 200 and ids[:3] == ["baton", "baton-local", "baton-cloud"]
    assert "smollm2-135m-instruct-q4_1" in ids


def test_non_streaming_answer_carries_receipt_in_body_and_headers(served: Served) -> None:
    code, headers, body = _request(served.base_url + "/chat/completions", served.token, {
        "model": "baton", "messages": [{"role": "user", "content": "What is 2 + 2?"}], "max_tokens": 8})
    assert code == 200, body
    doc = json.loads(body)
    text = doc["choices"][0]["message"]["content"]
    receipt = doc["baton"]
    assert text and receipt["text"] == text
    assert set(receipt) >= {"text", "thread_id", "message_id", "route", "usage", "timing", "energy", "memory", "cost"}
    assert receipt["route"]["tier"] == "local" and headers["X-Baton-Tier"] == "local"
    assert headers["X-Baton-Thread-Id"] == receipt["thread_id"]
    assert float(headers["X-Baton-Energy-J"]) == pytest.approx(receipt["energy"]["total_j"], abs=1e-3)
    assert float(headers["X-Baton-Cost-USD"]) == pytest.approx(receipt["cost"]["usd"])
    assert doc["usage"]["completion_tokens"] == receipt["usage"]["completion_tokens"] <= 8
    assert doc["usage"]["total_tokens"] == doc["usage"]["prompt_tokens"] + doc["usage"]["completion_tokens"]
    # continuing the stored thread
    code, headers2, body2 = _request(served.base_url + "/chat/completions", served.token, {
        "model": "baton-local", "messages": [{"role": "user", "content": "And 3 + 3?"}], "max_tokens": 8,
        "baton_thread_id": receipt["thread_id"]})
    assert code == 200 and headers2["X-Baton-Thread-Id"] == receipt["thread_id"]


def test_streaming_through_our_own_cloud_client(served: Served) -> None:
    ep = Endpoint("self", served.base_url, "baton-local")
    client = CloudClient(ep, served.token, offline=True)  # loopback: allowed offline
    chunks = list(client.stream(GenerationRequest([ChatMessage("user", "Say hello.")], max_tokens=6)))
    texts = [c.text for c in chunks if c.text]
    completion = chunks[-1].completion
    assert texts and completion is not None and completion.text == "".join(texts)
    assert client.usage_source == "server"  # `baton serve` honours stream_options.include_usage
    assert 0 < completion.usage.completion_tokens <= 6
    with pytest.raises(CloudAuthError):
        list(CloudClient(ep, "wrong", offline=True).stream(GenerationRequest([ChatMessage("user", "x")])))


def test_streamed_last_chunk_carries_the_receipt(served: Served) -> None:
    code, headers, body = _request(served.base_url + "/chat/completions", served.token, {
        "model": "baton-local", "stream": True, "max_tokens": 5,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                     {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Name a color."}]})
    assert code == 200 and headers["Content-Type"] == "text/event-stream"
    events = [ln[6:] for ln in body.decode().splitlines() if ln.startswith("data: ")]
    assert events[-1] == "[DONE]"
    docs = [json.loads(e) for e in events[:-1]]
    final = [d for d in docs if d.get("baton")]
    assert len(final) == 1 and final[0]["choices"][0]["finish_reason"] in ("stop", "length")
    streamed = "".join(d["choices"][0]["delta"].get("content", "") for d in docs if d["choices"])
    assert streamed == final[0]["baton"]["text"]
    assert final[0]["baton"]["route"]["tier"] == "local"


@pytest.mark.parametrize(("body", "message"), [
    ({"messages": []}, "non-empty list"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, "last message must be the user's"),
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens"),
])
def test_bad_requests_are_400(served: Served, body: dict, message: str) -> None:
    code, _, raw = _request(served.base_url + "/chat/completions", served.token, body)
    err = json.loads(raw)["error"]
    assert code == 400 and err["type"] == "invalid_request_error" and message in err["message"]


def test_second_start_reuses_the_token_without_printing_it(served: Served) -> None:
    proc, lines, base = _start(served.home)
    try:
        text = "".join(lines)
        assert served.token not in text and "--show-token" in text
        assert _request(base + "/models", served.token)[0] == 200
    finally:
        _stop(proc)


def test_non_loopback_host_needs_allow_remote(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "baton", "serve", "--host", "0.0.0.0", "--port", "0"],
                          capture_output=True, text=True, timeout=60, env=baton_env(tmp_path, **NO_KEYRING))
    assert proc.returncode == 2 and "--allow-remote" in proc.stderr
