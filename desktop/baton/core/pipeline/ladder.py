"""The ladder: tiers cheapest first (``routing.ladder``), climbed one step at a time.

Stage one (``router.ladder_start``) picks the first tier to try (it may skip the first); after each answer the
question's examples are run against its code when verification is on (``pipeline.checks.Verifier``), and stage
two (``router.ladder_after``) keeps the answer or climbs one step. Local tiers run on ``LocalTier`` with that
tier's model (the service keeps several models resident); remote tiers on the service's ``RemoteTier`` (privacy
gate, approval in ask mode, offline mode and budgets exactly as for an escalation). Each answer is stored as it
streams; a climbed-over answer stays in the thread as an ``escalated`` version, and the final receipt lists every
step (``Step``) with what it cost and why it stopped there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from baton.config import Settings
from baton.config_rules import ConfigError
from baton.core.errors import CloudError, ModelError, PolicyError
from baton.core.pipeline.checks import as_dict
from baton.core.pipeline.turn import Phase, Progress, Turn
from baton.core.results import AskResult
from baton.core.store.records import Status
from baton.core.types import RouteDecision

FIX = "fix it with `baton config set routing.ladder A,B,C` (or empty it: `baton config set routing.ladder \"\"`)"


@dataclass(frozen=True)
class Rung:
    """One configured tier: ``name`` (shown in receipts), ``kind`` ``local`` or ``cloud``, ``spec`` (the model id
    or .gguf path for a local tier, the endpoint's name for a remote one)."""

    name: str
    kind: str
    spec: str


@dataclass
class Step:
    """One tier the ladder ran: ``tier`` (its name), ``kind``, ``where`` it ran, ``model``, ``tokens`` (prompt +
    completion), ``energy_j`` (J), ``usd`` (USD), ``verdict`` (``accepted``, ``rejected`` (climbed over),
    ``kept`` (judged weak, nowhere to climb) or ``cancelled``), the calibrated ``score`` (0..1, None when not
    judged), the verdict's one-line ``reason`` and the ``verification`` (``Verification.to_dict``) or None."""

    tier: str
    kind: str
    where: str
    model: str
    tokens: int
    energy_j: float
    usd: float
    verdict: str
    score: float | None
    reason: str
    verification: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The step as the receipt's ``ladder`` entry (energy rounded to mJ, dollars to 6 decimals)."""
        d = asdict(self)
        d["energy_j"], d["usd"] = round(self.energy_j, 3), round(self.usd, 6)
        d["score"] = None if self.score is None else round(self.score, 4)
        return d


def rungs(settings: Settings, resolve_model: Any) -> list[Rung]:
    """``routing.ladder`` resolved: a path-like entry or a model from `baton models` is a local tier, an endpoint
    name a remote one (a path wins, then an endpoint, then a model id). Raises ConfigError (one line naming the
    entry and the fix) for an entry that is neither, or a .gguf path that does not exist."""
    out: list[Rung] = []
    names = {ep.name for ep in settings.endpoints}
    for spec in settings.routing.ladder:
        pathlike = "/" in spec or spec.endswith(".gguf")
        if spec in names and not pathlike:
            out.append(Rung(spec, "cloud", spec))
            continue
        try:
            path, model_id = resolve_model(spec)
        except ModelError as e:
            what = ("its model file was not found" if pathlike
                    else "it is neither a model from `baton models` nor an endpoint from `baton endpoints list`")
            raise ConfigError(f"routing.ladder: '{spec}': {what} ({e}); {FIX}") from None
        out.append(Rung(Path(spec).stem if pathlike else model_id, "local", spec))
    return out


def ladder_line(steps: list[dict[str, Any]]) -> str:
    """The steps for people: ``tiers: smollm2 (2.1 J, rejected: 0 of 1 examples pass) -> qwen (5.3 J, accepted:
    1 of 1 examples pass)``; empty for no steps."""
    parts = []
    for s in steps:
        ver = s.get("verification") or {}
        why = ver.get("sentence") or (f"confidence {s['score']:.2f}" if s.get("score") is not None else "")
        cost = f"{float(s.get('energy_j') or 0):.1f} J" + (f", ${float(s['usd']):.4f}" if s.get("usd") else "")
        parts.append(f"{s.get('tier')} ({cost}, {s.get('verdict')}" + (f": {why})" if why else ")"))
    return "tiers: " + " -> ".join(parts) if parts else ""


class Ladder:
    """One request's walk up the ladder, built by ``begin`` at stage one; the service hands it to ``walk`` in
    place of a tier. ``kind``/``model``/``outgoing`` are the first tier's (the question is stored as that tier
    is sent it)."""

    def __init__(self, svc: Any, turn: Turn, rungs_: list[Rung]) -> None:
        self.svc = svc
        self.turn = turn
        self.rungs = rungs_
        self.index = 0
        self.first: Any = None
        self.skipped: list[str] = []

    # ---- stage one -------------------------------------------------------------------------
    @classmethod
    def begin(cls, svc: Any, turn: Turn) -> tuple["Ladder", RouteDecision]:
        """Stage one: where the walk starts and why. Raises ConfigError for a bad ladder entry, and the first
        usable tier's error (ModelError, PolicyError) when no tier can take the request at all."""
        walk = cls(svc, turn, rungs(svc.settings, svc.resolve_model))
        start, why = svc.router.ladder_start(turn.messages, len(walk.rungs))
        start = min(max(int(start), 0), len(walk.rungs) - 1)
        idx, tier = walk._usable_from(start, escalated=False, reason=why)
        if tier is None:  # nothing at or above the start: try the tiers below it, nearest first
            for below in range(start - 1, -1, -1):
                idx, tier = walk._usable_from(below, escalated=False, reason=why, upto=below)
                if tier is not None:
                    break
        if tier is None:
            raise PolicyError("no tier of routing.ladder can take this request: " + "; ".join(walk.skipped))
        walk.index, walk.first = idx, tier
        reason = f"ladder step {idx + 1} of {len(walk.rungs)} ({walk.rungs[idx].name}): {why}"
        if walk.skipped:
            reason += "; " + "; ".join(walk.skipped)
        signals = {"ladder": [r.name for r in walk.rungs], "ladder_start": idx, "tier": tier.kind}
        return walk, RouteDecision(tier.kind, tier.model, tier.endpoint, False, reason, signals)

    @property
    def kind(self) -> str:
        """The first tier's kind (``local`` or ``cloud``)."""
        return self.first.kind

    @property
    def model(self) -> str:
        """The first tier's model."""
        return self.first.model

    @property
    def endpoint(self) -> str | None:
        """The first tier's endpoint name (None for a local tier)."""
        return self.first.endpoint

    def outgoing(self, turn: Turn) -> Any:
        """The first tier's outgoing messages (the gate applied for a remote tier)."""
        return self.first.outgoing(turn)

    def _usable_from(self, idx: int, escalated: bool, reason: str, upto: int | None = None) -> tuple[int, Any]:
        """The first tier at or above ``idx`` (up to ``upto``) that can take the request now, as (index, tier);
        (-1, None) when none can (``skipped`` says why each could not)."""
        last = len(self.rungs) - 1 if upto is None else upto
        for i in range(idx, last + 1):
            try:
                return i, self._tier(self.rungs[i], escalated, reason)
            except (ModelError, PolicyError, CloudError) as e:
                self.skipped.append(f"skipped {self.rungs[i].name}: {e}")
        return -1, None

    def _tier(self, rung: Rung, escalated: bool, reason: str) -> Any:
        """``rung`` as a ready tier. Raises ModelError (does not load or the prompt does not fit its context),
        PolicyError (a remote tier that may not be used now: offline, budget, routing.mode never)."""
        svc, turn = self.svc, self.turn
        max_tokens = int(turn.params.max_tokens or 1)
        if rung.kind == "local":
            from baton.core.pipeline.local import LocalTier

            turn.on_status(Progress(Phase.LOADING, f"loading {rung.name}"))
            eng, load_s, notes = svc.local_engine(rung.spec)
            tier = LocalTier(eng, svc.meter, load_s)
            fit = tier.fit(turn.messages, max_tokens)
            if fit.overflow:
                raise ModelError(f"the prompt ({fit.prompt_tokens} tokens) does not fit its {eng.n_ctx}-token context")
            turn.notices.extend(n for n in notes if n not in turn.notices)
            return tier
        if svc.settings.routing.mode == "never" and escalated:
            raise PolicyError("routing.mode is 'never'")
        spend = svc.spend_today()
        needed = sum(len(m.content) for m in turn.messages) // 4 + max_tokens
        eligible, refused = svc.router.eligible_endpoints(spend, needed)
        if rung.spec not in {ep.name for ep in eligible}:
            raise PolicyError(refused.get(rung.spec) or "not eligible now")
        if svc.router.escalation_target(spend) is None:
            raise PolicyError("today's energy budget is spent (routing.budget_wh_per_day)")
        decision = RouteDecision("cloud", "", rung.spec, escalated, reason)
        return svc._remote(svc.settings.endpoint(rung.spec), decision, "auto")

    # ---- stage two: the walk ---------------------------------------------------------------
    def walk(self, decision: RouteDecision) -> AskResult:
        """Answer on the first tier, judge, climb one step at a time until an answer is accepted or the last
        tier answered; every answer is stored, the final one's receipt lists every step. A climb that fails
        (declined, refused by the gate, the endpoint failed) keeps the answer before it, said in its notices."""
        svc, turn, n = self.svc, self.turn, len(self.rungs)
        idx, tier, prior = self.index, self.first, None
        steps: list[dict[str, Any]] = []
        prev: tuple[AskResult, Any, RouteDecision] | None = None  # the answer climbed over last
        while True:
            try:
                result, run, writer, status = svc._run_tier(turn, tier, decision, prior)
            except (CloudError, PolicyError, ModelError) as e:
                if prev is None:
                    raise
                return self._keep(*prev, self.rungs[idx].name, e)
            cancelled = status == Status.CANCELLED
            verification = None if cancelled else svc.verifier.check(turn, run.completion.text)
            verdict = svc.router.ladder_after(idx, n, run.completion, run.sent, verification)
            decision.signals.update(verdict.signals)
            decision.signals["score"] = verdict.score
            nxt_idx, nxt, blocked = -1, None, ""
            if verdict.escalate and not cancelled and idx < n - 1:
                before = len(self.skipped)
                nxt_idx, nxt = self._usable_from(idx + 1, True, verdict.reason)
                blocked = "; ".join(self.skipped[before:])
            label = ("cancelled" if cancelled else "rejected" if nxt is not None else
                     "kept" if verdict.escalate else "accepted")
            c = run.completion
            ver = as_dict(verification)
            steps.append(Step(self.rungs[idx].name, tier.kind, tier.where, tier.model,
                              int(c.usage.prompt_tokens + c.usage.completion_tokens), float(run.energy.total_j),
                              float(run.usd), label, verdict.score, verdict.reason, ver).to_dict())
            result.ladder, result.verification = list(steps), ver
            if nxt is None:
                why = (f"{verdict.reason}, but no tier above may take it ({blocked})" if label == "kept"
                       else verdict.reason)
                decision.reason = f"{decision.reason}; stopped at {self.rungs[idx].name}: {why}"
                writer.finish(status, result.receipt())
                return result
            name = self.rungs[nxt_idx].name
            writer.finish(Status.ESCALATED, result.receipt(), note=f"climbed to {name}: {verdict.reason}")
            if nxt.kind == "local":  # the app replaces the text shown so far on this phase
                turn.on_status(Progress(Phase.ESCALATING, f"climbing to {name}: {verdict.reason}"))
            prev = (result, writer, decision)
            decision = RouteDecision(nxt.kind, nxt.model, nxt.endpoint, True,
                                     f"{decision.reason}; climbed to {name}: {verdict.reason}", dict(decision.signals))
            idx, tier, prior = nxt_idx, nxt, result

    def _keep(self, result: AskResult, writer: Any, decision: RouteDecision, name: str, e: Exception) -> AskResult:
        """A climb to ``name`` failed: the answer before it is current again, with the failure said."""
        result.notices.append(f"climbing to {name} failed, kept this answer: {e}")
        decision.reason = f"{decision.reason}; stopped: climbing to {name} failed: {e}"
        if result.ladder:
            result.ladder[-1] = {**result.ladder[-1], "verdict": "kept"}
        self.svc.store.finish_answer(writer.message_id, result.text, Status.DONE, result.receipt())
        return result
