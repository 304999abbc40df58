"""Many threads at once on the real SmolLM2: batched answers match solo ones, a cancelled one leaves the batch
alone, late arrivals join the running batch, more threads than slots wait, every slot keeps the full context,
and `baton serve` answers 20 clients at once through the slots."""

from __future__ import annotations

import dataclasses
import threading
import uvicorn
from pathlib import Path

import pytest

from baton.core.engine.llama import LlamaEngine
from baton.core.errors import ContextOverflow
from baton.core.types import ChatMessage, GenerationRequest

QUESTIONS = ["Name three colors.", "What is the capital of France?", "Write a haiku about rain.",
             "Count from 1 to 10.", "Why is the sky blue?", "Give me a tip for learning Python.",
             "Describe a cat in one sentence.", "What is 12 times 12?"]


@pytest.fixture(scope="module")
def engine(default_model_path: Path):
    eng = LlamaEngine(default_model_path, n_ctx=1024, parallel=4)
    eng.load()
    yield eng
    eng.close()


def _req(text: str, max_tokens: int) -> GenerationRequest:
    return GenerationRequest([ChatMessage("system", "Answer concisely."), ChatMessage("user", text)],
                             max_tokens=max_tokens, temperature=0.0)


def _run(engine, text: str, max_tokens: int, cancel=None, after=None):
    """Stream one answer; ``after(n)`` is called with the number of text chunks seen so far."""
    completion, n = None, 0
    for ch in engine.stream(_req(text, max_tokens), cancel):
        if ch.text:
            n += 1
            if after is not None:
                after(n)
        if ch.completion is not None:
            completion = ch.completion
    return completion


def _at_once(fns):
    out: list = [None] * len(fns)
    errors: list = []

    def call(i):
        try:
            out[i] = fns[i]()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    return out


@pytest.mark.parametrize("batch", [QUESTIONS[:4], QUESTIONS[4:]], ids=["first-four", "last-four"])
def test_four_threads_at_once_match_their_solo_answers(engine, batch):
    solo16 = [_run(engine, q, 16).text for q in batch]
    solo64 = [_run(engine, q, 64).text for q in batch]
    steps = engine._sched.batched_steps
    together = _at_once([lambda q=q: _run(engine, q, 64) for q in batch])
    assert engine._sched.batched_steps > steps, "the four answers were never decoded in one batch"
    for q, s16, c in zip(batch, solo16, together):
        assert c.text.startswith(s16), (q, s16, c.text)
        assert c.signals.n_tokens >= 1 and c.usage.completion_tokens <= 64
    # batched arithmetic may round differently after the first tokens; at this length it has not here
    assert sum(c.text == s for c, s in zip(together, solo64)) >= 3


def test_one_logits_view_per_step_holds_each_output_row_in_batch_order(engine):
    """The batched step reads every sampled row from one view of llama.cpp's outputs; each row must be the one
    llama_get_logits_ith gives for its batch entry, with prompts and single tokens of several slots mixed."""
    import llama_cpp
    import numpy as np

    engine.forget_cache()  # the raw decodes below use slots 0-2; no thread's cache is held there now
    a, b = engine.prompt_tokens([ChatMessage("user", QUESTIONS[0])]), engine.prompt_tokens(
        [ChatMessage("user", QUESTIONS[1])])

    def check():
        be = engine._sched.backend
        try:
            tokens = [a[0], *b, a[1], a[2]]
            pos = [0, *range(len(b)), 1, 2]
            slots = [2, *([0] * len(b)), 2, 2]
            want = [True] + [False] * (len(b) - 1) + [True, False, True]
            be.decode(tokens, pos, slots, want)
            rows = be.outputs(sum(want))
            wanted = [i for i, w in enumerate(want) if w]
            for j, i in enumerate(wanted):
                ptr = llama_cpp.llama_get_logits_ith(be._ctx, i)
                expect = np.ctypeslib.as_array(ptr, shape=(be.n_vocab,))
                assert np.array_equal(rows[j], expect), (j, i)
            be.decode([b[-1]], [len(b)], [0], [True])  # a later step with fewer rows and other slots
            assert np.array_equal(be.outputs(1)[0], np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(be._ctx, 0), shape=(be.n_vocab,)))
        finally:
            be.trim(0, 0)
            be.trim(2, 0)

    engine._sched.call(check)
    assert engine.slots() == {"parallel": 4, "active": 0, "waiting": 0}


def test_cancelling_one_thread_mid_batch_lets_the_others_finish(engine):
    solo = [_run(engine, q, 16).text for q in QUESTIONS[:4]]
    cancel = threading.Event()

    def cut(n):
        if n == 3:
            cancel.set()

    fns = [lambda q=q: _run(engine, q, 48) for q in QUESTIONS[:4]]
    fns[1] = lambda: _run(engine, "Write a long story about a dragon.", 400, cancel, cut)
    out = _at_once(fns)
    assert out[1].finish_reason == "cancelled" and out[1].usage.completion_tokens <= 6
    for i in (0, 2, 3):
        assert out[i].finish_reason in ("stop", "length") and out[i].text.startswith(solo[i])
    assert engine.slots() == {"parallel": 4, "active": 0, "waiting": 0}


def test_a_late_thread_joins_the_running_batch(engine):
    started = threading.Event()
    solo = _run(engine, QUESTIONS[2], 16).text
    results: dict = {}

    def long():
        results["long"] = _run(engine, "Write a long story about a dragon.", 200,
                               after=lambda n: n == 5 and started.set())

    t = threading.Thread(target=long)
    steps = engine._sched.batched_steps
    t.start()
    assert started.wait(60)
    late = _run(engine, QUESTIONS[2], 16)
    t.join(120)
    assert late.text == solo
    assert results["long"].finish_reason in ("stop", "length")
    assert engine._sched.batched_steps > steps  # the late one was decoded alongside the long one


def test_more_threads_than_slots_wait_in_order_and_all_finish(default_model_path):
    eng = LlamaEngine(default_model_path, n_ctx=512, parallel=2)
    seen_waiting: list[int] = []
    try:
        eng.load()
        watch = threading.Event()

        def watcher():
            while not watch.is_set():
                seen_waiting.append(eng.slots()["waiting"])
                watch.wait(0.005)

        w = threading.Thread(target=watcher)
        w.start()
        out = _at_once([lambda q=q: _run(eng, q, 24) for q in QUESTIONS[:5]])
        watch.set()
        w.join()
    finally:
        eng.close()
    assert all(c.finish_reason in ("stop", "length") for c in out)
    assert max(seen_waiting) >= 1  # some waited for a slot
    assert max(seen_waiting) <= 3


def test_every_slot_keeps_the_full_context(default_model_path):
    eng = LlamaEngine(default_model_path, n_ctx=512, parallel=3)
    try:
        eng.load()
        long = "word " * 420  # about 430 tokens: fits one 512-token slot, not a third of 1536 shared
        out = _at_once([lambda i=i: _run(eng, f"{i} {long} Say ok.", 16) for i in range(3)])
        assert all(c.usage.prompt_tokens > 420 and c.finish_reason in ("stop", "length") for c in out)
        with pytest.raises(ContextOverflow, match="512-token context"):
            _run(eng, "word " * 600, 8)  # and a slot is never more than n_ctx
    finally:
        eng.close()


def test_twenty_concurrent_serve_clients_are_all_answered(default_model_path, baton_home):
    from baton.commands.serve import bind_socket
    from baton.commands.serve_app import ServeConfig, build_app
    from baton.commands.serve_dispatch import Dispatcher
    from baton.config import Settings
    from baton.core.service import BatonService
    from baton.paths import Paths
    from tests.integration.serve_support import post_json

    settings = Settings()
    settings.default_model = str(default_model_path)
    settings.engine = dataclasses.replace(settings.engine, n_ctx=1024, temperature=0.0)
    service = BatonService.build(Paths.from_env().ensure(), settings)
    dispatcher = Dispatcher(64, workers=settings.engine.parallel)
    app = build_app(service, ServeConfig(token="t"), dispatcher)
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", http="h11",
                                           loop="asyncio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            threading.Event().wait(0.02)
        peak = {"running": 0}

        def ask(i):
            r = post_json(port, "t", {"model": "baton-local", "max_tokens": 12, "temperature": 0,
                                      "messages": [{"role": "user", "content": QUESTIONS[i % 8] + f" ({i})"}]})
            peak["running"] = max(peak["running"], dispatcher.running)
            return r

        replies = _at_once([lambda i=i: ask(i) for i in range(20)])
    finally:
        server.should_exit = True
        thread.join(15)
        dispatcher.close()
        service.close()
        sock.close()
    assert [r.status for r in replies] == [200] * 20
    texts = [r.json()["choices"][0]["message"]["content"] for r in replies]
    assert all(t.strip() for t in texts)
    shared = [r.json()["baton"]["energy"].get("shared_with", 0) for r in replies]
    assert max(shared) >= 1  # answers ran together and their receipts say so
