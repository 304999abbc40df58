"""Warm thread contexts on the real SmolLM2: a thread whose slot was taken by another thread has its KV state
saved (in RAM, or in a file when the engine has a state folder, as the service gives it) and restored when it comes
back, so only the new tokens are read, and its answer at temperature 0
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


@pytest.fixture(scope="module", params=["ram", "disk"])
def one_slot(request, default_model_path: Path, tmp_path_factory):  # noqa: ANN001
    state_dir = tmp_path_factory.mktemp("kv") if request.param == "disk" else None
    eng = LlamaEngine(default_model_path, n_ctx=1024, parallel=1, n_threads=2, state_dir=state_dir)
    eng.load()
    eng.state_dir = state_dir  # for the test's checks
    yield eng
    eng.close()
    if state_dir is not None:
        assert list(state_dir.iterdir()) == []  # closing the model removed its folder of saved states


@pytest.mark.parametrize("history,other", list(zip(HISTORIES, OTHERS)))
def test_evicted_thread_is_restored_and_answers_as_cold(one_slot: LlamaEngine, default_model_path: Path,
                                                        history: str, other: str) -> None:
    eng = one_slot
    eng.forget_cache()
    first = _answer(eng, _thread(history))
    _answer(eng, _thread(other))  # the only slot goes to another thread: the first one's state is saved
    before = eng.cache_stats()
    assert before["saved_states"] == 1 and before["saved_bytes"] > 0
    if eng.state_dir is not None:  # it waits on disk, not in RAM
        files = list(eng.state_dir.glob("*/*.kv"))
        assert before["saved_ram_bytes"] == 0 and len(files) == 1
        assert files[0].stat().st_size == before["saved_bytes"] and files[0].stat().st_mode & 0o777 == 0o600
    else:
        assert before["saved_ram_bytes"] == before["saved_bytes"]
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
    if eng.state_dir is not None:
        assert list(eng.state_dir.glob("*/*.kv")) == []  # taken back into the slot: the file is gone


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
