"""Cloud client units: Retry-After parsing, loopback detection, offline refusal, backoff, prices and
energy, and the usage paths (server-reported, and counted when a server rejects stream_options),
against a tiny scripted SSE server on loopback (the real llama.cpp server is in tests/integration)."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from baton.config import Endpoint
from baton.core.cloud.client import CloudClient, is_loopback_url, parse_retry_after
from baton.core.errors import PolicyError, UsageError
from baton.core.types import ChatMessage, GenerationRequest, Usage

REQ = GenerationRequest([ChatMessage("user", "hello there")], max_tokens=8)


def _ep(url: str = "http://127.0.0.1:9/v1", **kw: object) -> Endpoint:
    base = dict(name="ep", base_url=url, model="m", usd_per_mtok_in=3.0, usd_per_mtok_out=15.0, j_per_token=0.25)
    base.update(kw)
    return Endpoint(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("headers", "expected"), [
    ({"retry-after": "3"}, 3.0), ({"retry-after": "0.5"}, 0.5), ({"retry-after-ms": "250"}, 0.25),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25), ({"retry-after": "-4"}, 0.0),
    ({"retry-after": "soon"}, None), ({}, None), ({"retry-after": "nan"}, None),
])
def test_parse_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    when = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": when}, now=now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"retry-after": past}, now=now) == 0.0


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:8080/v1", True), ("http://127.8.9.10/v1", True), ("http://[::1]:8741/v1", True),
    ("http://localhost:11434/v1", True), ("http://LOCALHOST./v1", True),
    ("https://api.openai.com/v1", False), ("http://192.168.1.20:8000/v1", False), ("http://10.0.0.1/v1", False),
    ("http://localhost.evil.com/v1", False), ("http://127.0.0.1.nip.io/v1", False), ("http://0.0.0.0:80/v1", False),
])
def test_loopback_detection(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_offline_refuses_a_remote_host_before_any_request() -> None:
    client = CloudClient(_ep("https://api.openai.com/v1", name="openai"), "sk-not-used", offline=True)
    with pytest.raises(PolicyError, match="offline mode: endpoint 'openai' is at api.openai.com"):
        client.stream(REQ)  # refused on the call itself, before iteration
    with pytest.raises(PolicyError):
        client.list_models()
    assert client._http is None  # no HTTP client was even built


def test_base_url_must_be_http() -> None:
    with pytest.raises(UsageError, match="not an http"):
        CloudClient(_ep("ftp://example.com/v1"), None, offline=False)
    with pytest.raises(UsageError):
        CloudClient(_ep("api.openai.com/v1"), None, offline=False)


def test_backoff_grows_and_respects_retry_after_limits() -> None:
    c = CloudClient(_ep(), None, offline=False, max_retries=4, backoff_s=0.5, max_backoff_s=3.0,
                    max_retry_after_s=10.0)
    assert [c._delay(i, None) for i in range(5)] == [0.5, 1.0, 2.0, 3.0, None]
    assert c._delay(0, 7.0) == 7.0
    assert c._delay(0, 11.0) is None  # asked to wait longer than we are willing to: give up now


def test_cost_and_energy_from_endpoint_prices() -> None:
    c = CloudClient(_ep(), None, offline=False)
    u = Usage(prompt_tokens=1000, completion_tokens=200)
    assert c.cost_usd(u) == pytest.approx((1000 * 3.0 + 200 * 15.0) / 1e6)
    assert c.energy_estimate_j(u) == pytest.approx(1200 * 0.25)
    part = c.energy_part(u)
    assert (part.scope, part.source, part.measured) == ("remote", "estimated", False)
    assert "1200 tokens x 0.25 J/token" in part.note
    zero = CloudClient(_ep(j_per_token=0.0), None, offline=False).energy_part(u)
    assert zero.energy_j == 0.0 and "--j-per-token" in zero.note


# ---- a scripted SSE server on loopback ------------------------------------------------------------

class _Script:
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.reject_stream_options = False


@pytest.fixture()
def sse_server() -> Iterator[tuple[str, _Script]]:
    script = _Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.bodies.append(body)
            script.headers.append({k.lower(): v for k, v in self.headers.items()})
            if script.reject_stream_options and "stream_options" in body:
                msg = json.dumps({"error": {"message": "unknown field stream_options"}}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            events = [{"choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
                      for w in ("Hi", " there", "!")]
            events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            if "stream_options" in body:
                events.append({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 3,
                                                        "total_tokens": 14}})
            for ev in events:
                ev.update({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": body["model"]})
                self.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.01)
            self.wfile.write(b"data: [DONE]\n\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", script
    finally:
        server.shutdown()
        server.server_close()


def _collect(client: CloudClient) -> tuple[list[str], object]:
    chunks = list(client.stream(REQ))
    return [c.text for c in chunks if c.text], chunks[-1].completion


def test_usage_reported_by_the_server_is_used(sse_server: tuple[str, _Script]) -> None:
    url, script = sse_server
    client = CloudClient(_ep(url), "k", offline=True)
    texts, completion = _collect(client)
    assert texts == ["Hi", " there", "!"]
    assert completion.text == "Hi there!" and completion.finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 3)
    assert client.usage_source == "server"
    assert script.bodies[0]["stream_options"] == {"include_usage": True}
    assert script.bodies[0]["model"] == "m" and script.bodies[0]["max_tokens"] == 8


def test_server_rejecting_stream_options_falls_back_to_estimating(sse_server: tuple[str, _Script]) -> None:
    url, script = sse_server
    script.reject_stream_options = True
    client = CloudClient(_ep(url), "k", offline=True)
    texts, completion = _collect(client)
    assert completion.text == "Hi there!"
    # no usage from this server: the larger of the deltas received and 4 characters a token; prompt:
    # 4 characters a token, rounded half up, plus 4 per message
    assert completion.usage.completion_tokens == 3  # 3 deltas, more than round(9 / 4)
    assert completion.usage.prompt_tokens == 3 + 4  # round(11 / 4) + 4
    assert completion.usage.estimated is True
    assert client.usage_source == "estimated"
    assert len(script.bodies) == 2 and "stream_options" not in script.bodies[1]


def test_no_key_sends_no_authorization_and_never_the_environment_openai_key(
        sse_server: tuple[str, _Script], monkeypatch: pytest.MonkeyPatch) -> None:
    url, script = sse_server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-must-not-leak")
    _collect(CloudClient(_ep(url), None, offline=True))
    assert script.headers and all("authorization" not in h for h in script.headers)
    _collect(CloudClient(_ep(url), "sk-mine", offline=True))
    assert script.headers[-1]["authorization"] == "Bearer sk-mine"
