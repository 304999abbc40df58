"""A client's own messages (what `baton serve` passes) reach the real local model exactly as sent: its system
prompt, its turns in order, nothing of Baton's added; the formatted prompt is checked token for token."""

from __future__ import annotations

import pytest

from baton.config import Settings
from baton.core.service import SYSTEM_PROMPT, BatonService
from baton.core.types import ChatMessage, SamplingParams
from baton.paths import Paths

pytestmark = pytest.mark.slow

CLIENT = [ChatMessage("system", "You are a terse pirate."), ChatMessage("user", "Ahoy, what is 2+2?"),
          ChatMessage("assistant", "Four, matey."), ChatMessage("user", "And 3+3?"),
          ChatMessage("assistant", "Six."), ChatMessage("user", "Name one sea.")]


def test_client_messages_reach_the_local_model_as_sent(tmp_path):
    svc = BatonService.build(Paths.from_env({"BATON_HOME": str(tmp_path)}).ensure(), Settings())
    try:
        engine, _ = svc.engine(None)
        seen = []
        real_stream = engine.stream

        def recording_stream(request, cancel=None):
            seen.append(request)
            return real_stream(request, cancel)

        engine.stream = recording_stream  # type: ignore[method-assign]
        r = svc.ask(messages=list(CLIENT), tier="local", params=SamplingParams(max_tokens=8, temperature=0.0))
        (request,) = seen
        assert [(m.role, m.content) for m in request.messages] == [(m.role, m.content) for m in CLIENT]
        expected = engine.prompt_tokens(list(CLIENT))
        assert engine.prompt_tokens(request.messages) == expected
        text = engine._llm.detokenize(expected).decode("utf-8", "replace")  # noqa: SLF001 - the formatted prompt
        positions = [text.index(m.content) for m in CLIENT]
        assert positions == sorted(positions), "the turns are in the client's order"
        assert SYSTEM_PROMPT not in text, "Baton adds no system prompt of its own"
        assert r.usage.prompt_tokens == len(expected)
        stored = svc.store.thread_path(r.thread_id)
        assert [(m.role, m.content) for m in stored[:-1]] == [(m.role, m.content) for m in CLIENT]
    finally:
        svc.close()
