"""Baton's router: stage one before generating, stage two after the local answer, learning from the user.

Stage one (``before``), no model call, in this order: user pins, hard limits (prompt plus answer budget
over the local context, the model does not fit), then the learned per-category prior ("local is
hopeless here": skip to the next tier). Offline mode and budgets decide which remote tiers are
eligible at all. Stage two (``after``): a calibrated probability that the local answer is good, from the
token signals, the finish reason and format checks (optionally blended with a self-check by the local
model); escalate when it is under the threshold. The privacy gate is applied by the remote tier
(``baton.core.cloud.tiers.gate``) to the request exactly as it will be sent, before anything leaves the machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from baton.config import Endpoint, RoutingSettings
from baton.core.cloud.client import is_loopback_url
from baton.core.errors import ContextOverflow, ModelDoesNotFit, PolicyError, UsageError
from baton.core.router.features import completion_features, last_user_text, prompt_vector
from baton.core.router.ladder import LadderJudge
from baton.core.router.learning import KeyValueStore, Learned
from baton.core.router.scoring import Calibration
from baton.core.types import Completion, LocalInfo, RouteDecision

TIERS = ("auto", "local", "cloud")
_SIGNAL_WORDS = {
    "mean_lp": "average token confidence", "min_lp": "least confident token", "first_lp": "first token confidence",
    "mean_entropy": "average uncertainty", "max_entropy": "peak uncertainty", "log_tokens": "answer length",
    "finish_length": "answer cut at the token limit", "loop": "repetition loop", "no_number": "no number in the answer",
    "echo_number": "answer only repeats a number from the question", "log_answer_numbers": "numbers juggled",
    "refusal": "refusal", "max_digits": "size of the numbers", "total_digits": "digits in the question",
}


@dataclass
class Verdict:
    """Stage two's judgement of a local answer: ``escalate`` or not, the calibrated ``score`` (probability the answer
    is good, 0..1) against the ``threshold``, a one-line ``reason`` for the receipt, and the ``signals`` behind it
    (category, features, p_strong, self-check)."""

    escalate: bool
    score: float
    threshold: float
    reason: str
    signals: dict[str, Any] = field(default_factory=dict)


def _max_cost_usd(ep: Endpoint, tokens: int) -> float:
    """The most ``tokens`` tokens could cost at ``ep``'s rates (all priced at the dearer of in and out). Units: USD."""
    return tokens * max(ep.usd_per_mtok_in, ep.usd_per_mtok_out) / 1e6


def _charges_money(ep: Endpoint) -> bool:
    return ep.usd_per_mtok_in > 0 or ep.usd_per_mtok_out > 0


class Router:
    """Decides which tier answers (``before``), whether a local answer is good enough (``after``) and learns from the
    user's feedback (``record_feedback``).

    ``routing``: the routing settings; ``store``: where learned counts persist (``None``: nothing persists);
    ``endpoints``: the remote tiers, cheapest first; ``offline``: only loopback endpoints are eligible (also when
    ``routing.mode`` is ``offline``); ``calibration``: the score models (default: the shipped ones);
    ``self_check(question, answer) -> p`` in 0..1, blended in when ``routing.self_check`` is on."""

    def __init__(self, routing: RoutingSettings, store: KeyValueStore | None = None,
                 endpoints: Sequence[Endpoint] = (), offline: bool = False,
                 calibration: Calibration | None = None,
                 self_check: Callable[[str, str], float] | None = None,
                 ladder_calibrations: Sequence[Calibration] | None = None) -> None:
        if calibration is None:
            from baton.core.router.shipped import shipped_calibration

            calibration = shipped_calibration()
        if ladder_calibrations is None:
            from baton.core.router.shipped import shipped_ladder

            ladder_calibrations = shipped_ladder()
        self.routing = routing
        self.store = store
        self.endpoints = list(endpoints)
        self.offline = offline or routing.mode == "offline"
        self.calibration = calibration
        self.self_check = self_check
        self.learned = Learned.load(store)
        self.ladder = LadderJudge(ladder_calibrations or [calibration], self._offsets, routing.threshold)

    # ---- tiers -------------------------------------------------------------------------------------
    def eligible_endpoints(self, spend_today: dict[str, float] | None = None,
                           needed_tokens: int = 0) -> tuple[list[Endpoint], dict[str, str]]:
        """Remote tiers that may be used now, in order, and why each other one may not."""
        spend = spend_today or {}
        usd_left = self.routing.budget_usd_per_day - float(spend.get("usd", 0.0))
        ok: list[Endpoint] = []
        refused: dict[str, str] = {}
        for ep in self.endpoints:
            if self.offline and not is_loopback_url(ep.base_url):
                refused[ep.name] = "offline mode: only loopback endpoints may be contacted"
            elif _charges_money(ep) and self.routing.budget_usd_per_day > 0 and usd_left <= 0:
                refused[ep.name] = (f"today's cloud budget (${self.routing.budget_usd_per_day:.2f}) is spent; "
                                    "raise routing.budget_usd_per_day")
            elif (_charges_money(ep) and self.routing.budget_usd_per_day > 0 and needed_tokens
                  and _max_cost_usd(ep, needed_tokens) > usd_left):
                refused[ep.name] = (f"this request could cost up to ${_max_cost_usd(ep, needed_tokens):.4f} and today's "
                                    f"cloud budget has ${usd_left:.4f} left; raise routing.budget_usd_per_day or "
                                    "lower --max-tokens")
            elif needed_tokens and ep.context_window and needed_tokens > ep.context_window:
                refused[ep.name] = f"needs {needed_tokens} tokens, its context is {ep.context_window}"
            else:
                ok.append(ep)
        return ok, refused

    def escalation_target(self, spend_today: dict[str, float] | None = None) -> Endpoint | None:
        """The remote tier an escalation goes to now, or None when none may be used."""
        eligible, _ = self.eligible_endpoints(spend_today)
        if not eligible or self._energy_budget_spent(spend_today):
            return None
        return eligible[0]

    def _energy_budget_spent(self, spend_today: dict[str, float] | None) -> bool:
        limit_wh = self.routing.budget_wh_per_day
        return limit_wh > 0 and float((spend_today or {}).get("energy_j", 0.0)) / 3600.0 >= limit_wh

    def threshold_for(self, p_strong: float) -> float:
        """Escalate a local answer whose confidence is under this: the next tier's expected accuracy (which
        feedback moves) minus the calibrated margin, or the user's fixed ``routing.threshold``."""
        base = self.routing.threshold if self.routing.threshold >= 0 else p_strong - self.calibration.margin
        return min(1.0, max(0.0, base))

    def _offsets(self, category: str) -> tuple[float, float]:
        cal = self.calibration
        return (self.learned.prior_offset(category, cal.base_rate(category), "local"),
                self.learned.prior_offset(category, cal.strong_rate(category), "strong"))

    # ---- stage one ---------------------------------------------------------------------------------
    def before(self, messages: Sequence[Any], local: LocalInfo, tier: str = "auto",
               spend_today: dict[str, float] | None = None, endpoint: str | None = None) -> RouteDecision:
        """Stage one, no model call: which tier answers ``messages`` and why.

        ``tier`` ``local``/``cloud`` pins the tier; ``endpoint`` pins one remote endpoint by name (it must be
        eligible now). Raises PolicyError when the pinned tier or endpoint may not be used (offline, budget),
        UsageError for an unknown tier, ModelDoesNotFit/ContextOverflow when only the local tier could answer.
        """
        if tier not in TIERS:
            raise UsageError(f"tier must be one of {', '.join(TIERS)}, not '{tier}'")
        text = last_user_text(list(messages))
        feats = prompt_vector(text)
        category = next((c[4:] for c, v in feats.items() if c.startswith("cat_") and v), "prose")
        # the prompt's tokens from the local tokenizer, or 4 characters a token when no local model is loaded
        prompt_tokens = local.prompt_tokens or sum(len(str(getattr(m, "content", ""))) for m in messages) // 4
        needed = prompt_tokens + local.max_tokens
        eligible, refused = self.eligible_endpoints(spend_today, needed)
        energy_spent = self._energy_budget_spent(spend_today)
        mode = self.routing.mode
        off_local, off_strong = self._offsets(category)
        p1 = self.calibration.p_prompt(feats, category, off_local)
        p_strong = self.calibration.p_strong(feats, category, off_strong)
        threshold = self.threshold_for(p_strong)
        skip_below = min(self.calibration.skip_below, threshold)
        signals: dict[str, Any] = {
            "category": category, "tier": "local", "p_local_prompt": None if p1 is None else round(p1, 4),
            "p_strong": round(p_strong, 4), "threshold": round(threshold, 4), "skip_below": round(skip_below, 4),
            "mode": mode,
            "offline": self.offline, "refused_endpoints": refused, "prompt_tokens": local.prompt_tokens,
            "n_ctx": local.n_ctx, "max_tokens": local.max_tokens, "prompt_features": feats,
        }
        may_escalate = mode in ("auto", "ask") and bool(eligible) and not energy_spent
        why_not = self._why_no_escalation(mode, eligible, refused, energy_spent)
        overflow = local.overflow

        def local_decision(reason: str, escalate_ok: bool) -> RouteDecision:
            signals.update(may_escalate=escalate_ok, no_escalation_reason=None if escalate_ok else why_not,
                           next_endpoint=eligible[0].name if eligible and escalate_ok else None,
                           needs_approval=escalate_ok and mode == "ask")
            return RouteDecision("local", local.model_id, None, False, reason, signals)

        def cloud_decision(reason: str) -> RouteDecision:
            ep = eligible[0]
            loop = is_loopback_url(ep.base_url)
            signals.update(tier="cloud", may_escalate=False, endpoint_loopback=loop, privacy_check=not loop,
                           needs_approval=mode == "ask" and tier != "cloud", next_endpoint=None)
            return RouteDecision("cloud", ep.model, ep.name, False, reason, signals)

        if tier == "local":
            self._check_local(local, overflow)
            return local_decision("pinned to the local model by the user", False)
        if endpoint is not None:
            pinned = [ep for ep in eligible if ep.name == endpoint]
            if not pinned:
                why = refused.get(endpoint) or "no endpoint by that name (add one with `baton endpoints add`)"
                raise PolicyError(f"endpoint '{endpoint}' cannot take this request: {why}")
            eligible = pinned + [ep for ep in eligible if ep.name != endpoint]
            return cloud_decision(f"pinned to {endpoint} by the user")
        if tier == "cloud":
            if not eligible:
                raise PolicyError(f"no remote tier can take this request: {why_not}")
            return cloud_decision(f"pinned to {eligible[0].name} by the user")
        if not local.fits or overflow:
            if eligible and mode != "never":
                what = ("the local model does not fit in memory" if not local.fits else
                        f"prompt ({local.prompt_tokens}) + answer budget ({local.max_tokens}) tokens exceed "
                        f"the local context ({local.n_ctx})")
                return cloud_decision(f"{what}; sent to {eligible[0].name}")
            self._check_local(local, overflow, why_not)
        # the skip is an optimisation of `auto`; in `ask` mode the user approves escalations of real answers
        if p1 is not None and may_escalate and mode == "auto" and p1 < skip_below:
            return cloud_decision(
                f"local is hopeless on {category.replace('_', ' ')} questions like this "
                f"(p={p1:.2f} < {skip_below:.2f}, next tier p={p_strong:.2f}); skipped to {eligible[0].name}")
        reason = "local first" + (f" (p={p1:.2f} from the prompt)" if p1 is not None else "")
        return local_decision(reason, may_escalate)

    @staticmethod
    def _why_no_escalation(mode: str, eligible: list[Endpoint], refused: dict[str, str], energy_spent: bool) -> str:
        if mode == "never":
            return "routing.mode is 'never'"
        if energy_spent:
            return "today's energy budget is spent (routing.budget_wh_per_day)"
        if not eligible:
            if refused:
                return "; ".join(f"{k}: {v}" for k, v in refused.items())
            return "no endpoint is configured (add one with `baton endpoints add`)"
        return ""

    @staticmethod
    def _check_local(local: LocalInfo, overflow: bool, why_not: str = "") -> None:
        extra = f" No remote tier can take it: {why_not}." if why_not else ""
        if not local.fits:
            raise ModelDoesNotFit(f"{local.model_id or 'the local model'} does not fit in this machine's memory; "
                                  f"pick a smaller model with --model or add an endpoint.{extra}")
        if overflow:
            raise ContextOverflow(
                f"the prompt ({local.prompt_tokens} tokens) plus the answer budget ({local.max_tokens}) exceed "
                f"{local.model_id or 'the local model'}'s {local.n_ctx}-token context; shorten the prompt, lower "
                f"--max-tokens or raise engine.n_ctx.{extra}")

    # ---- stage two ---------------------------------------------------------------------------------
    def after(self, completion: Completion, messages: Sequence[Any],
              decision: RouteDecision | None = None) -> Verdict:
        """Stage two, no model call (unless a self-check is set): judge the local ``completion`` to ``messages``.
        Escalate when the calibrated probability that it is good (optionally the geometric mean with the
        self-check) is under ``threshold_for(p_strong)``; never for a cancelled answer, nor when stage one's
        ``decision`` said it may not escalate (the reason says why)."""
        question = last_user_text(list(messages))
        feats = prompt_vector(question)
        category = next((c[4:] for c, v in feats.items() if c.startswith("cat_") and v), "prose")
        feats.update(completion_features(question, completion))
        off_local, off_strong = self._offsets(category)
        score = self.calibration.p_answer(feats, category, off_local)
        p_strong = self.calibration.p_strong(feats, category, off_strong)
        signals: dict[str, Any] = {"category": category, "tier": "local", "model_score": round(score, 4),
                                   "p_strong": round(p_strong, 4),
                                   "features": {k: round(v, 4) for k, v in feats.items()},
                                   "finish_reason": completion.finish_reason}
        if self.routing.self_check and self.self_check is not None and completion.text.strip():
            p_self = min(1.0, max(0.0, float(self.self_check(question, completion.text))))
            signals["self_check"] = round(p_self, 4)
            score = math.sqrt(max(score, 1e-9) * max(p_self, 1e-9))  # geometric mean of the two
        threshold = self.threshold_for(p_strong)
        signals["threshold"] = round(threshold, 4)
        drivers = self.calibration.explain(feats, category)
        why = ", ".join(f"{_SIGNAL_WORDS.get(n, n.replace('_', ' '))} {'+' if c > 0 else '-'}" for n, c in drivers)
        if completion.finish_reason == "cancelled":
            return Verdict(False, score, threshold, "stopped by the user; not escalated", signals)
        escalate = score < threshold
        if escalate and decision is not None and not decision.signals.get("may_escalate", True):
            reason = (f"confidence {score:.2f} < {threshold:.2f} but not escalated: "
                      f"{decision.signals.get('no_escalation_reason') or 'pinned'}")
            return Verdict(False, score, threshold, reason, signals)
        cmp = "<" if escalate else ">="
        verb = "escalate" if escalate else "keep local"
        digits = next((d for d in (2, 3, 4, 6) if f"{score:.{d}f}" != f"{threshold:.{d}f}"), 6)
        return Verdict(escalate, score, threshold, f"{verb}: confidence {score:.{digits}f} {cmp} {threshold:.{digits}f} "
                       f"(next tier expected {p_strong:.2f}; {why})", signals)

    # ---- a ladder of tiers ---------------------------------------------------------------------------
    def ladder_start(self, messages: Sequence[Any], n_tiers: int) -> tuple[int, str]:
        """Stage one on a ladder of ``n_tiers`` (cheapest first): the index of the first tier to try and why
        (``LadderJudge.start``)."""
        return self.ladder.start(messages, n_tiers)

    def ladder_after(self, step: int, n_tiers: int, completion: Completion, messages: Sequence[Any],
                     verification: Any = None) -> Verdict:
        """Stage two at tier ``step`` of a ladder: climb one step or keep the answer (``LadderJudge.after``)."""
        return self.ladder.after(step, n_tiers, completion, messages, verification)

    # ---- learning ----------------------------------------------------------------------
    def record_feedback(self, message_features: dict[str, Any], kind: str, value: float | None = None,
                        tier: str | None = None) -> dict[str, Any]:
        """Learn from the user's judgement of an answer: ``accept``, ``escalate`` (asked for another tier by
        hand) or ``rate`` (``value`` from 0 = bad to 1 = good). ``message_features`` is the route's
        ``signals`` dict stored with the message; ``tier`` is the tier that produced the judged answer
        (the receipt's ``route.tier``; default: the one in ``message_features``)."""
        category = str(message_features.get("category") or "prose")
        tier = tier or str(message_features.get("tier") or "local")
        changed = self.learned.update(category, kind, value, tier="local" if tier == "local" else "strong")
        self.learned.save(self.store)
        return {"learned": True, "category": category, "tier": tier, **changed}
