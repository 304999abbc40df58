"""The router's judgement on a ladder of tiers (cheapest first): where to start and whether to climb one step.

Step ``s`` (0-based) is judged by the calibration fitted on the pair (tier ``s``, tier ``s + 1``) of the ladder the
shipped numbers were fitted on (``shipped.shipped_ladder``: SmolLM2-135M -> Qwen2.5-Coder-0.5B -> Qwen2.5-Coder-1.5B);
a longer ladder reuses the last step's calibration. The rule is the two-tier one, per step: climb when the
calibrated probability that this answer is good is under the next tier's expected accuracy minus the step's
margin. For code, the answer's features include whether it parses, defines what was asked, and how many of the
question's own examples it passed when they were run in the sandbox (``baton.core.verify``); a failed example is
the strongest reason to climb. Stage one may start at the second tier when the first is hopeless for this kind of
question (its prompt-only probability under the step's skip level and under the climbing line). The last tier's
answer is never judged to climb further.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from baton.core.router.features import completion_features, last_user_text, prompt_vector
from baton.core.router.scoring import Calibration
from baton.core.types import Completion

HOPELESS_RATE = 0.10  # a first tier whose prompt-only chance is under this is skipped outright


def hopeless_kind(cal: Calibration, category: str, p_first: float | None) -> bool:
    """True when the first tier is hopeless for this question: the fit saw enough of its kind
    (``Calibration.covers``), the prompt-only probability ``p_first`` that the first tier answers well is under
    ``HOPELESS_RATE`` and the next tier did better on this kind in the fitted data."""
    return (p_first is not None and cal.covers(category) and p_first < HOPELESS_RATE
            and cal.strong_rate(category) > p_first)


def _category(feats: dict[str, float]) -> str:
    return next((c[4:] for c, v in feats.items() if c.startswith("cat_") and v), "prose")


class LadderJudge:
    """Stage one and stage two on a ladder.

    ``calibrations``: one per step (pair of neighbouring tiers), cheapest step first (at least one);
    ``offsets(category) -> (local, strong)``: the user's learned offsets in logits, applied to the first step;
    ``fixed_threshold``: the user's ``routing.threshold`` (negative: use the calibrated line)."""

    def __init__(self, calibrations: Sequence[Calibration], offsets: Any = None, fixed_threshold: float = -1.0) -> None:
        if not calibrations:
            raise ValueError("a ladder judge needs at least one calibration")
        self.calibrations = list(calibrations)
        self.offsets = offsets
        self.fixed_threshold = fixed_threshold

    def calibration(self, step: int) -> Calibration:
        """The calibration that judges an answer of tier ``step`` (the last one for steps past the fitted ladder)."""
        return self.calibrations[min(max(step, 0), len(self.calibrations) - 1)]

    def _offsets(self, step: int, category: str) -> tuple[float, float]:
        if step != 0 or self.offsets is None:
            return 0.0, 0.0
        return self.offsets(category)

    def _line(self, cal: Calibration, p_next: float, category: str) -> float:
        base = self.fixed_threshold if self.fixed_threshold >= 0 else p_next - cal.margin_for(category)
        return min(1.0, max(0.0, base))

    def start(self, messages: Sequence[Any], n_tiers: int) -> tuple[int, str]:
        """Stage one, no model call: the index (0 or 1) of the first tier to try on a ladder of ``n_tiers`` and a
        one-line reason."""
        text = last_user_text(list(messages))
        feats = prompt_vector(text)
        category = _category(feats)
        cal = self.calibration(0)
        off_local, off_next = self._offsets(0, category)
        p1 = cal.p_prompt(feats, category, off_local)
        if n_tiers < 2 or p1 is None:
            return 0, "first tier first" + ("" if p1 is not None else f" (no fitted data on {category} questions)")
        if hopeless_kind(cal, category, p1):
            return 1, (f"first tier is hopeless on {category.replace('_', ' ')} questions like this (p={p1:.2f}; "
                       f"it was right on {cal.base_rate(category):.0%} of them, the next tier on "
                       f"{cal.strong_rate(category):.0%}); started one step up")
        p_next = cal.p_strong(feats, category, off_next)
        line = self._line(cal, p_next, category)
        if p1 < min(cal.skip_below, line):
            return 1, (f"first tier is hopeless on {category.replace('_', ' ')} questions like this "
                       f"(p={p1:.2f} < {min(cal.skip_below, line):.2f}, next tier p={p_next:.2f}); started one step up")
        return 0, f"first tier first (p={p1:.2f} from the prompt)"

    def after(self, step: int, n_tiers: int, completion: Completion, messages: Sequence[Any],
              verification: Any = None) -> "Verdict":
        """Stage two at tier ``step`` of ``n_tiers``: climb one step or keep this answer. ``verification``: the
        ``baton.core.verify.Verification`` of this answer's code against the question's examples (``None``: not
        run). Never climbs from the last tier or from a cancelled answer."""
        from baton.core.router.policy import Verdict

        question = last_user_text(list(messages))
        feats = prompt_vector(question)
        category = _category(feats)
        feats.update(completion_features(question, completion, verification))
        cal = self.calibration(step)
        off_local, off_next = self._offsets(step, category)
        score = cal.p_answer(feats, category, off_local)
        p_next = cal.p_strong(feats, category, off_next)
        line = self._line(cal, p_next, category)
        signals: dict[str, Any] = {"category": category, "step": step, "n_tiers": n_tiers,
                                   "model_score": round(score, 4), "p_next": round(p_next, 4),
                                   "threshold": round(line, 4),
                                   "features": {k: round(v, 4) for k, v in feats.items()},
                                   "finish_reason": completion.finish_reason}
        checked = ""
        if verification is not None:
            signals["verification"] = verification.to_dict()
            checked = f"; {verification.sentence}"
        if completion.finish_reason == "cancelled":
            return Verdict(False, score, line, "stopped by the user; not climbed", signals)
        if step >= n_tiers - 1:
            return Verdict(False, score, line, f"last tier: kept (confidence {score:.2f}{checked})", signals)
        climb = score < line
        cmp = "<" if climb else ">="
        verb = "climb one step" if climb else "keep"
        return Verdict(climb, score, line, f"{verb}: confidence {score:.2f} {cmp} {line:.2f} "
                       f"(next tier expected {p_next:.2f}{checked})", signals)
