"""The calibrated scores both stages use, in one object the router and the benchmark share (fitted by
``baton.bench.fit``).

- ``p_prompt``: stage one, from the prompt alone: how likely the local model's answer is good.
- ``p_answer``: stage two, from the prompt plus the local answer (token confidence, finish, format).
- ``p_strong``: from the prompt alone: how likely the next tier's answer is good.
The decision compares them: escalate when the next tier is expected to do clearly better than the local
answer, ``p_answer < p_strong - margin``. Ranking by that gap (not by local confidence alone) is what keeps
the router from spending strong calls on questions both tiers fail. The user's history enters as offsets
in logits (see ``learning``).

Categories the fitted data never covered (``code`` and ``prose`` for the shipped defaults, fitted on
arithmetic and word problems) are not extrapolated: stage one never skips them, stage two uses the
token-signal model alone re-centred on ``unseen_prior``, and the next tier is assumed right with
``unseen_strong_prior``, until the user's own feedback moves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from baton.core.router.calibration import LogisticModel, logit, sigmoid

MIN_ITEMS_PER_CATEGORY = 20  # fewer than this in the fitted data: the category counts as unseen
HARD_FAIL_P = 0.01  # a loop or an empty answer is never accepted as good


@dataclass
class Calibration:
    """The router's score models and the numbers that turn them into decisions: ``stage_one`` (prompt only),
    ``stage_two`` (prompt and answer), ``signals_only`` (token signals, for categories the fit did not cover),
    ``strong`` (the next tier's chance, prompt only); per-category ``base_rates``/``strong_rates`` and ``trained``
    item counts; ``margin`` and ``skip_below`` (probabilities); the priors used for unseen categories; ``meta``
    (what it was fitted on). Fitted by ``baton.bench.fit``."""

    stage_one: LogisticModel
    stage_two: LogisticModel
    signals_only: LogisticModel
    strong: LogisticModel
    base_rates: dict[str, float]
    strong_rates: dict[str, float]
    trained: dict[str, int]
    margin: float
    skip_below: float
    unseen_prior: float = 0.6
    unseen_strong_prior: float = 0.8
    meta: dict[str, Any] = field(default_factory=dict)
    category_margins: dict[str, float] = field(default_factory=dict)

    def margin_for(self, category: str) -> float:
        """The margin for ``category``: its own (``category_margins``, set where a ladder's default point was fitted
        on that kind of question) or the shared ``margin``."""
        return float(self.category_margins.get(category, self.margin))

    # ---- scores ---------------------------------------------------------------------------------
    def covers(self, category: str) -> bool:
        """True when the fit saw at least ``MIN_ITEMS_PER_CATEGORY`` items of ``category``."""
        return self.trained.get(category, 0) >= MIN_ITEMS_PER_CATEGORY

    def base_rate(self, category: str) -> float:
        """The share of good local answers in ``category`` in the fitted data (``unseen_prior`` for an uncovered
        category)."""
        return self.base_rates[category] if self.covers(category) else self.unseen_prior

    def strong_rate(self, category: str) -> float:
        """The share of good next-tier answers in ``category`` in the fitted data (``unseen_strong_prior`` for an
        uncovered category)."""
        return self.strong_rates[category] if self.covers(category) else self.unseen_strong_prior

    def p_prompt(self, features: dict[str, float], category: str, offset: float = 0.0) -> float | None:
        """Stage one; ``None`` for a category the fit has not seen (no basis to skip the local model)."""
        if not self.covers(category):
            return None if offset == 0.0 else float(sigmoid(logit(self.unseen_prior) + offset))
        return self.stage_one.predict_one(features, offset)

    def p_answer(self, features: dict[str, float], category: str, offset: float = 0.0) -> float:
        """Stage two: the probability (0..1) that the local answer is good, with ``offset`` added in logits. A loop
        or an empty answer is ``HARD_FAIL_P``; an uncovered category uses the token-signal model re-centred on
        ``unseen_prior``."""
        if features.get("loop", 0.0) >= 1.0 or features.get("log_tokens", 1.0) <= 0.0:
            return HARD_FAIL_P
        if self.covers(category):
            return self.stage_two.predict_one(features, offset)
        m = self.signals_only
        x = np.array([float(features.get(n, 0.0)) for n in m.names])
        z = float(((x - m.mean) / m.scale) @ m.weights) + logit(self.unseen_prior) + offset
        return float(sigmoid(z))

    def p_strong(self, features: dict[str, float], category: str, offset: float = 0.0) -> float:
        """The probability (0..1) that the next tier answers well, from the prompt, with ``offset`` added in logits
        (``unseen_strong_prior`` for an uncovered category)."""
        if not self.covers(category):
            return float(sigmoid(logit(self.unseen_strong_prior) + offset))
        return self.strong.predict_one(features, offset)

    def explain(self, features: dict[str, float], category: str, top: int = 3) -> list[tuple[str, float]]:
        """The ``top`` features that moved stage two's score most, as (name, contribution in logits), for the
        receipt."""
        model = self.stage_two if self.covers(category) else self.signals_only
        return model.contributions(features, top)

    # ---- batch scores for the benchmark ---------------------------------------------------------
    def batch(self, rows: list[dict[str, float]], categories: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(p_prompt, p_answer, p_strong) per item; an unseen category's p_prompt is 1.0 (never skipped)."""
        p1 = np.array([(lambda v: 1.0 if v is None else v)(self.p_prompt(r, c)) for r, c in zip(rows, categories)])
        p2 = np.array([self.p_answer(r, c) for r, c in zip(rows, categories)])
        ps = np.array([self.p_strong(r, c) for r, c in zip(rows, categories)])
        return p1, p2, ps

    # ---- persistence ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every model and number (rounded to 6 decimals); ``from_dict`` reads it back."""
        return {
            "stage_one": self.stage_one.to_dict(), "stage_two": self.stage_two.to_dict(),
            "signals_only": self.signals_only.to_dict(), "strong": self.strong.to_dict(),
            "base_rates": {k: round(v, 6) for k, v in self.base_rates.items()},
            "strong_rates": {k: round(v, 6) for k, v in self.strong_rates.items()}, "trained": dict(self.trained),
            "margin": round(self.margin, 6), "skip_below": round(self.skip_below, 6),
            "unseen_prior": self.unseen_prior, "unseen_strong_prior": self.unseen_strong_prior, "meta": self.meta,
            "category_margins": {k: round(v, 6) for k, v in self.category_margins.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Calibration":
        """The calibration ``to_dict`` wrote (the shipped one is such a dict). Raises ``KeyError`` when a required
        field is missing."""
        return cls(LogisticModel.from_dict(d["stage_one"]), LogisticModel.from_dict(d["stage_two"]),
                   LogisticModel.from_dict(d["signals_only"]), LogisticModel.from_dict(d["strong"]),
                   dict(d["base_rates"]), dict(d["strong_rates"]), dict(d["trained"]), float(d["margin"]),
                   float(d["skip_below"]), float(d.get("unseen_prior", 0.6)),
                   float(d.get("unseen_strong_prior", 0.8)), dict(d.get("meta", {})),
                   {k: float(v) for k, v in d.get("category_margins", {}).items()})
