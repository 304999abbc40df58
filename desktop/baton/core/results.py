"""What one answer produced: text, route, usage, timing, energy, memory and cost, and its receipt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from baton.core.types import Measurement, RouteDecision, Timing, Usage


@dataclass
class EscalationPlan:
    """What would leave the machine if the user approves an escalation (ask mode)."""

    endpoint: str
    base_url: str
    model: str
    text_to_send: str
    est_usd: float
    reason: str
    redactions: list[str] = field(default_factory=list)


@dataclass
class AskResult:
    """What one answer produced, built once from the tiers that ran: text, route, usage (tokens), timing (s),
    energy (J, each part labelled with its source), memory (bytes), cost (USD) and notices. ``receipt()`` is the
    CONTRACT `ask --json` document, also what the store keeps."""
    text: str
    thread_id: str
    message_id: str
    route: RouteDecision
    usage: Usage
    timing: Timing
    energy: Measurement
    memory: dict[str, Any]
    cost_usd: float = 0.0
    finish_reason: str = "stop"
    notices: list[str] = field(default_factory=list)
    local_text: str | None = None  # the local answer that an escalation replaced
    dropped_turns: int = 0  # earlier turns of the thread left out to fit the local context
    ladder: list[dict[str, Any]] = field(default_factory=list)  # the ladder's steps (``pipeline.ladder.Step``)
    verification: dict[str, Any] | None = None  # the answer's code run against the question's examples

    def receipt(self) -> dict[str, Any]:
        """The CONTRACT ``ask --json`` document: ``text``, ``thread_id``, ``message_id``, ``route``, ``usage``
        (tokens, ``estimated``), ``timing`` (s, tokens/s), ``energy`` (``Measurement.to_dict``, J), ``memory``
        (``rss_bytes``, ``vram_bytes``: bytes, ``None`` where not read), ``cost.usd`` (USD, 6 decimals),
        ``finish_reason``, ``notices``, ``local_text``, ``context.dropped_turns``, ``ladder`` (one entry per tier
        the ladder ran: ``tier``, ``where``, ``tokens``, ``energy_j``, ``usd``, ``verdict``, ``score``,
        ``verification``...; empty without a ladder) and, when the question's examples were checked,
        ``verification`` (``state``, ``passed``, ``total``, ``reason``, ``sentence``)."""
        return {
            "text": self.text,
            "thread_id": self.thread_id,
            "message_id": self.message_id,
            "route": self.route.to_dict(),
            "usage": {"prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens,
                      "estimated": self.usage.estimated},
            "timing": {
                "load_s": round(self.timing.load_s, 4),
                "ttft_s": round(self.timing.ttft_s, 4),
                "total_s": round(self.timing.total_s, 4),
                "decode_tokens_per_s": round(self.timing.decode_tokens_per_s, 2),
                "prefill_tokens_per_s": round(self.timing.prefill_tokens_per_s, 2),
            },
            "energy": self.energy.to_dict(),
            "memory": {**self.memory, "rss_bytes": int(self.memory.get("rss_bytes") or 0),
                       "vram_bytes": self.memory.get("vram_bytes")},
            "cost": {"usd": round(self.cost_usd, 6)},
            "finish_reason": self.finish_reason,
            "notices": list(self.notices),
            "local_text": self.local_text,
            "context": {"dropped_turns": self.dropped_turns},
            "ladder": [dict(step) for step in self.ladder],
            **({"verification": dict(self.verification)} if self.verification is not None else {}),
        }

    def one_line(self) -> str:
        """The human receipt printed to stderr after an answer."""
        e = self.energy
        share = f"{100 * e.measured_j / e.total_j:.0f}% measured" if e.total_j > 0 else "no energy data"
        sources = ",".join(sorted({p.source for p in e.parts})) or "unavailable"
        esc = " (escalated)" if self.route.escalated else ""
        est = " (estimated)" if self.usage.estimated else ""
        return (f"[{self.route.tier}:{self.route.model}{esc}] {self.usage.completion_tokens} tok{est}, "
                f"{self.timing.decode_tokens_per_s:.1f} tok/s, ttft {self.timing.ttft_s * 1000:.0f} ms, "
                f"{e.total_j:.2f} J ({share}; {sources}), ${self.cost_usd:.4f} - {self.route.reason}")
