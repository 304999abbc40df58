"""Building an answer's result once from the tiers that ran, and checking a client's own messages."""

from __future__ import annotations

from typing import Any

from baton.core.errors import UsageError
from baton.core.pipeline.turn import TierRun, Turn
from baton.core.results import AskResult
from baton.core.types import ChatMessage, RouteDecision, Timing, Usage

ROLES = ("system", "user", "assistant")


def build_result(turn: Turn, message_id: str, tier: Any, decision: RouteDecision, run: TierRun,
            prior: AskResult | None) -> AskResult:
    """The receipt's values, built once: with a ``prior`` (the local answer an escalation replaced), energy,
    cost, tokens and time include both tiers."""
    c = run.completion
    energy, usd, usage, timing = run.energy, run.usd, c.usage, c.timing
    if prior is not None:
        energy = prior.energy.merged(energy)
        usd += prior.cost_usd
        usage = Usage(prior.usage.prompt_tokens + usage.prompt_tokens,
                      prior.usage.completion_tokens + usage.completion_tokens,
                      prior.usage.estimated or usage.estimated)
        timing = Timing(prior.timing.load_s, timing.ttft_s, prior.timing.total_s + timing.total_s,
                        timing.decode_tokens_per_s, timing.prefill_tokens_per_s)
    decision.where = tier.where
    memory = tier.meter.memory() if getattr(tier, "meter", None) is not None else {}
    if prior is not None and not memory:
        memory = prior.memory
    return AskResult(text=c.text, thread_id=turn.thread_id or "", message_id=message_id, route=decision, usage=usage,
                     timing=timing, energy=energy, memory=memory or {"rss_bytes": 0, "vram_bytes": None},
                     cost_usd=usd, finish_reason=c.finish_reason,
                     notices=[*(prior.notices if prior else []), *turn.notices, *run.notices],
                     local_text=prior.text if prior else None,
                     dropped_turns=run.dropped_turns or (prior.dropped_turns if prior else 0))


def client_messages(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Validate messages a client sent as they are: known roles, text content, the last one the user's."""
    if not messages:
        raise UsageError("`messages` must hold at least one message")
    for m in messages:
        if m.role not in ROLES:
            raise UsageError(f"unknown role '{m.role}': use system, user or assistant")
        if not isinstance(m.content, str):
            raise UsageError("message content must be text")
    if messages[-1].role != "user" or not messages[-1].content.strip():
        raise UsageError("the last message must be the user's, with text")
    return list(messages)
