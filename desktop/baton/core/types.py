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
    """One message of a conversation: ``role`` is ``system``, ``user`` or ``assistant``; ``content`` is its text."""

    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass
class GenerationRequest:
    """What an engine or a remote client is asked to generate: the messages (oldest first), at most ``max_tokens``
    answer tokens, ``temperature`` (0: greedy), ``top_p``, an optional ``seed``, and ``stop`` strings that end the
    answer where they first appear."""

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
    """How long one answer took. Units: s (``load_s``: loading the model for this request, 0 when it was loaded;
    ``ttft_s``: to the first token; ``total_s``: the whole answer) and tokens/s (``decode_tokens_per_s`` after the
    first token, ``prefill_tokens_per_s`` over the prompt). 0.0 where it was not measured."""

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
        """The signals as a plain dict (field name -> value; ``None`` where not read), as the router and the store
        keep them."""
        return asdict(self)


@dataclass
class Completion:
    """A finished answer: its ``text``, the ``model`` that wrote it, why it ended (``finish_reason``: ``stop``,
    ``length``, ``cancelled`` or ``loop``), its token ``usage``, its ``timing`` and the confidence ``signals``
    read from its tokens (empty for a remote tier)."""

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
    """One scope's energy over a request window. Units: J (``energy_j``; ``prefill_j``/``decode_j``, split at the
    first token, and ``net_j``, gross minus the idle baseline, are ``None`` when not known). ``scope`` is one of
    ``SCOPES``, ``source`` one of ``SOURCES`` (where the number came from); ``note`` says how it was read;
    ``flags`` mark doubts (``short_window``, ``wrap``, ``stale``, ``bad_data``)."""

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
        """True when the number comes from a sensor, counter, gauge or firmware model (``MEASURED_SOURCES``), False
        for an estimate or an unavailable part."""
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
        """All parts added (cross-checks are not). Units: J."""
        return sum(p.energy_j for p in self.parts)

    @property
    def measured_j(self) -> float:
        """The parts whose source is a measurement. Units: J."""
        return sum(p.energy_j for p in self.parts if p.measured)

    @property
    def estimated_j(self) -> float:
        """The parts whose source is not a measurement (estimates; unavailable parts count 0). Units: J."""
        return sum(p.energy_j for p in self.parts if not p.measured)

    def _sum_optional(self, attr: str) -> float | None:
        vals = [getattr(p, attr) for p in self.parts]
        if not vals or any(v is None for v in vals):
            return None
        return float(sum(vals))

    def merged(self, other: "Measurement") -> "Measurement":
        """A new measurement holding both windows: the parts and cross-checks of both, the durations added (Units:
        s). Neither is changed."""
        return Measurement(
            self.parts + other.parts, self.duration_s + other.duration_s, self.cross_checks + other.cross_checks
        )

    def to_dict(self) -> dict[str, Any]:
        """The receipt's ``energy`` object: ``total_j``, ``measured_j``, ``estimated_j`` (J, 4 decimals), the
        labelled ``parts``, ``prefill_j``/``decode_j``/``net_j`` (``None`` unless every part has one),
        ``measured_share`` (0..1, ``None`` when the total is 0) and the ``cross_checks``."""
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
        """The decision as a plain dict (field name -> value), the receipt's ``route`` object."""
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
