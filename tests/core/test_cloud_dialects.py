"""The cloud client against servers that speak odd dialects of the OpenAI stream, each a real loopback
server of our own (tests/helpers/dialect_server.py): surrogate halves split across chunks, no usage,
no finish reason, streams cut or closed early, and errors in every status code and body shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from baton.config import Endpoint
from baton.core.cloud.client import CloudClient
from baton.core.errors import CloudAuthError, CloudError, CloudRateLimited, CloudUnavailable
from baton.core.types import ChatMessage, Completion, GenerationRequest
from tests.helpers.dialect_server import DONE, DialectServer, Reply, chunk, json_body, usage

REQ = GenerationRequest([ChatMessage("user", "hello there")], max_tokens=64)


@pytest.fixture()
def srv() -> Iterator[DialectServer]:
    with DialectServer() as s:
        yield s


def _client(srv: DialectServer, key: str | None = "sk-test-1234", **ep: object) -> CloudClient:
    fields: dict[str, object] = dict(name="odd", base_url=srv.base_url, model="m", usd_per_mtok_in=0.0,
                                     usd_per_mtok_out=10_000.0, j_per_token=1.0)
    fields.update(ep)
    return CloudClient(Endpoint(**fields), key, offline=True, max_retries=0)  # type: ignore[arg-type]


def _run(client: CloudClient, req: GenerationRequest = REQ) -> tuple[list[str], Completion]:
    texts: list[str] = []
    completion = None
    for c in client.stream(req):
        if c.text:
            texts.append(c.text)
        if c.completion is not None:
            completion = c.completion
    assert completion is not None
    return texts, completion


def _utf8_clean(texts: list[str]) -> None:
    for t in texts:
        t.encode("utf-8")  # raises on a lone surrogate: what broke the store


# ---- surrogate halves ------------------------------------------------------------------------------

@pytest.mark.parametrize(("pieces", "expected"), [
    (["\ud83d", "\ude00"], "\U0001F600"),  # the reported emoji, as two halves
    (["ab\ud83d", "\ude00cd"], "ab\U0001F600cd"),
    (["\ud83d", "\ude00", " and ", "\ud83c", "\udf89", "!"], "\U0001F600 and \U0001F389!"),
    (["x\ud83d\ude00y"], "x\U0001F600y"),  # a pair inside one chunk
    (["\ud83e", "\udd16\ud83d", "\udc4d"], "\U0001F916\U0001F44D"),  # halves meeting twice over
    (["ok ", "\ud83d"], "ok \ufffd"),  # a half that never found its partner
    (["\ude00", "x"], "\ufffdx"),  # a low half alone
    (["\ud83d", "x"], "\ufffdx"),  # a high half followed by no low half
])
def test_surrogate_halves_in_consecutive_chunks_are_joined(srv: DialectServer, pieces: list[str],
                                                           expected: str) -> None:
    srv.enqueue(Reply(events=[chunk(p) for p in pieces] + [chunk(None, "stop"), usage(5, 2), DONE]))
    texts, c = _run(_client(srv))
    _utf8_clean(texts + [c.text])
    assert c.text == expected == "".join(texts)
    assert c.finish_reason == "stop"


# ---- a stream without usage ------------------------------------------------------------------------

ANSWER_449 = ("The quick brown fox jumps over the lazy dog. " * 10)[:449]


def test_no_usage_449_characters_in_one_chunk_is_estimated_with_money_and_joules(srv: DialectServer) -> None:
    srv.enqueue(Reply(events=[chunk(ANSWER_449), chunk(None, "stop"), DONE]))
    client = _client(srv)
    _, c = _run(client)
    assert len(c.text) == 449
    assert c.usage.completion_tokens == 112  # 449 / 4, rounded
    assert c.usage.prompt_tokens == 3 + 4  # "hello there": round(11 / 4) + 4 per message
    assert c.usage.estimated is True and client.usage_source == "estimated"
    assert client.cost_usd(c.usage) == pytest.approx(1.12)  # $10000 per million answer tokens
    part = client.energy_part(c.usage)
    assert part.energy_j == pytest.approx(119.0) and part.source == "estimated"
    assert "estimated" in part.note
    assert c.signals.n_tokens == 112


@pytest.mark.parametrize(("events", "prompt", "completion", "estimated"), [
    # many chunks, no usage at all: 40 characters -> 10 tokens
    ([chunk("0123456789"), chunk("0123456789"), chunk("01234567890123456789"), chunk(None, "stop")], 7, 10, True),
    # usage with a prompt count but no completion count
    ([chunk("abcdefgh"), chunk(None, "stop", usage={"prompt_tokens": 21})], 21, 2, True),
    # a completion count of 0 beside real text
    ([chunk("abcdefghijkl"), chunk(None, "stop"), usage(9, 0)], 9, 3, True),
    # usage: null on every chunk
    ([chunk("abcd", usage=None), chunk(None, "stop", usage=None)], 7, 1, True),
    # a server that reports both: taken as is, not estimated
    ([chunk("abcd"), chunk(None, "stop"), usage(30, 1)], 30, 1, False),
])
def test_usage_is_estimated_only_where_missing(srv: DialectServer, events: list, prompt: int, completion: int,
                                               estimated: bool) -> None:
    srv.enqueue(Reply(events=[*events, DONE]))
    client = _client(srv)
    _, c = _run(client)
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.estimated) == (prompt, completion, estimated)
    assert client.cost_usd(c.usage) == pytest.approx(completion * 0.01)
    assert client.energy_part(c.usage).energy_j == pytest.approx(prompt + completion)


def test_a_server_sending_a_token_per_delta_is_counted_by_deltas(srv: DialectServer) -> None:
    digits = [str(i % 10) for i in range(24)]  # 24 one-character tokens: 4 characters a token would say 6
    srv.enqueue(Reply(events=[chunk(d) for d in digits] + [chunk(None, "length"), DONE]))
    client = _client(srv)
    _, c = _run(client)
    assert c.usage.completion_tokens == 24 and c.usage.estimated
    assert client.cost_usd(c.usage) == pytest.approx(0.24)


def test_a_given_tokenizer_counts_instead_of_the_character_rule(srv: DialectServer) -> None:
    srv.enqueue(Reply(events=[chunk("one two three four five"), chunk(None, "stop"), DONE]))
    client = _client(srv)
    client.tokenizer = lambda text: len(text.split())
    _, c = _run(client, GenerationRequest([ChatMessage("system", "be brief"), ChatMessage("user", "a b c")]))
    assert c.usage.completion_tokens == 5 and c.usage.estimated
    assert c.usage.prompt_tokens == (2 + 4) + (3 + 4)


# ---- how a stream ends -------------------------------------------------------------------------------

@pytest.mark.parametrize("events", [
    [chunk("Hel"), chunk("lo"), DONE],  # finish_reason null on every chunk, then [DONE]
    [chunk("Hel"), chunk("lo"), chunk(None), usage(3, 2), DONE],
    [chunk("Hel"), chunk("lo"), "data: [DONE]"],  # no blank line after [DONE]
    [chunk("Hel"), "data:" + json.dumps(chunk("lo")) + "\n\ndata:[DONE]\n\n"],  # no space after the colon
    ["data: " + json.dumps(chunk("Hel")) + "\ndata: " + json.dumps(chunk("lo")) + "\n\n", DONE],  # no blank lines
    [": keep-alive\n\n", chunk("Hel"), "event: message\n", chunk("lo"), DONE],
])
def test_done_without_a_finish_reason_is_a_normal_end(srv: DialectServer, events: list) -> None:
    srv.enqueue(Reply(events=events))
    texts, c = _run(_client(srv))
    assert c.text == "Hello" and c.finish_reason == "stop"


def test_finish_length_is_kept(srv: DialectServer) -> None:
    srv.enqueue(Reply(events=[chunk("abc"), chunk(None, "length"), DONE]))
    assert _run(_client(srv))[1].finish_reason == "length"


def test_a_server_closing_after_a_finish_reason_without_done_is_a_normal_end(srv: DialectServer) -> None:
    srv.enqueue(Reply(events=[chunk("Hi"), chunk(None, "stop")], framing="close"))
    assert _run(_client(srv))[1].text == "Hi"


@pytest.mark.parametrize("reply", [
    Reply(events=[chunk("Hal"), chunk("f an")], cut=True),  # cut mid-body
    Reply(events=[chunk("Hal"), chunk("f an")], framing="close"),  # closed cleanly, no finish, no [DONE]
    Reply(events=[chunk("Hal"), chunk("f an", "stop")], cut=True),  # a finish reason, then cut before [DONE]
    Reply(events=[chunk("Hal"), chunk("f an"), "data: {\"choi"], cut=True),  # cut inside an event
])
def test_a_stream_cut_before_done_is_an_error_that_keeps_the_text(srv: DialectServer, reply: Reply) -> None:
    srv.enqueue(reply)
    received: list[str] = []
    with pytest.raises(CloudUnavailable) as ei:
        for c in _client(srv).stream(REQ):
            received.append(c.text)
    assert ei.value.partial_text == "Half an" == "".join(received)
    assert "odd" in str(ei.value)


def test_a_server_that_ignores_stream_and_answers_json(srv: DialectServer) -> None:
    srv.enqueue(Reply(body=json_body({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Whole"},
                                                   "finish_reason": "stop"}],
                                      "usage": {"prompt_tokens": 4, "completion_tokens": 1}})))
    texts, c = _run(_client(srv))
    assert texts == ["Whole"] and c.text == "Whole" and c.usage.completion_tokens == 1 and not c.usage.estimated


# ---- the request as sent ---------------------------------------------------------------------------

def test_every_field_and_the_messages_exactly_as_given_are_sent(srv: DialectServer) -> None:
    msgs = [ChatMessage("system", "You are terse."), ChatMessage("user", "Q1"), ChatMessage("assistant", "A1"),
            ChatMessage("user", "Q2 \u00e9\U0001F600")]
    req = GenerationRequest(msgs, max_tokens=17, temperature=0.7, top_p=0.8, seed=1234, stop=["END", "\n\n"])
    _run(_client(srv), req)
    body = srv.requests[0].json
    assert body["messages"] == [{"role": m.role, "content": m.content} for m in msgs]
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"], body["stop"]) == \
        (17, 0.7, 0.8, 1234, ["END", "\n\n"])
    assert body["model"] == "m" and body["stream"] is True
    _run(_client(srv), GenerationRequest([ChatMessage("user", "only")], seed=None, stop=[]))
    body = srv.requests[1].json
    assert body["messages"] == [{"role": "user", "content": "only"}]  # no system prompt added
    assert "seed" not in body and "stop" not in body and body["top_p"] == 0.95


# ---- the server's own words, whatever the status -----------------------------------------------------

_BODIES = [
    (b'{"error": {"message": "SERVER-SAYS-%d", "type": "invalid_request_error"}}', "application/json"),
    (b'{"error": "SERVER-SAYS-%d"}', "application/json"),
    (b'{"detail": "SERVER-SAYS-%d"}', "application/json"),
    (b'{"detail": [{"loc": ["body", "messages"], "msg": "SERVER-SAYS-%d", "type": "value_error"}]}',
     "application/json"),
    (b"SERVER-SAYS-%d\n", "text/plain"),
    (b"<html><head><title>Bad</title></head><body><h1>SERVER-SAYS-%d</h1></body></html>", "text/html"),
    (b'[{"error": {"code": 1, "message": "SERVER-SAYS-%d", "status": "X"}}]', "application/json"),
]
_CLASSES = {400: CloudError, 401: CloudAuthError, 403: CloudAuthError, 404: CloudUnavailable, 413: CloudError,
            422: CloudError, 429: CloudRateLimited, 500: CloudUnavailable, 502: CloudUnavailable,
            503: CloudUnavailable}


@pytest.mark.parametrize("code", sorted(_CLASSES))
@pytest.mark.parametrize("shape", range(len(_BODIES)))
def test_the_servers_message_reaches_the_user_whatever_the_status(srv: DialectServer, code: int, shape: int) -> None:
    body, ctype = _BODIES[shape]
    srv.enqueue(Reply(status=code, body=body % code, content_type=ctype))
    with pytest.raises(CloudError) as ei:
        _run(_client(srv))
    assert isinstance(ei.value, _CLASSES[code])
    assert f"SERVER-SAYS-{code}" in str(ei.value)
    assert f"HTTP {code}" in str(ei.value)
    assert "\n" not in str(ei.value)


@pytest.mark.parametrize(("events", "partial"), [
    ([{"error": {"message": "model overloaded, SERVER-SAYS-200", "type": "server_error"}}], ""),
    ([chunk("Par"), chunk("tial"), {"error": {"message": "SERVER-SAYS-200 mid-way", "code": 500}}], "Partial"),
    ([chunk("x"), "event: error\ndata: " + json.dumps({"message": "SERVER-SAYS-200 as event"}) + "\n\n"], "x"),
    ([{"error": "SERVER-SAYS-200 plain"}], ""),
])
def test_an_error_inside_a_200_stream_carries_the_servers_message(srv: DialectServer, events: list,
                                                                  partial: str) -> None:
    srv.enqueue(Reply(events=[*events, DONE]))
    with pytest.raises(CloudError) as ei:
        _run(_client(srv))
    assert "SERVER-SAYS-200" in str(ei.value)
    assert ei.value.partial_text == partial


def test_an_overlong_or_escape_laden_message_stays_one_safe_line(srv: DialectServer) -> None:
    msg = "\x1b]52;c;ZXZpbA==\x07 bad \x1b[2J" + "y" * 5000
    srv.enqueue(Reply(status=400, body=json.dumps({"error": {"message": msg}}).encode()))
    with pytest.raises(CloudError) as ei:
        _run(_client(srv))
    text = str(ei.value)
    assert "\x1b" not in text and "\x07" not in text and len(text) < 600 and "bad" in text


def test_server_sent_events_labelled_as_json_are_still_read(srv: DialectServer) -> None:
    srv.enqueue(Reply(events=[chunk("Mis"), chunk("labelled", "stop"), DONE], content_type="application/json"))
    texts, c = _run(_client(srv))
    assert c.text == "Mislabelled" and c.finish_reason == "stop"


def test_a_whole_answer_that_is_not_json_is_one_clear_error(srv: DialectServer) -> None:
    srv.enqueue(Reply(body=b"<html>gateway login page</html>", content_type="application/json"))
    with pytest.raises(CloudUnavailable, match="not JSON"):
        _run(_client(srv))


def test_crlf_line_endings_and_content_parts(srv: DialectServer) -> None:
    parts_doc = chunk(None)
    parts_doc["choices"][0]["delta"] = {"content": [{"type": "text", "text": "Part"}, {"type": "text", "text": "s"}]}
    srv.enqueue(Reply(events=["data: " + json.dumps(chunk("One ")) + "\r\n\r\n", parts_doc,
                              "data: " + json.dumps(chunk(None, "stop")) + "\r\n\r\n", "data: [DONE]\r\n\r\n"]))
    assert _run(_client(srv))[1].text == "One Parts"


@pytest.mark.parametrize(("doc", "ids"), [
    ({"object": "list", "data": [{"id": "b", "object": "model"}, {"id": "a", "object": "model"}]}, ["a", "b"]),
    ({"models": [{"name": "llama3:8b"}, {"name": "qwen2:0.5b"}]}, ["llama3:8b", "qwen2:0.5b"]),
    ([{"id": "solo"}], ["solo"]),
    ({"data": []}, []),
])
def test_list_models_reads_the_shapes_servers_use(srv: DialectServer, doc: object, ids: list[str]) -> None:
    srv.enqueue(Reply(body=json_body(doc)))
    assert _client(srv).list_models() == ids
    assert srv.requests[0].path == "/v1/models" and srv.requests[0].method == "GET"


def test_list_models_errors_carry_the_servers_message(srv: DialectServer) -> None:
    srv.enqueue(Reply(status=403, body=json_body({"error": {"message": "SERVER-SAYS-no-models-for-you"}})))
    with pytest.raises(CloudAuthError, match="SERVER-SAYS-no-models-for-you"):
        _client(srv).list_models()


def test_a_whole_answer_in_one_chunk_gives_a_sane_decode_rate():
    """A server that sends the answer in one piece: the rate is taken over the whole answer, not over the
    microseconds between the first and the last chunk."""
    from baton.config import Endpoint
    from baton.core.cloud.client import CloudClient
    from baton.core.types import ChatMessage, GenerationRequest
    from tests.helpers.dialect_server import DialectServer, Reply, chunk, usage

    with DialectServer() as srv:
        srv.enqueue(Reply(events=[chunk("word " * 200), chunk(None, "stop"),
                                  usage(10, 200), "data: [DONE]\n\n"]))
        client = CloudClient(Endpoint("t", srv.base_url, "m"), None, offline=True)
        last = list(client.stream(GenerationRequest([ChatMessage("user", "hi")], max_tokens=300)))[-1]
    t = last.completion.timing
    assert last.completion.usage.completion_tokens == 200
    assert t.decode_tokens_per_s == pytest.approx(200 / t.total_s, rel=0.01)
