"""`baton serve` as a real process on the real pipeline (default local model), driven with the official `openai`
client: messages and sampling go through as sent (to the local model, and to a recording loopback endpoint
behind Baton), what cannot be honoured is a 4xx, the token and Host are checked, 20 concurrent clients are all
answered, and a client that leaves cancels its answer."""

from __future__ import annotations

import json
import os
import re
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.helpers.proc import run_baton, run_json
from tests.integration.serve_support import (
    NO_KEYRING,
    ServeProc,
    post_json,
    raw_request,
    start_serve,
    wait_until,
)

LOCAL = "baton-local"
HISTORY = [{"role": "system", "content": "You are Recorder. Answer in one word."},
           {"role": "user", "content": "First question: what is red?"},
           {"role": "assistant", "content": "A colour."},
           {"role": "user", "content": "Second: and 2 + 2?"},
           {"role": "assistant", "content": "Four."},
           {"role": "user", "content": "Third: say ok."}]


class Recorder(ThreadingHTTPServer):
    """A loopback OpenAI-compatible server that keeps every chat request body and answers "Recorded reply."."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecorderHandler)
        self.bodies: list[dict[str, Any]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _RecorderHandler(BaseHTTPRequestHandler):
    server: Recorder

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _send(self, body: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self._send(json.dumps({"object": "list", "data": [{"id": "rec-model", "object": "model"}]}).encode(),
                   "application/json")

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        usage = {"prompt_tokens": 30, "completion_tokens": 3, "total_tokens": 33}
        if not body.get("stream"):
            self._send(json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "rec-model",
                                   "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                       "role": "assistant", "content": "Recorded reply."}}],
                                   "usage": usage}).encode(), "application/json")
            return
        chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Recorded"}}]},
                  {"choices": [{"index": 0, "delta": {"content": " reply."}}]},
                  {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                  {"choices": [], "usage": usage}]
        out = b"".join(b"data: " + json.dumps({"id": "x", "object": "chat.completion.chunk", "created": 0,
                                                "model": "rec-model", **c}).encode() + b"\n\n" for c in chunks)
        self._send(out + b"data: [DONE]\n\n", "text/event-stream")


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    srv = Recorder()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, recorder: Recorder) -> Iterator[ServeProc]:
    home = tmp_path_factory.mktemp("serve-home")
    add = run_baton(home, "endpoints", "add", "rec", "--base-url", recorder.base_url, "--model", "rec-model",
                    "--key-env", "REC_KEY", REC_KEY="sk-loopback-test", **NO_KEYRING)
    assert add.returncode == 0, add.stderr
    proc = start_serve(home, REC_KEY="sk-loopback-test")
    try:
        yield proc
    finally:
        proc.stop()


def _client(served: ServeProc, **kw: Any) -> Any:
    return openai.OpenAI(base_url=served.base_url, api_key=served.token, max_retries=0, **kw)


def _ask(served: ServeProc, content: str, **kw: Any) -> str:
    r = _client(served).chat.completions.create(model=kw.pop("model", LOCAL),
                                                messages=[{"role": "user", "content": content}], **kw)
    return r.choices[0].message.content or ""


@pytest.mark.parametrize("model", ["baton-cloud", "rec"])
@pytest.mark.parametrize("stream", [False, True])
def test_history_and_sampling_reach_the_remote_tier_exactly_as_sent(served: ServeProc, recorder: Recorder,
                                                                    model: str, stream: bool) -> None:
    before = len(recorder.bodies)
    kw = dict(model=model, messages=HISTORY, temperature=0.3, top_p=0.8, seed=7, stop=["ZZ", "\n\n"],
              max_tokens=33)
    client = _client(served)
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **kw))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        receipt = chunks[-1].model_extra["baton"]
    else:
        r = client.chat.completions.with_raw_response.create(**kw)
        doc = r.parse()
        text, receipt = doc.choices[0].message.content, doc.model_extra["baton"]
        assert r.headers["X-Baton-Endpoint"] == "rec" and r.headers["X-Baton-Tier"] == "cloud"
    assert text == "Recorded reply." and receipt["route"]["endpoint"] == "rec"
    assert len(recorder.bodies) == before + 1
    sent = recorder.bodies[-1]
    assert sent["messages"] == HISTORY  # the client's system prompt and turns, nothing added, nothing merged
    assert sent["model"] == "rec-model"
    assert (sent["temperature"], sent["top_p"], sent["seed"], sent["stop"], sent["max_tokens"]) == \
        (0.3, 0.8, 7, ["ZZ", "\n\n"], 33)


def test_the_local_answer_keeps_the_clients_system_prompt(served: ServeProc) -> None:
    r = _client(served).chat.completions.create(model=LOCAL, messages=HISTORY, max_tokens=8, temperature=0)
    receipt = r.model_extra["baton"]
    assert receipt["route"]["tier"] == "local"
    shown = run_json(served.home, "threads", "show", receipt["thread_id"], "--json", **NO_KEYRING)
    stored = [(m["role"], m["content"]) for m in shown["messages"]]
    assert stored[:6] == [(m["role"], m["content"]) for m in HISTORY]
    assert stored[6] == ("assistant", r.choices[0].message.content)


def test_temperature_zero_twice_gives_the_same_text(served: ServeProc) -> None:
    q = "Describe the sea in two sentences."
    first = _ask(served, q, temperature=0, max_tokens=32)
    assert first and _ask(served, q, temperature=0, max_tokens=32) == first


def test_the_same_seed_gives_the_same_text_at_temperature_one(served: ServeProc) -> None:
    q = "Invent a name for a cat and say why."
    texts = {seed: _ask(served, q, temperature=1.0, seed=seed, max_tokens=24) for seed in (11, 12, 13)}
    assert _ask(served, q, temperature=1.0, seed=11, max_tokens=24) == texts[11]
    assert len(set(texts.values())) > 1  # the seed is really used: different seeds, different texts


def test_a_stop_sequence_ends_the_answer_there(served: ServeProc) -> None:
    q = "List five fruits, separated by commas."
    full = _ask(served, q, temperature=0, max_tokens=40)
    words = re.findall(r"[A-Za-z]{3,}", full)
    assert len(words) >= 3, full
    stop = words[2]
    cut = full.index(stop)
    assert _ask(served, q, temperature=0, max_tokens=40, stop=stop) == full[:cut]
    assert _ask(served, q, temperature=0, max_tokens=40, stop=["@@@", stop]) == full[:cut]


@pytest.mark.parametrize(("extra", "param"), [
    ({"n": 2}, "n"),
    ({"tools": [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]},
     "tools"),
    ({"tool_choice": "auto"}, "tool_choice"),
    ({"logprobs": True}, "logprobs"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"messages": [{"role": "user", "content": ""}]}, "messages[0].content"),
    ({"messages": [{"role": "critic", "content": "hi"}]}, "messages[0].role"),
])
def test_what_cannot_be_honoured_is_a_400(served: ServeProc, extra: dict[str, Any], param: str) -> None:
    kw = {"model": LOCAL, "messages": [{"role": "user", "content": "hi"}], **extra}
    with pytest.raises(openai.BadRequestError) as e:
        _client(served).chat.completions.create(**kw)
    assert e.value.status_code == 400 and e.value.body["param"] == param
    assert set(e.value.body) == {"message", "type", "param", "code"}


def test_a_lone_surrogate_is_a_400(served: ServeProc) -> None:
    # The openai client cannot encode one; another client sends it escaped, in valid JSON.
    for content in ("\ud800", "a\udfffb", [{"type": "text", "text": "\udbff"}]):
        body = {"model": LOCAL, "messages": [{"role": "user", "content": content}]}
        for stream in (False, True):
            r = post_json(served.port, served.token, {**body, "stream": stream})
            assert r.status == 400 and r.json()["error"]["param"].startswith("messages[0].content")
    assert post_json(served.port, served.token, {"model": LOCAL, "max_tokens": 2,
                                                 "messages": [{"role": "user", "content": "hi"}]}).status == 200


def test_a_path_as_model_is_404_without_file_contents(served: ServeProc) -> None:
    passwd = Path("/etc/passwd").read_text(errors="replace")[:12]
    for model in ("/etc/passwd", "../../../../etc/passwd", str(Path(served.home) / "config" / "serve-token")):
        with pytest.raises(openai.NotFoundError) as e:
            _client(served).chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        raw = e.value.response.text
        assert e.value.body["code"] == "model_not_found" and passwd not in raw and served.token not in raw


def test_a_wrong_token_is_401_and_the_token_file_is_private(served: ServeProc) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=served.base_url, api_key="wrong", max_retries=0).models.list()
    token_file = served.home / "config" / "serve-token"
    assert token_file.read_text().strip() == served.token
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert [p.name for p in token_file.parent.iterdir() if "serve-token" in p.name] == ["serve-token"]


def test_a_wrong_host_header_is_refused(served: ServeProc) -> None:
    for host in ("attacker.example", f"attacker.example:{served.port}", "127.0.0.1.attacker.example"):
        r = raw_request(served.port, "GET", "/v1/models", token=served.token, headers={"Host": host})
        assert r.status == 421 and b"host_not_allowed" in r.body
    ok = raw_request(served.port, "GET", "/v1/models", token=served.token, headers={"Host": f"localhost:{served.port}"})
    assert ok.status == 200 and "access-control-allow-origin" not in ok.headers


def test_twenty_concurrent_clients_are_all_answered(served: ServeProc) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []
    go = threading.Barrier(20)

    def one(i: int) -> None:
        try:
            go.wait()
            r = _client(served, timeout=600).chat.completions.create(
                model=LOCAL, messages=[{"role": "user", "content": f"Say a word about the number {i}."}],
                max_tokens=6, temperature=0)
            results.append(r)
        except BaseException as e:  # noqa: BLE001 - every failure is reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    assert not errors, [repr(e) for e in errors]
    assert len(results) == 20 and all(r.choices[0].message.content is not None for r in results)
    assert len({r.model_extra["baton"]["message_id"] for r in results}) == 20


def _statuses_of(home: Path, marker: str) -> list[str]:
    out = []
    for t in run_json(home, "threads", "--json", **NO_KEYRING):
        shown = run_json(home, "threads", "show", t["id"], "--json", **NO_KEYRING)
        msgs = shown["messages"]
        if any(marker in m["content"] for m in msgs if m["role"] == "user"):
            out += [m["status"] for m in msgs if m["role"] == "assistant"]
    return out


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_leaves_after_one_second_cancels_its_answer(served: ServeProc, stream: bool) -> None:
    marker = f"(request {'stream' if stream else 'plain'} 7f3a)"
    client = _client(served, timeout=1.0)
    msgs = [{"role": "user", "content": f"Write a very long, detailed story about a lighthouse keeper. {marker}"}]
    if stream:  # a streaming client reads a few pieces, then goes away
        r = client.chat.completions.create(model=LOCAL, messages=msgs, max_tokens=1500, temperature=0.8, seed=3,
                                           stream=True)
        for i, _ in enumerate(r):
            if i >= 5:
                break
        r.close()
    else:  # a plain client gives up after its 1 s timeout
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model=LOCAL, messages=msgs, max_tokens=1500, temperature=0.8, seed=3)
    wait_until(lambda: _statuses_of(served.home, marker) not in ([], ["streaming"]), timeout_s=120,
               what="the answer to be stored")
    assert _statuses_of(served.home, marker) == ["cancelled"]
    assert post_json(served.port, served.token, {"model": LOCAL, "max_tokens": 4,
                                                 "messages": [{"role": "user", "content": "hi"}]}).status == 200


def test_a_second_start_reuses_the_token_without_printing_it(served: ServeProc) -> None:
    again = start_serve(served.home)
    try:
        assert again.token is None and "--show-token" in "".join(again.lines)
        assert raw_request(again.port, "GET", "/v1/models", token=served.token).status == 200
    finally:
        again.stop()


@pytest.mark.parametrize("args", [("--host", "0.0.0.0"), ("--host", "192.168.1.1"), ("--queue", "0"),
                                  ("--cors-origin", "evil"), ("--allow-remote", "a/b")])
def test_bad_options_are_one_line_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    proc = run_baton(tmp_path, "serve", "--port", "0", *args, timeout=60, **NO_KEYRING)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_baton_can_use_its_own_server_as_an_endpoint(served: ServeProc) -> None:
    from baton.config import Endpoint
    from baton.core.cloud.client import CloudClient
    from baton.core.errors import CloudAuthError
    from baton.core.types import ChatMessage, GenerationRequest

    ep = Endpoint("self", served.base_url, LOCAL)
    client = CloudClient(ep, served.token, offline=True)  # loopback: allowed offline
    chunks = list(client.stream(GenerationRequest([ChatMessage("user", "Say hello.")], max_tokens=6)))
    texts = [c.text for c in chunks if c.text]
    completion = chunks[-1].completion
    assert texts and completion is not None and completion.text == "".join(texts)
    assert 0 < completion.usage.completion_tokens <= 6 and not completion.usage.estimated  # include_usage honoured
    with pytest.raises(CloudAuthError):
        list(CloudClient(ep, "wrong", offline=True).stream(GenerationRequest([ChatMessage("user", "x")])))
