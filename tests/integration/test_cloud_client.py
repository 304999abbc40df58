"""The cloud client against a real OpenAI-compatible server (llama-cpp-python's own, on loopback),
with faults injected by our proxy: 401, 403, 404, 429 + Retry-After, 500 then success, a slow first
byte, a stall and a cut in the middle of the stream."""

from __future__ import annotations

import threading

import pytest

from baton.config import Endpoint
from baton.core.cloud.client import CloudClient, CloudTimeouts
from baton.core.errors import CloudAuthError, CloudError, CloudRateLimited, CloudTimeout, CloudUnavailable
from baton.core.types import ChatMessage, GenerationRequest
from tests.helpers.fault_proxy import PASS, Fault, FaultProxy
from tests.helpers.llama_server import LlamaServer

REQ = GenerationRequest([ChatMessage("user", "Count from one to twenty in words.")], max_tokens=24,
                        temperature=0.0, seed=1)


def _endpoint(base_url: str, **kw: object) -> Endpoint:
    defaults = dict(name="lan", base_url=base_url, model="smollm2", key_env="LAN_KEY_FOR_TESTS",
                    usd_per_mtok_in=2.0, usd_per_mtok_out=8.0, j_per_token=0.5)
    defaults.update(kw)
    return Endpoint(**defaults)  # type: ignore[arg-type]


def _client(proxy: FaultProxy, key: str | None = "k-test", **kw: object) -> CloudClient:
    opts: dict[str, object] = dict(timeouts=CloudTimeouts(connect_s=5, first_byte_s=20, between_chunks_s=20),
                                   max_retries=2, backoff_s=0.05)
    opts.update(kw)
    return CloudClient(_endpoint(proxy.base_url + "/v1"), key, offline=True, **opts)  # type: ignore[arg-type]


def _drain(client: CloudClient, cancel: threading.Event | None = None) -> tuple[list[str], object]:
    texts: list[str] = []
    completion = None
    for chunk in client.stream(REQ, cancel):
        if chunk.text:
            texts.append(chunk.text)
        if chunk.completion is not None:
            completion = chunk.completion
    return texts, completion


def test_stream_through_proxy_has_text_usage_timing_and_cost(fault_proxy: FaultProxy) -> None:
    client = _client(fault_proxy)
    texts, c = _drain(client)
    assert c is not None and texts
    assert c.text == "".join(texts) and c.text.strip()
    assert c.finish_reason in ("stop", "length")
    assert c.usage.completion_tokens == len(texts) <= REQ.max_tokens
    assert c.usage.prompt_tokens > 0
    assert client.usage_source in ("server", "estimated")
    assert c.usage.estimated is (client.usage_source == "estimated")
    assert 0 < c.timing.ttft_s <= c.timing.total_s
    assert c.timing.decode_tokens_per_s > 0
    # the request the server saw asked for usage in the stream, and carried our key
    (seen,) = fault_proxy.requests
    assert seen.path == "/v1/chat/completions"
    assert b'"include_usage":true' in seen.body.replace(b" ", b"")
    assert seen.headers["authorization"] == "Bearer k-test"
    expected_usd = (c.usage.prompt_tokens * 2.0 + c.usage.completion_tokens * 8.0) / 1e6
    assert client.cost_usd(c.usage) == pytest.approx(expected_usd)
    part = client.energy_part(c.usage)
    assert (part.scope, part.source) == ("remote", "estimated")
    assert part.energy_j == pytest.approx(0.5 * (c.usage.prompt_tokens + c.usage.completion_tokens))


def test_list_models_reads_v1_models(fault_proxy: FaultProxy, llama_srv: LlamaServer) -> None:
    assert _client(fault_proxy).list_models() == [llama_srv.model]
    assert fault_proxy.requests[0].path == "/v1/models"


@pytest.mark.parametrize("code", [401, 403])
def test_refused_key_is_an_auth_error_naming_the_fix(fault_proxy: FaultProxy, code: int) -> None:
    fault_proxy.enqueue(Fault(status=code))
    with pytest.raises(CloudAuthError) as ei:
        _drain(_client(fault_proxy))
    msg = str(ei.value)
    assert "'lan' was refused" in msg and "baton keys set lan" in msg and "LAN_KEY_FOR_TESTS" in msg
    assert "k-test" not in msg
    assert len(fault_proxy.requests) == 1  # never retried


def test_missing_key_says_it_is_missing(fault_proxy: FaultProxy) -> None:
    fault_proxy.enqueue(Fault(status=401))
    with pytest.raises(CloudAuthError, match="is missing"):
        _drain(_client(fault_proxy, key=None))


def test_not_found_is_unavailable_and_not_retried(fault_proxy: FaultProxy) -> None:
    fault_proxy.enqueue(Fault(status=404))
    with pytest.raises(CloudUnavailable, match="not found") as ei:
        _drain(_client(fault_proxy))
    assert "baton endpoints test lan" in str(ei.value)
    assert len(fault_proxy.requests) == 1


def test_429_retry_honours_retry_after_seconds(fault_proxy: FaultProxy) -> None:
    fault_proxy.enqueue(Fault(status=429, headers={"Retry-After": "1"}), PASS)
    client = _client(fault_proxy)
    texts, c = _drain(client)
    assert texts and c is not None
    first, second = fault_proxy.requests
    assert second.at_s - first.at_s >= 1.0
    assert client.attempts == 2


def test_429_retry_honours_retry_after_http_date(fault_proxy: FaultProxy) -> None:
    import email.utils
    import time

    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # HTTP dates have 1 s resolution
    fault_proxy.enqueue(Fault(status=429, headers={"Retry-After": when}), PASS)
    texts, _ = _drain(_client(fault_proxy))
    first, second = fault_proxy.requests
    assert texts and second.at_s - first.at_s >= 0.9


def test_429_that_persists_is_rate_limited_with_retry_after(fault_proxy: FaultProxy) -> None:
    fault_proxy.enqueue(*[Fault(status=429, headers={"Retry-After": "0.2"})] * 3)
    with pytest.raises(CloudRateLimited) as ei:
        _drain(_client(fault_proxy, max_retries=2))
    assert ei.value.retry_after_s == pytest.approx(0.2)
    assert len(fault_proxy.requests) == 3


def test_429_asking_for_too_long_a_wait_is_not_retried(fault_proxy: FaultProxy) -> None:
    fault_proxy.enqueue(Fault(status=429, headers={"Retry-After": "3600"}))
    with pytest.raises(CloudRateLimited, match="3600 s") as ei:
        _drain(_client(fault_proxy))
    assert ei.value.retry_after_s == pytest.approx(3600)
    assert len(fault_proxy.requests) == 1


def test_500_then_success_is_retried_once(fault_proxy: FaultProxy) -> None:
    fault_proxy.enqueue(Fault(status=500), PASS)
    client = _client(fault_proxy)
    texts, c = _drain(client)
    assert texts and c is not None and c.finish_reason in ("stop", "length")
    assert len(fault_proxy.requests) == 2 and client.attempts == 2


def test_5xx_that_persists_is_unavailable(fault_proxy: FaultProxy) -> None:
    fault_proxy.enqueue(*[Fault(status=503)] * 3)
    with pytest.raises(CloudUnavailable, match="HTTP 503"):
        _drain(_client(fault_proxy, max_retries=2))
    assert len(fault_proxy.requests) == 3


def test_slow_first_byte_is_a_timeout(fault_proxy: FaultProxy) -> None:
    fault_proxy.enqueue(Fault(delay_s=5.0))
    client = _client(fault_proxy, timeouts=CloudTimeouts(connect_s=2, first_byte_s=0.5, between_chunks_s=20))
    with pytest.raises(CloudTimeout, match="no first byte within 0.5 s") as ei:
        _drain(client)
    assert ei.value.partial_text == ""
    assert len(fault_proxy.requests) == 1  # a timeout is not replayed


def test_stall_in_the_middle_is_a_timeout_that_keeps_the_partial_text(fault_proxy: FaultProxy) -> None:
    fault_proxy.enqueue(Fault(stall_after_bytes=1200, stall_s=300.0))
    # a generous first-byte limit and a between-chunks one above the server's own gaps on a busy
    # machine, far below the stall: only the stall trips it (the proxy lets go at teardown)
    client = _client(fault_proxy, timeouts=CloudTimeouts(connect_s=2, first_byte_s=60, between_chunks_s=8.0))
    received: list[str] = []
    with pytest.raises(CloudTimeout, match="stalled") as ei:
        for chunk in client.stream(REQ):
            received.append(chunk.text)
    assert received and ei.value.partial_text == "".join(received)


def test_stream_cut_in_the_middle_keeps_the_partial_text(fault_proxy: FaultProxy) -> None:
    fault_proxy.enqueue(Fault(cut_after_bytes=1200))
    client = _client(fault_proxy)
    received: list[str] = []
    with pytest.raises(CloudUnavailable, match="broke in the middle|ended before") as ei:
        for chunk in client.stream(REQ):
            received.append(chunk.text)
    assert received, "some text should have arrived before the cut"
    assert ei.value.partial_text == "".join(received)
    assert len(fault_proxy.requests) == 1  # text had been produced: never replayed


def test_cancel_stops_the_stream_and_reports_cancelled(fault_proxy: FaultProxy) -> None:
    cancel = threading.Event()
    client = _client(fault_proxy)
    got = []
    completion = None
    for chunk in client.stream(GenerationRequest([ChatMessage("user", "Write a long story.")], max_tokens=200), cancel):
        if chunk.text:
            got.append(chunk.text)
            if len(got) == 3:
                cancel.set()
        if chunk.completion is not None:
            completion = chunk.completion
    assert completion is not None and completion.finish_reason == "cancelled"
    assert len(got) == 3 and completion.text == "".join(got)


def test_connection_refused_is_unavailable_after_retries() -> None:
    from tests.helpers.llama_server import free_port

    client = CloudClient(_endpoint(f"http://127.0.0.1:{free_port()}/v1"), None, offline=True, max_retries=1,
                         backoff_s=0.01)
    with pytest.raises(CloudUnavailable, match="could not connect"):
        client.list_models()
    assert client.attempts == 2


def test_bad_request_is_a_plain_cloud_error(fault_proxy: FaultProxy) -> None:
    fault_proxy.enqueue(Fault(status=400, body=b'{"error": {"message": "context length exceeded"}}'))
    with pytest.raises(CloudError, match="rejected the request .*context length exceeded") as ei:
        _drain(_client(fault_proxy))
    assert type(ei.value) is CloudError
