"""Stage two for a plain local answer (no ladder): keep it, or escalate to the first remote tier that may take it."""

from __future__ import annotations

from typing import Any

from baton.core.errors import CloudError, PolicyError
from baton.core.pipeline.turn import TierRun, Turn
from baton.core.results import AskResult
from baton.core.store.records import Status
from baton.core.store.writer import AnswerWriter
from baton.core.types import RouteDecision


def stage_two(svc: Any, turn: Turn, decision: RouteDecision, run: TierRun, local: AskResult,
              writer: AnswerWriter) -> AskResult | None:
    """Judge the local answer (``router.after``) on service ``svc``; when it is too weak, mark it escalated and
    answer on the next remote tier (``svc._answer``). Returns the escalated result, the local one made current
    again when the escalation failed (the failure in its notices), or None to keep the local answer as it is
    (``decision.reason`` says why)."""
    verdict = svc.router.after(run.completion, run.sent, decision)
    decision.signals.update(verdict.signals)
    decision.signals["score"] = verdict.score
    if not verdict.escalate:
        decision.reason = f"{decision.reason}; kept: {verdict.reason}"
        return None
    name = decision.signals.get("next_endpoint")
    target = svc.settings.endpoint(name) if name else svc.router.escalation_target(svc.spend_today())
    if target is None:
        decision.reason = f"{decision.reason}; would escalate ({verdict.reason}) but no remote tier may take it"
        return None
    esc = RouteDecision("cloud", target.model, target.name, True, f"escalated: {verdict.reason}",
                        dict(decision.signals))
    try:
        remote = svc._remote(target, esc, turn.mode)
        writer.finish(Status.ESCALATED, local.receipt(), note=f"escalated to {target.name}: {verdict.reason}")
        return svc._answer(turn, remote, esc, prior=local)
    except (CloudError, PolicyError) as e:
        local.notices.append(f"escalation failed, kept the local answer: {e}")
        decision.reason = f"{decision.reason}; escalation failed: {e}"
        if writer.finished:  # the local answer was already marked superseded: it is current again
            svc.store.finish_answer(writer.message_id, local.text, Status.DONE, local.receipt())
            return local
        return None
