"""A thread's settings reach the real default model (SmolLM2-135M through llama.cpp): its system prompt is what the
model reads, its temperature makes answers repeatable, and a spent hard energy budget refuses the next question."""

from __future__ import annotations

import pytest

from baton.config import Settings
from baton.core.errors import PolicyError
from baton.core.service import SYSTEM_PROMPT, BatonService
from baton.core.types import SamplingParams
from baton.paths import Paths

pytestmark = pytest.mark.slow  # loads a real GGUF

LONG_SYSTEM = ("You are the ship's navigator. Always answer in one short sentence, mention the compass heading, "
               "and never use more than twelve words. ") * 3


def test_the_threads_system_prompt_and_temperature_reach_the_real_model(baton_home):
    svc = BatonService.build(Paths.from_env().ensure(), Settings())
    try:
        plain = svc.store.create_thread("plain")
        own = svc.store.create_thread("own")
        svc.store.set_thread_settings(own.id, system_prompt=LONG_SYSTEM, temperature=0.0, tier_mode="local")
        a = svc.ask("Where is north?", thread_id=plain.id, tier="local", max_tokens=6)
        b = svc.ask("Where is north?", thread_id=own.id, max_tokens=6)
        grew = b.usage.prompt_tokens - a.usage.prompt_tokens
        assert grew > len(LONG_SYSTEM.split()) - len(SYSTEM_PROMPT.split())  # the long prompt was read, not Baton's
        assert b.route.tier == "local" and "pinned to the local model" in b.route.reason
        again = svc.ask("Where is north?", thread_id=svc.store.create_thread("again").id, max_tokens=6)
        svc.store.set_thread_settings(again.thread_id, system_prompt=LONG_SYSTEM, temperature=0.0)
        c = svc.retry(again.message_id, tier="local", params=SamplingParams(max_tokens=6))
        assert c.text == b.text  # a retry reads the thread's system prompt and temperature 0: the same answer
        spent = svc.store.get_thread(own.id).energy_j
        assert spent > 0
        svc.store.set_thread_settings(own.id, budget_j=spent / 2, budget_hard=True)
        with pytest.raises(PolicyError, match="hard limit"):
            svc.ask("And south?", thread_id=own.id, max_tokens=6)
    finally:
        svc.close()
