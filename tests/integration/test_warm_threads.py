"""Warm thread contexts on the real SmolLM2: a thread whose slot was taken by another thread has its KV state
saved in RAM and restored when it comes back, so only the new tokens are read, and its answer at temperature 0
is the answer a cold engine gives to the same prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.core.engine.kv_state import MIN_SAVE_TOKENS, SavedState, StateStore
from baton.core.engine.llama import LlamaEngine
from baton.core.types import ChatMessage, GenerationRequest

pytestmark = pytest.mark.slow

NOTES = "The committee reviewed the quarterly figures and noted steady progress on every project. "
HISTORIES = [
    NOTES * 12 + "Summarise the notes above in one sentence.",
    "Here is a shopping list: apples, bread, milk, eggs, rice, tea, butter, cheese, onions and pepper. " * 8
    + "Which items are dairy?",
]
OTHERS = ["Write a haiku about rain.", "Count from 1 to 10."]


def _answer(engine: LlamaEngine, messages: list[ChatMessage], max_tokens: int = 12) -> str:
    req = GenerationRequest(messages, max_tokens=max_tokens, temperature=0.0)
    return next(ch.completion for ch in engine.stream(req) if ch.completion is not None).text


def _thread(history: str) -> list[ChatMessage]:
    return [ChatMessage("system", "Answer concisely."), ChatMessage("user", history)]


@pytest.fixture(scope="module")
def one_slot(default_model_path: Path):
    eng = LlamaEngine(default_model_path, n_ctx=1024, parallel=1, n_threads=2)
    eng.load()
    yield eng
    eng.close()


@pytest.mark.parametrize("history,other", list(zip(HISTORIES, OTHERS)))
def test_evicted_thread_is_restored_and_answers_as_cold(one_slot: LlamaEngine, default_model_path: Path,
                                                        history: str, other: str) -> None:
    eng = one_slot
    eng.forget_cache()
    first = _answer(eng, _thread(history))
    _answer(eng, _thread(other))  # the only slot goes to another thread: the first one's state is saved
    before = eng.cache_stats()
    assert before["saved_states"] == 1 and before["saved_bytes"] > 0
    follow = [*_thread(history), ChatMessage("assistant", first), ChatMessage("user", "And in three words?")]
    n_prompt = len(eng.prompt_tokens(follow))
    warm = _answer(eng, follow)
    after = eng.cache_stats()
    assert after["states_restored"] == before["states_restored"] + 1
    read = after["prefilled_tokens"] - before["prefilled_tokens"]
    reused = after["reused_tokens"] - before["reused_tokens"]
    assert reused + read == n_prompt
    assert reused >= len(eng.prompt_tokens(_thread(history))) - 1  # the whole saved history was reused
    assert read < n_prompt // 4  # only what is new (the answer as text and the new question) was read

    cold = LlamaEngine(default_model_path, n_ctx=1024, parallel=1, n_threads=2)
    try:
        cold_text = _answer(cold, follow)
        assert cold.cache_stats()["prefilled_tokens"] == n_prompt
    finally:
        cold.close()
    assert warm == cold_text


def test_state_store_keeps_to_its_bound_and_drops_the_oldest() -> None:
    store = StateStore(limit_bytes=250)
    a, b, c = (SavedState(tuple(range(k, k + MIN_SAVE_TOKENS)), bytes(100)) for k in (0, 1000, 2000))
    assert store.put(a) and store.put(b) and store.put(c)
    assert len(store) == 2 and store.size_bytes == 200 and store.dropped == 1
    assert store.best(list(a.tokens))[1] == 0  # the oldest went first
    key, shared = store.best([*c.tokens, 7, 8])
    assert shared == len(c.tokens) and store.take(key) == c and store.size_bytes == 100
    assert not store.put(SavedState((1, 2, 3), bytes(251)))  # alone over the bound: not kept
    longer = SavedState((*b.tokens, 9, 9), bytes(120))
    assert store.put(longer) and len(store) == 1  # the same thread saved again replaces its older state
    store.forget_covered([*longer.tokens, 5])
    assert len(store) == 0 and store.size_bytes == 0
    assert not StateStore(0).put(a)


def test_no_state_is_kept_when_the_bound_is_zero(default_model_path: Path) -> None:
    eng = LlamaEngine(default_model_path, n_ctx=1024, parallel=1, n_threads=2, state_limit_bytes=0)
    try:
        _answer(eng, _thread(HISTORIES[0]), max_tokens=4)
        _answer(eng, _thread(OTHERS[0]), max_tokens=4)
        stats = eng.cache_stats()
        assert stats["saved_states"] == 0 and stats["states_saved"] == 0
        n = len(eng.prompt_tokens(_thread(HISTORIES[0])))
        _answer(eng, _thread(HISTORIES[0]), max_tokens=4)
        read = eng.cache_stats()["prefilled_tokens"] - stats["prefilled_tokens"]
        assert n - MIN_SAVE_TOKENS < read <= n  # read again (all but the system prompt the other thread shared)
    finally:
        eng.close()
