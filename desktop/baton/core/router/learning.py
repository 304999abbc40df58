"""What the router learns from its user, persisted in the store's key/value table.

Per category it keeps two Beta counts:
- a Beta count of local answers that were good (accepted, or rated well) and bad (escalated by hand,
  or rated badly). Its posterior mean, against the shipped base rate of the category, becomes an offset
  in logits added to both stages' local scores: a category where the user keeps escalating drifts towards
  "local is hopeless here" and stage one starts skipping the local model;
- the same count for answers of the remote tier (accepted, rated, or retried on another tier), which
  moves the expected accuracy of the next tier the decision compares against.
Together they move the escalation line per category: where the user keeps escalating local answers and
accepts the remote ones, Baton escalates more (and stage one starts skipping the local model); where the
remote tier's answers get rejected too, it stops paying for escalations that do not help. (A separate
threshold nudged by hand escalations was tried and dropped: where both tiers fail, every answer is
escalated by hand and such a threshold only keeps buying useless remote calls.)

A judgement of a remote answer teaches only the remote count. Items used to score the router are never
fed here in the benchmark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from baton.core.errors import UsageError
from baton.core.router.calibration import logit

KV_KEY = "router.learned.v1"
FEEDBACK_KINDS = ("accept", "escalate", "rate")
PRIOR_STRENGTH = 8.0  # pseudo-observations the shipped base rate is worth


class KeyValueStore(Protocol):
    """The part of ``baton.core.store.Store`` the router uses."""

    def kv_get(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key``, or ``default``."""

    def kv_set(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable ``value`` under ``key`` (replacing it)."""


@dataclass
class CategoryState:
    """The user's judgements in one category, as Beta pseudo-counts (fractions for ratings): ``good``/``bad`` for
    local answers, ``strong_good``/``strong_bad`` for remote ones."""

    good: float = 0.0
    bad: float = 0.0
    strong_good: float = 0.0
    strong_bad: float = 0.0

    @property
    def n(self) -> float:
        """How many local answers were judged (``good + bad``)."""
        return self.good + self.bad


@dataclass
class Learned:
    """Everything the router learned from its user: a ``CategoryState`` per category and the number of feedback
    events, kept in the store under ``KV_KEY``."""

    categories: dict[str, CategoryState] = field(default_factory=dict)
    n_feedback: int = 0

    # ---- persistence ---------------------------------------------------------------------------
    @classmethod
    def load(cls, store: KeyValueStore | None) -> "Learned":
        """What ``save`` stored (nothing learned when ``store`` is None or holds nothing)."""
        if store is None:
            return cls()
        raw = store.kv_get(KV_KEY, None) or {}
        cats = {
            name: CategoryState(float(v.get("good", 0)), float(v.get("bad", 0)), float(v.get("strong_good", 0)),
                                float(v.get("strong_bad", 0)))
            for name, v in (raw.get("categories") or {}).items()
        }
        return cls(cats, int(raw.get("n_feedback", 0)))

    def save(self, store: KeyValueStore | None) -> None:
        """Write the counts (rounded to 4 decimals) to ``store`` under ``KV_KEY``; nothing when ``store`` is None."""
        if store is None:
            return
        store.kv_set(KV_KEY, {
            "categories": {k: {"good": round(v.good, 4), "bad": round(v.bad, 4),
                               "strong_good": round(v.strong_good, 4), "strong_bad": round(v.strong_bad, 4)}
                           for k, v in self.categories.items()},
            "n_feedback": self.n_feedback,
        })

    # ---- reading ---------------------------------------------------------------------------------
    def state(self, category: str) -> CategoryState:
        """The counts for ``category`` (all zero when it was never judged)."""
        return self.categories.get(category, CategoryState())

    def prior_offset(self, category: str, base_rate: float, tier: str = "local") -> float:
        """Logit shift from the shipped base rate to the user's posterior for this category and tier."""
        s = self.state(category)
        good, bad = (s.good, s.bad) if tier == "local" else (s.strong_good, s.strong_bad)
        if good + bad <= 0:
            return 0.0
        posterior = (PRIOR_STRENGTH * base_rate + good) / (PRIOR_STRENGTH + good + bad)
        return logit(posterior) - logit(base_rate)

    # ---- learning --------------------------------------------------------------------------------
    def update(self, category: str, kind: str, value: float | None = None, tier: str = "local") -> dict[str, float]:
        """Apply one piece of feedback on an answer of ``tier``; returns what changed."""
        if kind not in FEEDBACK_KINDS:
            raise UsageError(f"feedback kind must be one of {', '.join(FEEDBACK_KINDS)}, not '{kind}'")
        s = self.categories.setdefault(category, CategoryState())
        if tier != "local":
            good = 1.0 if kind == "accept" else 0.0 if kind == "escalate" else rating_to_good(value)
            s.strong_good += good
            s.strong_bad += 1.0 - good
            self.n_feedback += 1
            return {"strong_good": s.strong_good, "strong_bad": s.strong_bad}
        good = 1.0 if kind == "accept" else 0.0 if kind == "escalate" else rating_to_good(value)
        s.good += good
        s.bad += 1.0 - good
        self.n_feedback += 1
        return {"good": s.good, "bad": s.bad}


def rating_to_good(value: float | None) -> float:
    """A rating is the share of 'good' in 0..1 (a UI with stars maps 1..5 to 0, 0.25, .., 1 first)."""
    if value is None or not math.isfinite(float(value)) or not 0.0 <= float(value) <= 1.0:
        raise UsageError(f"a 'rate' feedback needs a value from 0 (bad) to 1 (good), not {value!r}")
    return float(value)
