"""`baton serve`'s HTTP layer, in-process on a real uvicorn and real sockets, around a scripted service (to
isolate the server from the model): what reaches the service, what is refused and how, the queue, the Host
check, CORS, and clients that leave."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from baton.commands.serve import allowed_host_names, write_private_file
from baton.core.errors import (
    NotFound,
    BatonError,
    CloudError,
    CloudRateLimited,
    ContextOverflow,
    PolicyError,
    StoreError,
    UsageError,
)
from baton.core.types import Usage
from tests.integration.serve_support import InProcess, post_json, raw_request, serve_in_process, wait_until

USER = [{"role": "user", "content": "hi"}]


@dataclass
class ScriptedResult:
    text: str
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=lambda: Usage(3, 2))
    energy: dict[str, Any] = field(default_factory=lambda: {"total_j": 1.5, "measured_j": 0.0, "estimated_j": 1.5})

    def receipt(self) -> dict[str, Any]:
        return {"text": self.text, "thread_id": "t1", "message_id": "m1",
                "route": {"tier": "local", "model": "tiny", "endpoint": None, "escalated": False, "reason": "r"},
                "energy": self.energy, "cost": {"usd": 0.0},
                "timing": {"total_s": 0.1}, "finish_reason": self.finish_reason}


class ScriptedService:
    """Answers "a b c" word by word. ``hold`` makes ``ask`` wait (or stream words forever, with ``endless``)
    until released or cancelled; ``raise_`` makes it raise. Every call's arguments are kept in ``calls``."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.hold = False
        self.endless = False
        self.raise_: BaseException | None = None
        self.outcomes: list[str] = []  # "done" | "cancelled", per finished call
        self.words = ("a", " b", " c")
        self.energy: dict[str, Any] | None = None
        self.settings = SimpleNamespace(endpoints=[SimpleNamespace(name="lan-box", model="big")])

    def models(self) -> list[Any]:
        return [SimpleNamespace(id="tiny-model")]

    def ask(self, prompt: str | None = None, **kw: Any) -> ScriptedResult:
        assert prompt is None
        self.calls.append(kw)
        self.started.set()
        if self.raise_ is not None:
            raise self.raise_
        cancel, on_text = kw["cancel"], kw["on_text"]
        words = []
        while self.hold and not self.release.is_set():
            if cancel.is_set():
                self.outcomes.append("cancelled")
                return ScriptedResult("".join(words), "cancelled")
            if self.endless and on_text is not None:
                on_text("w ")
                words.append("w ")
            cancel.wait(0.01)
        for w in self.words:
            words.append(w)
            if on_text is not None:
                on_text(w)
        self.outcomes.append("done")
        result = ScriptedResult("".join(words))
        if self.energy is not None:
            result.energy = self.energy
        return result


@pytest.fixture()
def svc() -> ScriptedService:
    return ScriptedService()


@pytest.fixture()
def srv(svc: ScriptedService) -> Iterator[InProcess]:
    with serve_in_process(svc, queue=2) as s:
        yield s


def _err(reply: Any) -> dict[str, Any]:
    doc = reply.json()
    assert set(doc) == {"error"} and set(doc["error"]) == {"message", "type", "param", "code"}, doc
    assert doc["error"]["message"]
    return doc["error"]


def test_messages_and_sampling_reach_the_service_as_sent(srv: InProcess, svc: ScriptedService) -> None:
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"}, {"role": "developer", "content": "Mind units."},
            {"role": "user", "content": [{"type": "text", "text": "Q2 "}, {"type": "text", "text": "part"}]}]
    r = post_json(srv.port, srv.token, {"model": "baton", "messages": msgs, "temperature": 0.7, "top_p": 0.9,
                                        "stop": "END", "seed": 42, "max_tokens": 50,
                                        "max_completion_tokens": 20, "n": 1, "user": "u-1"})
    assert r.status == 200, r.body
    call = svc.calls[-1]
    assert [(m.role, m.content) for m in call["messages"]] == [
        ("system", "You are terse."), ("user", "Q1"), ("assistant", "A1"), ("system", "Mind units."),
        ("user", "Q2 part")]
    p = call["params"]
    assert (p.temperature, p.top_p, p.stop, p.seed, p.max_tokens) == (0.7, 0.9, ["END"], 42, 20)
    assert (call["tier"], call["model"], call["endpoint"]) == ("auto", None, None)
    doc = r.json()
    assert doc["choices"][0]["message"] == {"role": "assistant", "content": "a b c"}
    assert doc["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert doc["baton"]["route"]["tier"] == "local" and r.headers["x-baton-energy-j"] == "1.5000"
    post_json(srv.port, srv.token, {"messages": USER, "stop": ["x", "yz"]})
    assert svc.calls[-1]["params"].stop == ["x", "yz"] and svc.calls[-1]["params"].temperature is None


@pytest.mark.parametrize(("model", "where"), [
    ("baton-local", ("local", None, None)), ("baton-cloud", ("cloud", None, None)),
    ("tiny-model", ("local", "tiny-model", None)), ("lan-box", ("cloud", None, "lan-box")),
])
def test_model_ids_map_to_tiers(srv: InProcess, svc: ScriptedService, model: str, where: tuple) -> None:
    assert post_json(srv.port, srv.token, {"model": model, "messages": USER}).status == 200
    call = svc.calls[-1]
    assert (call["tier"], call["model"], call["endpoint"]) == where
    listed = [m["id"] for m in raw_request(srv.port, "GET", "/v1/models", token=srv.token).json()["data"]]
    assert listed == ["baton", "baton-local", "baton-cloud", "tiny-model", "lan-box"]


@pytest.mark.parametrize("model", ["/etc/passwd", "../../etc/passwd", "~/.ssh/id_rsa", "big", "tiny-model.gguf",
                                   "BATON", "file:///etc/passwd"])
def test_only_listed_models_are_accepted(srv: InProcess, svc: ScriptedService, model: str) -> None:
    r = post_json(srv.port, srv.token, {"model": model, "messages": USER})
    err = _err(r)
    assert r.status == 404 and err["code"] == "model_not_found" and err["param"] == "model"
    assert model not in r.body.decode() and "root:" not in r.body.decode()
    assert raw_request(srv.port, "GET", "/v1/models/" + model.lstrip("/"), token=srv.token).status == 404
    assert not svc.calls


BAD_BODIES: list[tuple[str, Any, str | None]] = [
    ("n=2", {"messages": USER, "n": 2}, "n"),
    ("n as text", {"messages": USER, "n": "1"}, "n"),
    ("tools", {"messages": USER, "tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ("empty tools", {"messages": USER, "tools": []}, "tools"),
    ("functions", {"messages": USER, "functions": [{"name": "f"}]}, "functions"),
    ("tool_choice", {"messages": USER, "tool_choice": "none"}, "tool_choice"),
    ("logprobs", {"messages": USER, "logprobs": True}, "logprobs"),
    ("top_logprobs", {"messages": USER, "top_logprobs": 2}, "top_logprobs"),
    ("json mode", {"messages": USER, "response_format": {"type": "json_object"}}, "response_format"),
    ("json schema", {"messages": USER, "response_format": {"type": "json_schema", "json_schema": {}}},
     "response_format"),
    ("penalty", {"messages": USER, "presence_penalty": 0.5}, "presence_penalty"),
    ("logit_bias", {"messages": USER, "logit_bias": {"50256": -100}}, "logit_bias"),
    ("unknown parameter", {"messages": USER, "reasoning_effort": "high"}, "reasoning_effort"),
    ("missing messages", {"model": "baton"}, "messages"),
    ("messages not a list", {"messages": "hi"}, "messages"),
    ("no messages", {"messages": []}, "messages"),
    ("message not an object", {"messages": ["hi"]}, "messages[0]"),
    ("bad role", {"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ("missing role", {"messages": [{"content": "hi"}]}, "messages[0].role"),
    ("tool role", {"messages": [*USER, {"role": "tool", "content": "x", "tool_call_id": "1"}]}, "messages[1]"),
    ("empty content", {"messages": [{"role": "user", "content": ""}]}, "messages[0].content"),
    ("blank content", {"messages": [{"role": "user", "content": "  \n"}]}, "messages[0].content"),
    ("null content", {"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
    ("number content", {"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ("image part", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages[0].content[0]"),
    ("last not user", {"messages": [*USER, {"role": "assistant", "content": "yo"}]}, "messages[1]"),
    ("temperature text", {"messages": USER, "temperature": "hot"}, "temperature"),
    ("temperature high", {"messages": USER, "temperature": 3}, "temperature"),
    ("temperature bool", {"messages": USER, "temperature": True}, "temperature"),
    ("top_p high", {"messages": USER, "top_p": 1.5}, "top_p"),
    ("stop number", {"messages": USER, "stop": 7}, "stop"),
    ("stop empty", {"messages": USER, "stop": [""]}, "stop"),
    ("stop too many", {"messages": USER, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ("seed float", {"messages": USER, "seed": 1.5}, "seed"),
    ("max_tokens zero", {"messages": USER, "max_tokens": 0}, "max_tokens"),
    ("max_tokens text", {"messages": USER, "max_tokens": "10"}, "max_tokens"),
    ("max_completion_tokens negative", {"messages": USER, "max_completion_tokens": -1}, "max_completion_tokens"),
    ("stream text", {"messages": USER, "stream": "yes"}, "stream"),
    ("stream_options without stream", {"messages": USER, "stream_options": {"include_usage": True}},
     "stream_options"),
    ("model number", {"messages": USER, "model": 3}, "model"),
    ("thread id path", {"messages": USER, "baton_thread_id": "../x"}, "baton_thread_id"),
    ("body a list", [USER], None),
]


@pytest.mark.parametrize(("name", "body", "param"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_client_mistakes_are_400_with_an_openai_error(srv: InProcess, svc: ScriptedService, name: str,
                                                      body: Any, param: str | None) -> None:
    r = post_json(srv.port, srv.token, body)
    err = _err(r)
    assert r.status == 400 and err["type"] == "invalid_request_error" and err["param"] == param, err
    assert not svc.calls


LONE_SURROGATE = b'{"messages": [{"role": "user", "content": "\\ud800"}]}'
RAW_BODIES = [
    ("lone surrogate", LONE_SURROGATE, 400),
    ("lone surrogate in a part", b'{"messages": [{"role": "user", "content": [{"type": "text", "text": "a\\udfff"}]}]}',
     400),
    ("lone surrogate in stop", b'{"messages": [{"role": "user", "content": "hi"}], "stop": "\\udc00"}', 400),
    ("not JSON", b"{messages: hi}", 400),
    ("truncated JSON", b'{"messages": [', 400),
    ("invalid UTF-8", b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', 400),
    ("empty body", b"", 400),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, 400),
    ("NaN temperature", b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', 400),
    ("huge integer", b'{"messages": [{"role": "user", "content": "hi"}], "seed": ' + b"9" * 5000 + b"}", 400),
    ("too large", b'{"messages": [{"role": "user", "content": "' + b"x" * (5 << 20) + b'"}]}', 413),
]


@pytest.mark.parametrize(("name", "raw", "status"), RAW_BODIES, ids=[b[0] for b in RAW_BODIES])
def test_raw_bodies_are_refused_with_a_status(srv: InProcess, svc: ScriptedService, name: str, raw: bytes,
                                              status: int) -> None:
    r = raw_request(srv.port, "POST", "/v1/chat/completions", raw, srv.token)
    assert r.status == status and _err(r)["type"] == "invalid_request_error"
    assert not svc.calls
    assert post_json(srv.port, srv.token, {"messages": USER}).status == 200  # the server is still fine


@pytest.mark.parametrize(("exc", "status", "code"), [
    (UsageError("no such tier"), 400, "invalid_value"),
    (ContextOverflow("the prompt is 9000 tokens"), 400, "context_length_exceeded"),
    (PolicyError("offline mode: no remote tier"), 403, "policy_refused"),
    (CloudError("upstream said: quota exceeded"), 502, "upstream_error"),
    (CloudRateLimited("slow down", retry_after_s=7.2), 429, "upstream_rate_limited"),
    (NotFound("no thread abc123; list with `baton threads`"), 404, "thread_not_found"),
    (BatonError("the model stopped"), 500, "internal_error"),
    (RuntimeError("secret internals /home/x"), 500, "internal_error"),
])
@pytest.mark.parametrize("stream", [False, True])
def test_service_errors_map_to_statuses(srv: InProcess, svc: ScriptedService, exc: BaseException, status: int,
                                        code: str, stream: bool) -> None:
    svc.raise_ = exc
    body: dict[str, Any] = {"messages": USER, "stream": stream}
    if isinstance(exc, StoreError):
        body["baton_thread_id"] = "abc123"
    r = post_json(srv.port, srv.token, body)
    err = _err(r)
    assert r.status == status and err["code"] == code
    if isinstance(exc, BatonError) and status != 500:
        assert err["message"] == str(exc)  # the service's own one line (an upstream's message included)
    if isinstance(exc, RuntimeError):
        assert "secret" not in r.body.decode()
    if isinstance(exc, CloudRateLimited):
        assert r.headers["retry-after"] == "8"


def test_stream_sends_text_then_receipt_then_done(srv: InProcess, svc: ScriptedService) -> None:
    r = post_json(srv.port, srv.token, {"messages": USER, "stream": True, "stream_options": {"include_usage": True}})
    assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [ln[6:] for ln in r.body.decode().split("\n\n") if ln.startswith("data: ")]
    assert events[-1] == "[DONE]"
    docs = [json.loads(e) for e in events[:-1]]
    assert docs[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert "".join(d["choices"][0]["delta"].get("content", "") for d in docs if d["choices"]) == "a b c"
    assert docs[-2]["baton"]["text"] == "a b c" and docs[-2]["choices"][0]["finish_reason"] == "stop"
    assert docs[-1]["choices"] == [] and docs[-1]["usage"]["total_tokens"] == 5


@pytest.mark.parametrize("stream", [False, True])
def test_odd_answers_still_render(srv: InProcess, svc: ScriptedService, stream: bool) -> None:
    svc.words = ("ok", " \ud800", " \x00end")  # a model can emit a lone surrogate or a NUL
    svc.energy = {"total_j": float("nan"), "measured_j": None, "estimated_j": float("inf")}
    r = post_json(srv.port, srv.token, {"messages": USER, "stream": stream})
    assert r.status == 200
    if stream:
        docs = [json.loads(e[6:]) for e in r.body.decode().split("\n\n") if e.startswith("data: {")]
        text = "".join(d["choices"][0]["delta"].get("content", "") for d in docs if d["choices"])
        energy = docs[-1]["baton"]["energy"]
    else:
        doc = r.json()
        text, energy = doc["choices"][0]["message"]["content"], doc["baton"]["energy"]
        assert r.headers["x-baton-energy-j"] == "unavailable" == r.headers["x-baton-energy-measured-j"]
    assert text == "ok \ud800 \x00end" and energy == {"total_j": None, "measured_j": None, "estimated_j": None}


def test_a_full_queue_answers_429_with_retry_after(srv: InProcess, svc: ScriptedService) -> None:
    svc.hold = True
    replies: list[Any] = []
    threads = [threading.Thread(target=lambda: replies.append(post_json(srv.port, srv.token, {"messages": USER})))
               for _ in range(3)]
    threads[0].start()
    wait_until(svc.started.is_set, what="the first request to run")
    for t in threads[1:]:
        t.start()
    dispatcher = srv.app.state.dispatcher
    wait_until(lambda: dispatcher.waiting == 2, what="two requests to wait")
    refused = post_json(srv.port, srv.token, {"messages": USER})
    assert refused.status == 429 and int(refused.headers["retry-after"]) >= 1
    assert _err(refused)["code"] == "queue_full"
    svc.release.set()
    for t in threads:
        t.join(60)
    assert sorted(r.status for r in replies) == [200, 200, 200]


def _leave_after_start(srv: InProcess, svc: ScriptedService, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              + f"Authorization: Bearer {srv.token}\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    wait_until(svc.started.is_set, what="the answer to start")
    s.close()


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_leaves_cancels_its_answer(srv: InProcess, svc: ScriptedService, stream: bool) -> None:
    svc.hold, svc.endless = True, True
    _leave_after_start(srv, svc, {"messages": USER, "stream": stream})
    wait_until(lambda: svc.outcomes, what="the answer to stop")
    assert svc.outcomes == ["cancelled"] and svc.calls[0]["cancel"].is_set()
    svc.hold = False
    assert post_json(srv.port, srv.token, {"messages": USER}).status == 200  # the queue moves on


def test_a_waiting_request_whose_client_left_never_runs(srv: InProcess, svc: ScriptedService) -> None:
    svc.hold = True
    first = threading.Thread(target=lambda: post_json(srv.port, srv.token, {"messages": USER}))
    first.start()
    wait_until(svc.started.is_set, what="the first request to run")
    data = json.dumps({"messages": [{"role": "user", "content": "second"}]}).encode()
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
              + f"Authorization: Bearer {srv.token}\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    wait_until(lambda: srv.app.state.dispatcher.waiting == 1, what="the second request to wait")
    s.close()
    wait_until(lambda: srv.app.state.dispatcher.waiting == 0, what="the server to see the client leave")
    svc.release.set()
    first.join(60)
    assert post_json(srv.port, srv.token, {"messages": USER}).status == 200
    assert [m.content for c in svc.calls for m in c["messages"]] == ["hi", "hi"]


@pytest.mark.parametrize(("host", "ok"), [
    ("127.0.0.1", True), ("localhost", True), ("LOCALHOST.", True), ("[::1]:9", True), ("localhost:1234", True),
    ("evil.example", False), ("evil.example:8741", False), ("127.0.0.1.nip.io", False), ("", False),
    ("localhost.evil.example", False), ("[::2]", False),
])
def test_host_header_must_name_this_server(srv: InProcess, host: str, ok: bool) -> None:
    r = raw_request(srv.port, "GET", "/v1/models", token=srv.token, headers={"Host": host})
    assert (r.status == 200) is ok
    if not ok:
        assert r.status == 421 and _err(r)["code"] == "host_not_allowed"


def test_names_given_to_allow_remote_are_allowed(svc: ScriptedService) -> None:
    allowed = allowed_host_names("0.0.0.0", ["box.lan", "192.168.1.9:8741"])
    assert allowed >= {"box.lan", "192.168.1.9", "localhost"} and "0.0.0.0" not in allowed
    with serve_in_process(svc, allowed_hosts=allowed) as s:
        assert raw_request(s.port, "GET", "/v1/models", token=s.token, headers={"Host": "box.lan:8741"}).status == 200
        assert raw_request(s.port, "GET", "/v1/models", token=s.token, headers={"Host": "other.lan"}).status == 421


@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Bearer test-tokenX", "Basic test-token", "test-token",
                                  "Bearer ", "Bearer tést"])
def test_a_wrong_or_missing_token_is_401(srv: InProcess, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth is not None else {}
    for method, path in (("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/nowhere")):
        r = raw_request(srv.port, method, path, json.dumps({"messages": USER}).encode(), headers=headers)
        assert r.status == 401 and r.headers["www-authenticate"] == "Bearer"
        assert _err(r)["type"] == "authentication_error"
        wrong = auth is not None and auth.startswith("Bearer ") and auth.strip() != "Bearer"
        assert f"the bearer token is {'wrong' if wrong else 'missing'}" in _err(r)["message"]  # says which


def test_unknown_routes_and_methods_are_openai_errors(srv: InProcess) -> None:
    r = raw_request(srv.port, "GET", "/v1/completions", token=srv.token)
    assert r.status == 404 and _err(r)["code"] == "unknown_url"
    r = raw_request(srv.port, "GET", "/v1/chat/completions", token=srv.token)
    assert r.status == 405 and _err(r)


def test_no_cors_headers_unless_configured(srv: InProcess, svc: ScriptedService) -> None:
    origin = {"Origin": "https://evil.example"}
    r = raw_request(srv.port, "GET", "/v1/models", token=srv.token, headers=origin)
    assert r.status == 200 and not any(k.startswith("access-control") for k in r.headers)
    pre = {**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    r = raw_request(srv.port, "OPTIONS", "/v1/chat/completions", headers=pre)
    assert not any(k.startswith("access-control") for k in r.headers)
    with serve_in_process(svc, cors_origins=["https://app.example"]) as s:
        ok = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
              "Access-Control-Request-Headers": "authorization,content-type"}
        r = raw_request(s.port, "OPTIONS", "/v1/chat/completions", headers=ok)
        assert r.status == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
        r = raw_request(s.port, "GET", "/v1/models", token=s.token, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_private_file_is_0600_and_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "serve-token"
    write_private_file(path, "tok\n")
    assert path.read_text() == "tok\n" and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    target = tmp_path / "cfg" / "is-a-dir"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(OSError):
        write_private_file(target, "tok\n")  # os.replace onto a non-empty directory fails
    assert sorted(p.name for p in (tmp_path / "cfg").iterdir()) == ["is-a-dir", "serve-token"]


@pytest.fixture()
def no_keyring() -> Iterator[None]:
    import keyring
    from keyring.backends.fail import Keyring as FailKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    yield
    keyring.set_keyring(previous)


def test_token_file_is_made_private_reused_and_rotated(tmp_path: Path, no_keyring: None) -> None:
    from baton.commands.serve import load_or_create_token

    ctx = SimpleNamespace(paths=SimpleNamespace(config_dir=tmp_path / "config"))
    token, where, made = load_or_create_token(ctx)
    path = tmp_path / "config" / "serve-token"
    assert made and where == str(path) and path.read_text().strip() == token and len(token) >= 40
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    path.chmod(0o644)  # loosened by hand: made private again when read
    assert load_or_create_token(ctx) == (token, str(path), False)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    rotated, _, made = load_or_create_token(ctx, rotate=True)
    assert made and rotated != token and path.read_text().strip() == rotated
    assert [p.name for p in path.parent.iterdir()] == ["serve-token"]
    path.write_text("\x1b[31m\n")  # not a token: a new one is made rather than trusting it
    fresh, _, made = load_or_create_token(ctx)
    assert made and fresh != rotated and fresh.replace("-", "").replace("_", "").isalnum()
