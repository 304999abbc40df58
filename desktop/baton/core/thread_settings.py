"""A thread's own settings applied to a request, its budgets enforced, and the route previewed before sending.

``for_ask`` is called once by ``BatonService.ask``: where the caller leaves a choice open, the thread's setting fills
it: ``model`` None takes the thread's model (``'ladder'`` leaves the choice to the routing ladder), ``tier`` ``auto``
(the default, with no endpoint pinned) takes the thread's tier mode, a temperature of None takes the thread's. The
thread's system prompt replaces Baton's default one (a client that sends its own ``messages`` keeps its own).

Budgets, what users expect of a thread with a spending cap:
- dollars (``budget_usd``): once the thread's counted answers cost that much, nothing more is sent to a remote tier
  for it. A question pinned to the cloud or to an endpoint is refused (``PolicyError``, one line); an ``auto``
  question is answered on this computer only (no escalation), and the receipt says so.
- joules (``budget_j``): once spent, answers carry a warning; only when the budget is a hard limit
  (``budget_hard``) are local and ``auto`` questions refused (a question pinned to a remote tier still goes, since
  that does not burn this computer's energy; its estimate is counted all the same).
Nothing is written when a request is refused.

``preview_route`` is stage one of the router without generating: the same settings and budgets, the router's
``before`` on an estimate of the prompt's tokens (4 characters a token), and never a model load.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from baton.core.errors import BatonError, ModelDoesNotFit, PolicyError
from baton.core.pipeline.history import alternate, history_from_path
from baton.core.pipeline.local import answer_reserve
from baton.core.store.thread_ops import LADDER
from baton.core.types import ChatMessage, LocalInfo, SamplingParams


@dataclass
class AskPlan:
    """A request after the thread's settings: ``model``, ``tier``, ``endpoint`` and ``params`` to use, the thread's
    ``system`` prompt (``''``: Baton's default), the ``notices`` for the receipt, and ``from_thread``: the names of the
    choices the thread's settings made (for explaining the route)."""

    model: str | None
    tier: str
    endpoint: str | None
    params: SamplingParams | None
    system: str = ""
    notices: list[str] = field(default_factory=list)
    from_thread: list[str] = field(default_factory=list)


def for_ask(store: Any, thread_id: str | None, model: str | None, tier: str | None, endpoint: str | None,
            params: SamplingParams | None) -> AskPlan:
    """The request with thread ``thread_id``'s settings applied and its budgets checked (see the module's text).
    ``thread_id`` None (a new thread) changes nothing. Raises ``PolicyError`` (one line) when a budget refuses the
    request, ``NotFound``/``StoreError`` from the store."""
    plan = AskPlan(model, tier or "auto", endpoint, params)
    if not thread_id:
        return plan
    s = store.thread_settings(thread_id)
    plan.system = s.system_prompt
    if model is None and s.model and s.model != LADDER:
        plan.model, plan.from_thread = s.model, [*plan.from_thread, "model"]
    if plan.tier == "auto" and endpoint is None and s.tier_mode != "auto":
        plan.tier, plan.from_thread = s.tier_mode, [*plan.from_thread, "tier"]
    if (params is None or params.temperature is None) and s.temperature is not None:
        plan.params = replace(params or SamplingParams(), temperature=s.temperature)
    if s.budget_usd is None and s.budget_j is None:
        return plan
    t = store.get_thread(thread_id)
    short = t.id[:8]
    remote = plan.tier == "cloud" or endpoint is not None
    if s.budget_usd is not None and t.usd >= s.budget_usd:
        if remote:
            raise PolicyError(f"this thread's dollar budget (${s.budget_usd:.2f}) is spent (${t.usd:.4f}): raise it "
                              f"with `baton threads set {short} --budget-usd X` or ask on the local model")
        plan.notices.append(f"this thread's dollar budget (${s.budget_usd:.2f}) is spent: answered on this computer "
                            "only, no escalation")
        plan.tier = "local"
    if s.budget_j is not None and t.energy_j >= s.budget_j:
        if s.budget_hard and not remote:
            raise PolicyError(f"this thread's energy budget ({s.budget_j:.0f} J) is spent ({t.energy_j:.0f} J) and is "
                              f"a hard limit: raise it with `baton threads set {short} --budget-j X`")
        plan.notices.append(f"this thread's energy budget ({s.budget_j:.0f} J) is spent ({t.energy_j:.0f} J)")
    return plan


def for_turn(store: Any, thread_id: str | None, params: SamplingParams | None) -> tuple[str, SamplingParams | None]:
    """For answering again in a thread (retry, edit): its own system prompt (``''`` when it has none) and ``params``
    with the thread's temperature where the caller left it None. Raises ``NotFound``/``StoreError``."""
    if not thread_id:
        return "", params
    s = store.thread_settings(thread_id)
    if (params is None or params.temperature is None) and s.temperature is not None:
        params = replace(params or SamplingParams(), temperature=s.temperature)
    return s.system_prompt, params


def preview_route(service: Any, thread_id: str | None, prompt: str, tier: str = "auto",
                  endpoint: str | None = None) -> dict[str, Any]:
    """Where ``prompt`` would go if sent now in ``thread_id`` (None: a new thread), and why: stage one of the router
    with the thread's settings and budgets, without generating and without loading a model (the prompt's tokens are
    estimated at 4 characters a token; whether the model fits is read from its file header unless it is loaded).

    Returns ``{"tier": "local"|"cloud"|"refused", "model": str, "endpoint": str|None, "reason": str,
    "escalate_to": str|None (where a weak local answer would go), "notices": [str]}``; a request the router or a
    budget would refuse comes back as ``tier`` ``refused`` with the reason, never raised. Safe off the GUI thread."""
    try:
        plan = for_ask(service.store, thread_id, None, tier, endpoint, None)
        settings = service.settings
        history = history_from_path(service.store.thread_path(thread_id)) if thread_id else []
        from baton.core.service import SYSTEM_PROMPT

        system = ChatMessage("system", plan.system or SYSTEM_PROMPT)
        question = ChatMessage("user", prompt or "")
        messages = alternate([system, *history, question])
        max_tokens = int((plan.params.max_tokens if plan.params else None) or settings.engine.max_tokens)
        mode = "cloud" if plan.endpoint else plan.tier
        info = LocalInfo(0, 0, max_tokens, False, "", False)
        if mode != "cloud" or not settings.endpoints:
            info = _local_info(service, plan.model, messages, system, question, max_tokens)
        decision = service.router.before(messages, local=info, tier=mode, spend_today=service.spend_today(),
                                         endpoint=plan.endpoint)
    except BatonError as e:
        return {"tier": "refused", "model": "", "endpoint": None, "reason": str(e), "escalate_to": None,
                "notices": []}
    reason = decision.reason
    if "tier" in plan.from_thread:
        reason = f"{reason} (this thread's tier mode)"
    return {"tier": decision.tier, "model": decision.model, "endpoint": decision.endpoint, "reason": reason,
            "escalate_to": decision.signals.get("next_endpoint") if decision.tier == "local" else None,
            "notices": plan.notices}


def _local_info(service: Any, model: str | None, messages: list[ChatMessage], system: ChatMessage,
                question: ChatMessage, max_tokens: int) -> LocalInfo:
    """What stage one knows of the local tier, from files and settings only (no load, no tokenizer)."""
    path, model_id = service.resolve_model(model)
    fits = True
    if not any(r.get("model_id") == model_id for r in service.resident_models()):
        try:
            service._plan(path)  # reads the GGUF header and plans beside the loaded models; loads nothing
        except ModelDoesNotFit:
            fits = False
    n_ctx = int(service.settings.engine.n_ctx)
    tokens = sum(len(m.content) for m in messages) // 4
    alone = (len(system.content) + len(question.content)) // 4
    return LocalInfo(n_ctx, tokens, max_tokens, fits, model_id, alone + answer_reserve(n_ctx, max_tokens) > n_ctx)
