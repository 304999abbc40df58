"""Small dataclasses shared by every layer. Units are in the names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Energy sources, best first. The first four are measurements; "estimated" is a model of power.
MEASURED_SOURCES = frozenset({"hw_counter", "sensor_integrated", "battery_gauge", "firmware_model"})
SOURCES = (*sorted(MEASURED_SOURCES), "estimated", "unavailable")
SCOPES = ("gpu_board", "cpu_package", "dram", "soc", "system_dc", "process", "remote")


@dataclass
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass
class GenerationRequest:
    messages: list[ChatMessage]
    max_tokens: int = 512
    temperature: float = 0.2
    top_p: float = 0.95
    seed: int | None = None
    stop: list[str] = field(default_factory=list)


@dataclass
class SamplingParams:
    """What the caller asks of one generation; ``None`` means "the settings' default".

    ``max_tokens`` in tokens; ``temperature`` >= 0 (0 is greedy); ``top_p`` in (0, 1]; ``stop``: strings that end
    the answer where they first appear (not included in it); ``seed`` makes sampling at temperature > 0 repeatable.
    """

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


@dataclass
class Usage:
    """Token counts of one answer. ``estimated`` is True when a count was not reported by whoever generated it
    (a server that sent no usage) and was derived from the text instead."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False


@dataclass
class Timing:
    load_s: float = 0.0
    ttft_s: float = 0.0
    total_s: float = 0.0
    decode_tokens_per_s: float = 0.0
    prefill_tokens_per_s: float = 0.0


@dataclass
class TokenSignals:
    """Confidence read from the tokens the model produced (via a logits processor)."""

    n_tokens: int = 0
    mean_top1_logprob: float | None = None
    min_top1_logprob: float | None = None
    first_top1_logprob: float | None = None
    mean_entropy: float | None = None
    max_entropy: float | None = None
    loop_detected: bool = False
    loop_span_tokens: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Completion:
    text: str
    model: str
    finish_reason: str  # "stop" | "length" | "cancelled" | "loop"
    usage: Usage
    timing: Timing
    signals: TokenSignals = field(default_factory=TokenSignals)


@dataclass
class Chunk:
    """One piece of a streamed answer. The last chunk has ``completion`` set (and usually no text)."""

    text: str
    completion: Completion | None = None


@dataclass
class EnergyPart:
    scope: str  # one of SCOPES
    source: str  # one of SOURCES
    energy_j: float
    note: str = ""
    prefill_j: float | None = None
    decode_j: float | None = None
    net_j: float | None = None
    flags: list[str] = field(default_factory=list)  # "short_window", "wrap", "stale", "bad_data"

    @property
    def measured(self) -> bool:
        return self.source in MEASURED_SOURCES


@dataclass
class Measurement:
    """Energy over one request window, split by scope, each part labelled with its source."""

    parts: list[EnergyPart] = field(default_factory=list)
    duration_s: float = 0.0
    # Whole-system readings (a discharging battery) that overlap the parts: shown, never added.
    cross_checks: list[EnergyPart] = field(default_factory=list)

    @property
    def total_j(self) -> float:
        return sum(p.energy_j for p in self.parts)

    @property
    def measured_j(self) -> float:
        return sum(p.energy_j for p in self.parts if p.measured)

    @property
    def estimated_j(self) -> float:
        return sum(p.energy_j for p in self.parts if not p.measured)

    def _sum_optional(self, attr: str) -> float | None:
        vals = [getattr(p, attr) for p in self.parts]
        if not vals or any(v is None for v in vals):
            return None
        return float(sum(vals))

    def merged(self, other: "Measurement") -> "Measurement":
        return Measurement(
            self.parts + other.parts, self.duration_s + other.duration_s, self.cross_checks + other.cross_checks
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_j": round(self.total_j, 4),
            "measured_j": round(self.measured_j, 4),
            "estimated_j": round(self.estimated_j, 4),
            "parts": [
                {
                    "scope": p.scope,
                    "source": p.source,
                    "energy_j": round(p.energy_j, 4),
                    "note": p.note,
                    "flags": list(p.flags),
                }
                for p in self.parts
            ],
            "prefill_j": self._sum_optional("prefill_j"),
            "decode_j": self._sum_optional("decode_j"),
            "net_j": self._sum_optional("net_j"),
            "measured_share": round(self.measured_j / self.total_j, 4) if self.total_j > 0 else None,
            "cross_checks": [
                {"scope": p.scope, "source": p.source, "energy_j": round(p.energy_j, 4), "note": p.note,
                 "flags": list(p.flags)}
                for p in self.cross_checks
            ],
        }


@dataclass
class RouteDecision:
    """Which tier answers and why (stage one's decision, updated by stage two before the receipt is built)."""

    tier: str  # "local" | "cloud"
    model: str
    endpoint: str | None = None
    escalated: bool = False
    reason: str = ""
    signals: dict[str, Any] = field(default_factory=dict)
    where: str = "this_computer"  # where the text was processed: this_computer | network | cloud

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LocalInfo:
    """What stage one of the router knows about the local tier for this request (no model call)."""

    n_ctx: int
    prompt_tokens: int
    max_tokens: int
    fits: bool
    model_id: str
    overflow: bool = False  # the prompt does not fit the context even after dropping old turns
