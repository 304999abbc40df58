"""The real SmolLM2 through llama.cpp: streaming, signals, cancel, overflow, loops, bad files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from baton.core.engine.llama import LlamaEngine
from baton.core.errors import ContextOverflow, ModelError
from baton.core.types import ChatMessage, GenerationRequest

pytestmark = pytest.mark.slow  # every test here loads the real default model


@pytest.fixture(scope="module")
def engine(default_model_path: Path):
    eng = LlamaEngine(default_model_path, n_ctx=1024)
    eng.load()
    yield eng
    eng.close()


def _req(text: str, max_tokens: int = 48) -> GenerationRequest:
    return GenerationRequest([ChatMessage("system", "Answer concisely."), ChatMessage("user", text)],
                             max_tokens=max_tokens, temperature=0.0)


def _collect(chunks):
    texts, completion = [], None
    for ch in chunks:
        if ch.text:
            texts.append(ch.text)
        if ch.completion is not None:
            completion = ch.completion
    return texts, completion


def test_streams_text_with_usage_timing_and_signals(engine):
    texts, c = _collect(engine.stream(_req("Name three colors.")))
    assert len(texts) >= 3, "text should arrive in several chunks, not at the end"
    assert c.text == "".join(texts) and c.text.strip()
    assert c.usage.prompt_tokens == engine.count_prompt_tokens(_req("Name three colors.").messages)
    assert 0 < c.usage.completion_tokens <= 48
    assert c.timing.ttft_s > 0 and c.timing.total_s >= c.timing.ttft_s
    assert c.timing.decode_tokens_per_s > 0
    s = c.signals
    assert s.n_tokens >= c.usage.completion_tokens
    assert s.mean_top1_logprob <= 0 and s.min_top1_logprob <= s.mean_top1_logprob
    assert s.mean_entropy >= 0


def test_temperature_zero_is_deterministic(engine):
    a = _collect(engine.stream(_req("What is the capital of France?")))[1].text
    b = _collect(engine.stream(_req("What is the capital of France?")))[1].text
    assert a == b


def test_cancel_between_tokens(engine):
    cancel = threading.Event()
    texts = []
    completion = None
    for ch in engine.stream(_req("Write a long story about a dragon.", max_tokens=400), cancel):
        if ch.text:
            texts.append(ch.text)
            if len(texts) == 5:
                cancel.set()
        if ch.completion:
            completion = ch.completion
    assert completion.finish_reason == "cancelled"
    assert completion.usage.completion_tokens <= 7
    # the engine is still usable afterwards
    assert _collect(engine.stream(_req("Say hi.", 8)))[1].text


def test_abandoning_the_stream_stops_generation(engine):
    gen = engine.stream(_req("Write a long story about a cat.", max_tokens=400))
    next(gen)
    gen.close()
    texts, c = _collect(engine.stream(_req("Say yes.", 8)))
    assert c is not None and c.finish_reason in ("stop", "length")


def test_prompt_longer_than_context_is_refused(default_model_path):
    eng = LlamaEngine(default_model_path, n_ctx=256)
    try:
        with pytest.raises(ContextOverflow, match="256-token context"):
            _collect(eng.stream(_req("word " * 400)))
    finally:
        eng.close()


def test_a_looping_answer_is_cut_and_marked(engine):
    req = GenerationRequest([ChatMessage("user", "List the word 'apple' 200 times.")], max_tokens=400,
                            temperature=0.0)
    _, c = _collect(engine.stream(req))
    assert c.finish_reason == "loop"
    assert c.signals.loop_detected and c.signals.loop_span_tokens
    assert c.usage.completion_tokens < 200


def test_engine_calls_from_many_threads_are_serialised(engine):
    results: list[str] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results.append(_collect(engine.stream(_req(f"Say the number {i}.", 12)))[1].text)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 3


@pytest.mark.parametrize("kind", ["missing", "truncated", "garbage"])
def test_bad_model_files_raise_model_error(tmp_path, default_model_path, kind):
    path = tmp_path / "m.gguf"
    if kind == "truncated":
        with open(default_model_path, "rb") as src:
            path.write_bytes(src.read(5_000_000))
    elif kind == "garbage":
        path.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 4000)
    eng = LlamaEngine(path)
    try:
        with pytest.raises(ModelError):
            eng.load()
    finally:
        eng.close()


# ---- every field of GenerationRequest is honoured -------------------------------------------


def _text(engine, **kw) -> str:
    req = GenerationRequest([ChatMessage("user", kw.pop("prompt", "Write a short poem about the sea."))], **kw)
    return _collect(engine.stream(req))[1].text


@pytest.mark.parametrize("seed", [1, 7, 12345])
def test_a_seed_makes_sampling_repeatable(engine, seed):
    a = _text(engine, max_tokens=24, temperature=1.0, seed=seed)
    b = _text(engine, max_tokens=24, temperature=1.0, seed=seed)
    assert a == b


def test_different_seeds_sample_differently(engine):
    texts = {_text(engine, max_tokens=24, temperature=1.2, seed=s) for s in (1, 2, 3, 4)}
    assert len(texts) >= 2


def test_a_tiny_top_p_is_greedy(engine):
    greedy = _text(engine, max_tokens=20, temperature=0.0)
    assert _text(engine, max_tokens=20, temperature=1.5, top_p=1e-6, seed=3) == greedy


@pytest.mark.parametrize(("prompt", "stop"), [
    ("Count from 1 to 20, separated by commas.", ["7"]),
    ("Count from 1 to 20, separated by commas.", ["10", "6"]),
    ("List three fruits, one per line.", ["\n"]),
])
def test_a_stop_string_ends_the_answer_before_it(engine, prompt, stop):
    free = _text(engine, prompt=prompt, max_tokens=60, temperature=0.0)
    cut = _text(engine, prompt=prompt, max_tokens=60, temperature=0.0, stop=stop)
    first = min((free.find(s) for s in stop if s in free), default=-1)
    assert first >= 0, f"the free answer should contain a stop string: {free!r}"
    assert cut == free[:first]
    assert not any(s in cut for s in stop)


@pytest.mark.parametrize("max_tokens", [1, 5, 17])
def test_max_tokens_is_the_limit(engine, max_tokens):
    req = GenerationRequest([ChatMessage("user", "Write a long story about a dragon.")], max_tokens=max_tokens,
                            temperature=0.0)
    c = _collect(engine.stream(req))[1]
    assert c.usage.completion_tokens == max_tokens and c.finish_reason == "length"
