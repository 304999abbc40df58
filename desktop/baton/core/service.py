"""The one pipeline the CLI, the GUI and the server call: route -> generate -> meter -> persist.

A request is one ``Turn`` answered by a ``Tier`` (``LocalTier`` or ``RemoteTier``); ask, escalate, retry and edit
are the same path with a different tier or question. Built once (``BatonService.build``) and passed down; no
globals. Everything a user typed or received is in the store before and while it streams, so a crash loses at
most the last half second. The public methods below are the only door for the CLI, the server and the app.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from baton.config import Endpoint, Settings
from baton.core.engine.base import Engine
from baton.core.errors import (BatonError, ModelDoesNotFit, ModelError, PolicyError, PrivacyBlocked,
                               StoreError, UsageError)
from baton.core.pipeline.checks import Verifier
from baton.core.pipeline.escalate import stage_two
from baton.core.pipeline.history import alternate, history_from_path
from baton.core.pipeline.local import LocalTier
from baton.core.pipeline.result import build_result, client_messages
from baton.core.pipeline.turn import Phase, Progress, Turn, TierRun
from baton.core.results import AskResult, EscalationPlan
from baton.core.store.db import Store
from baton.core.store.records import Status, Thread
from baton.core.store.writer import AnswerWriter
from baton.core.thread_settings import for_ask, for_turn, preview_route
from baton.core.types import ChatMessage, LocalInfo, RouteDecision, SamplingParams
from baton.paths import Paths

SYSTEM_PROMPT = "You are a helpful assistant. Answer concisely."
BATON_SYSTEM_PROMPT_FOR_BENCH = SYSTEM_PROMPT
TIERS = ("auto", "local", "cloud")
TextCallback = Callable[[str], None]
StatusCallback = Callable[[str], None]
ApproveCallback = Callable[[EscalationPlan], bool]


class BatonService:
    """Answers questions and keeps everything about them. Thread-safe for one answer per engine at a time.

    Every public method raises ``BatonError`` subclasses with one-line messages: ``UsageError`` (bad arguments),
    ``StoreError`` (unknown thread or message, database trouble), ``ModelError`` (model file, context),
    ``PolicyError``/``PrivacyBlocked`` (refused before anything was sent), ``CloudError`` (a remote tier failed).
    """

    def __init__(self, paths: Paths, settings: Settings, store: Store, meter: Any, router: Any,
                 engine_factory: Callable[[Path, str, Any], Engine], cloud: Any = None) -> None:
        self.paths = paths
        self.settings = settings
        self.store = store
        self.meter = meter
        self.router = router
        self.cloud = cloud  # CloudTiers (endpoint -> RemoteTier); None when there is no cloud support
        self._engine_factory = engine_factory
        from baton.core.engine.residency import Residency  # resident models, idle ones unloaded after their TTL

        self._residency = Residency(engine_factory, lambda path: self._plan(path),
                                    lambda: float(self.settings.engine.model_ttl_s),
                                    publish_to=paths.cache_dir / "resident")
        self.verifier = Verifier(lambda: self.settings)  # code answers run against the question's examples
        self._active = 0  # tiers running now: the idle baseline is measured only when none is
        self._active_lock = threading.Lock()
        self.last_activity = time.monotonic()
        self.store.recover_interrupted()
        if meter is not None:
            from baton.core.telemetry.idle_store import load_idle

            load_idle(store, meter)

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    def build(cls, paths: Paths, settings: Settings) -> "BatonService":
        """The service for this machine: the SQLite store under ``paths``, the energy meter for the sensors found,
        the router with the shipped calibration, llama.cpp engines and the configured remote tiers."""
        from baton.core.cloud.tiers import CloudTiers
        from baton.core.engine.llama import LlamaEngine
        from baton.core.router.policy import Router
        from baton.core.telemetry.meter import EnergyMeter

        paths.ensure()
        store = Store(paths.db_file)
        meter = EnergyMeter.for_machine(settings.telemetry)
        router = Router(settings.routing, store=store, endpoints=settings.endpoints, offline=settings.is_offline)
        eng = settings.engine

        def make_engine(path: Path, model_id: str, plan: Any) -> Engine:
            return LlamaEngine(path, n_ctx=eng.n_ctx, n_threads=eng.n_threads,
                               n_gpu_layers=plan.n_gpu_layers if plan is not None else 0, model_id=model_id,
                               parallel=eng.parallel, state_limit_bytes=eng.warm_state_mb * 1_000_000,
                               state_dir=paths.cache_dir / "kv")

        return cls(paths, settings, store, meter, router, make_engine, CloudTiers(settings))

    # ---- models --------------------------------------------------------------------------------
    def resolve_model(self, model: str | None) -> tuple[Path, str]:
        """Map a model argument (None, a path, or an id from `baton models`) to a file and an id.
        Raises ModelError when there is no such model."""
        from baton.core.engine.defaults import DEFAULT_MODEL, default_model_path

        from baton.core.engine.names import printable

        choice = model or self.settings.default_model
        if not choice:
            return default_model_path(self.paths.cache_dir), DEFAULT_MODEL.id
        p = Path(choice).expanduser()
        if p.exists() or "/" in choice or choice.endswith(".gguf"):
            if p.is_dir():
                raise ModelError(f"{printable(p)} is a directory, not a GGUF file; pass the .gguf file inside it")
            if not p.exists():
                raise ModelError(f"model file not found: {printable(p)}; check the path or run `baton models`")
            return p, printable(p.stem)
        for entry in self.models():
            if choice in (entry.id, entry.name):
                return Path(entry.path), entry.id
        raise ModelError(f"no model '{choice}'; run `baton models` to see what is available")

    def models(self) -> list[Any]:
        """Every GGUF Baton can use (CONTRACT `baton models`), as discovery entries with ``.id`` and ``.path``."""
        from baton.core.engine.discovery import discover_models

        return discover_models(self.paths, self.settings)

    def engine(self, model: str | None = None) -> tuple[Engine, float]:
        """The loaded engine for ``model`` (loading it beside the resident ones when needed; idle ones are
        unloaded when memory is short, one that is generating never), and the seconds the load took (0 when it was
        loaded already). Raises ModelError / ModelDoesNotFit (one line naming a model still answering)."""
        path, model_id = self.resolve_model(model)
        return self._residency.get(path, model_id)

    def local_engine(self, model: str | None = None) -> tuple[Engine, float, list[str]]:
        """``engine(model)`` under the power policy (``engine.battery_policy``; ``power_policy.decide``): the
        engine, the load's seconds and the sentences for the receipt (none on mains power)."""
        from baton.core.engine.power_policy import decide

        choice = decide(self.settings.engine, self.paths.cache_dir,
                        [(r.path, r.model_id) for r in self._residency.residents()],
                        (lambda: self.resolve_model(None)) if model is None else None)
        eng, load_s = self._residency.get(*choice.model) if choice.model is not None else self.engine(model)
        self._residency.set_limit(choice.limit)
        return eng, load_s, choice.notes

    def local_parallel(self) -> int:
        """How many local answers may run at once now: the loaded engines' slots (``engine.parallel``, lower on
        battery; 1 for an engine that answers one at a time), and 1 while no model is loaded."""
        engines = self._residency.engines()
        return max([int(getattr(e, "limit", getattr(e, "parallel", 1)) or 1) for e in engines], default=1)

    @property
    def _engines(self) -> dict[str, Engine]:
        """The loaded engines by model id (a copy), most recently used first."""
        return {r.model_id: r.engine for r in self._residency.residents()}

    def resident_models(self) -> list[dict[str, Any]]:
        """What is loaded now, most recently used first (``Resident.describe``: ``model_id``, ``path``, ``slots``,
        ``ram_bytes``, ``vram_bytes``, ``held`` bytes, ``idle_s``, ``busy``)."""
        return self._residency.describe()

    def generated_tokens(self) -> int:
        """Answer tokens the loaded models have sampled since they were loaded (``Residency.generated_tokens``)."""
        return self._residency.generated_tokens()

    def forget_warm_state(self) -> int:
        """Drop every loaded model's warm slots and saved KV states, files too (``Residency.forget_warm_state``);
        called when a thread is deleted. Returns how many models."""
        return self._residency.forget_warm_state()

    def unload_idle(self) -> list[str]:
        """Unload the models idle longer than ``engine.model_ttl_s`` now (a timer does it too). Returns their ids."""
        return self._residency.unload_idle()

    def _plan(self, path: Path) -> Any:
        """Where ``path`` loads beside the resident models (``fit.plan_beside``); ModelDoesNotFit when nowhere."""
        from baton.core.engine.fit import plan_beside
        from baton.core.engine.gguf import read_gguf_info
        from baton.core.engine.names import printable

        info = read_gguf_info(path)  # validates the header: a clear error for a bad file
        resident = [r.plan for r in self._residency.residents()]
        plan = plan_beside(info, self.settings.engine.n_ctx, resident, parallel=self.settings.engine.parallel)
        if plan.device == "none":
            raise ModelDoesNotFit(f"{printable(path.name)} does not fit here: {plan.reason}")
        return plan

    # ---- asking --------------------------------------------------------------------------------
    def ask(self, prompt: str | None = None, *, messages: list[ChatMessage] | None = None,
            thread_id: str | None = None, model: str | None = None, tier: str = "auto",
            endpoint: str | None = None, params: SamplingParams | None = None, max_tokens: int | None = None,
            on_text: TextCallback | None = None, cancel: threading.Event | None = None,
            approve: ApproveCallback | None = None, on_status: StatusCallback | None = None) -> AskResult:
        """Answer ``prompt`` (continuing ``thread_id`` when given, else in a new thread), or answer ``messages``
        exactly as a client sent them (its own system prompt and turns; Baton adds none). ``tier``: ``auto``
        (the router decides and may escalate), ``local`` or ``cloud``; ``endpoint`` pins one remote endpoint.
        ``on_text`` gets the answer's text as it streams; ``cancel`` stops it between tokens. Returns the
        AskResult whose ``receipt()`` is CONTRACT `ask --json`. Nothing is written when the request is invalid. The
        thread's own settings fill what the caller leaves open and its budgets apply (``thread_settings.for_ask``)."""
        plan = for_ask(self.store, thread_id, model, tier, endpoint, params)
        model, tier, endpoint, params = plan.model, plan.tier, plan.endpoint, self._params(plan.params, max_tokens)
        mode = self._mode(tier, endpoint)
        tid = self.store.resolve_thread_id(thread_id) if thread_id else None
        history = history_from_path(self.store.thread_path(tid)) if tid else []
        if messages is not None:
            client = client_messages(messages)
            system = [m for m in client if m.role == "system"]
            sent = alternate([*system, *history, client[-1]]) if tid else client
            to_store = [client[-1]] if tid else client
        else:
            if not prompt or not prompt.strip():
                raise UsageError("the prompt is empty; type a question (or pipe one in with `-`)")
            question = ChatMessage("user", prompt)
            own = ChatMessage("system", plan.system or SYSTEM_PROMPT)
            sent, to_store = alternate([own, *history, question]), [question]
        turn = Turn(tid, sent, params, mode, cancel=cancel or threading.Event(), on_text=on_text or _noop,
                    on_status=on_status or _noop, approve=approve, notices=plan.notices)
        chosen, decision = self._route(turn, model, endpoint)
        self._store_question(turn, to_store, chosen)
        return self._answer(turn, chosen, decision)

    def retry(self, message_id: str, *, endpoint: str | None = None, tier: str | None = None,
              model: str | None = None, params: SamplingParams | None = None, on_text: TextCallback | None = None,
              cancel: threading.Event | None = None, approve: ApproveCallback | None = None,
              on_status: StatusCallback | None = None) -> AskResult:
        """Answer the question behind answer ``message_id`` again on exactly the tier, endpoint or model named
        (default: the router decides). The new answer is a new version at the same point; the old one becomes
        ``replaced`` once the new one finished. The history sent stops at the question. Raises StoreError for an
        unknown message, UsageError for a message that is not an answer; nothing is written then."""
        old = self.store.get_message(message_id)
        if old.role != "assistant" or not old.parent_id:
            raise UsageError(f"message {message_id} is not an answer; retry takes the id of an answer")
        question = self.store.get_message(old.parent_id)
        mode = self._mode(tier or ("cloud" if endpoint else "local" if model else "auto"), endpoint)
        turn = self._turn_at(question, mode, params, on_text, cancel, approve, on_status)
        chosen, decision = self._route(turn, model, endpoint)
        result = self._answer(turn, chosen, decision)
        if result.finish_reason != "cancelled":  # the new answer is the current version at this point
            self.store.replace_siblings(result.message_id)
        return result

    def edit(self, message_id: str, text: str, *, tier: str = "auto", model: str | None = None,
             params: SamplingParams | None = None, on_text: TextCallback | None = None,
             cancel: threading.Event | None = None, approve: ApproveCallback | None = None,
             on_status: StatusCallback | None = None) -> AskResult:
        """Replace question ``message_id`` with ``text`` and answer it: the new question is a new version at the
        same point (the old one, with its answers, stays reachable as ``replaced``). Raises UsageError for an empty
        text or a message that is not a question."""
        old = self.store.get_message(message_id)
        if old.role != "user":
            raise UsageError(f"message {message_id} is not a question; edit takes the id of a question")
        if not text or not text.strip():
            raise UsageError("the new question is empty; type the question to ask instead")
        mode = self._mode(tier, None)
        history = history_from_path(self.store.thread_path(old.thread_id, upto=old.parent_id)) if old.parent_id else []
        system, params = for_turn(self.store, old.thread_id, params)  # the thread's system prompt and temperature
        sent = alternate([ChatMessage("system", system or SYSTEM_PROMPT), *history, ChatMessage("user", text)])
        turn = Turn(old.thread_id, sent, self._params(params, None), mode, cancel=cancel or threading.Event(),
                    on_text=on_text or _noop, on_status=on_status or _noop, approve=approve)
        chosen, decision = self._route(turn, model, None)
        q = self.store.add_message(old.thread_id, "user", text, parent_id=old.parent_id)
        self.store.replace_siblings(q.id)
        turn.question_id = q.id
        return self._answer(turn, chosen, decision)

    def fork(self, thread_id: str, message_id: str, title: str = "") -> Thread:
        """A new thread holding the history of ``thread_id`` up to and including ``message_id`` (its receipts
        copied, not counted again in spend). Raises StoreError for an unknown thread or message."""
        return self.store.fork_thread(thread_id, message_id, title)

    def compare(self, thread_id: str | None, prompt: str, a: dict[str, Any], b: dict[str, Any],
                **kw: Any) -> tuple[AskResult, AskResult | None]:
        """Answer ``prompt`` on side ``a`` then on side ``b`` (dicts: ``tier`` local|cloud, ``model``, ``endpoint``),
        the second a retry of the first, so both are versions at one point (``pipeline.compare.run_compare``; ``kw``:
        ``on_text_a``, ``on_text_b``, ``cancel``, ``approve``, ``on_status(side, progress)``, ``params``)."""
        from baton.core.pipeline.compare import Side, run_compare

        return run_compare(self, thread_id, prompt, Side.of(a), Side.of(b), **kw)

    def keep(self, message_id: str) -> None:
        """Make answer ``message_id`` its point's current version; the others stay as ``replaced`` versions."""
        from baton.core.pipeline.compare import keep_version

        keep_version(self.store, message_id)

    preview_route = preview_route  # where a question would go and why, without generating (thread_settings)

    # ---- judgement, settings, spend --------------------------------------------------------------
    def feedback(self, message_id: str, kind: str, value: float | None = None) -> dict[str, Any]:
        """The user judged an answer (``accept``, ``escalate`` or ``rate`` with ``value`` 0..1): store it and let
        the router learn from it. Returns what the router changed."""
        self.store.add_feedback(message_id, kind, value)
        route = (self.store.receipt(message_id) or {}).get("route") or {}
        if not route:
            return {"learned": False}
        return self.router.record_feedback(route.get("signals") or {}, kind, value, tier=route.get("tier"))

    def settings_changed(self) -> None:
        """Call after ``self.settings`` changed in place (the app's Settings dialog): the router and the remote
        tiers see the new endpoints, modes and budgets from the next request on."""
        self.router.routing = self.settings.routing
        self.router.endpoints = list(self.settings.endpoints)
        self.router.offline = self.settings.is_offline or self.settings.routing.mode == "offline"
        if self.cloud is not None:
            self.cloud.settings = self.settings

    def spend_report(self, since: float) -> dict[str, Any]:
        """What answers finished at or after ``since`` (unix s) cost: ``{"local": {...}, "cloud": {...},
        "all": {...}}`` each with ``energy_j`` (J), ``usd``, ``answers``, ``escalations``; plus ``local_measured_j``,
        ``local_prompt_tokens`` and ``local_completion_tokens`` (for "what the cloud would have cost")."""
        measured, p_tok, c_tok = self.store.local_detail_since(since)
        return {"local": self.store.spend_since(since, tier="local"),
                "cloud": self.store.spend_since(since, tier="cloud"), "all": self.store.spend_since(since),
                "local_measured_j": measured, "local_prompt_tokens": p_tok, "local_completion_tokens": c_tok}

    def spend_today(self) -> dict[str, float]:
        """``spend_since`` local midnight, all tiers (the router's budgets read it)."""
        midnight = time.mktime(time.localtime()[:3] + (0, 0, 0, 0, 0, -1))
        return self.store.spend_since(midnight)

    def refresh_idle(self, max_age_s: float | None = None, duration_s: float = 2.0) -> bool:
        """Measure idle power (the baseline that turns gross joules into ``net_j``) when the kept one is older
        than ``max_age_s`` (default ``telemetry.idle_max_age_s``) and nothing is generating; keep it in the
        store. Returns True when a new baseline was measured."""
        from baton.core.telemetry.idle_store import refresh_idle

        if self.meter is None or self._active:
            return False
        age = self.settings.telemetry.idle_max_age_s if max_age_s is None else max_age_s
        return bool(refresh_idle(self.store, self.meter, age, duration_s))

    def close(self) -> None:
        """Unload every model, stop the meter and close the store."""
        self._residency.close()
        if self.meter is not None:
            self.meter.close()
        self.store.close()

    # ---- the pipeline ------------------------------------------------------------------------
    def _params(self, params: SamplingParams | None, max_tokens: int | None) -> SamplingParams:
        p = params or SamplingParams()
        mt = max_tokens if max_tokens is not None else p.max_tokens
        if mt is not None and int(mt) < 1:
            raise UsageError("max_tokens must be at least 1")
        if p.temperature is not None and not 0.0 <= float(p.temperature) <= 2.0:
            raise UsageError("temperature must be between 0 and 2")
        if p.top_p is not None and not 0.0 < float(p.top_p) <= 1.0:
            raise UsageError("top_p must be greater than 0 and at most 1")
        eng = self.settings.engine
        return SamplingParams(int(mt or eng.max_tokens), float(eng.temperature if p.temperature is None
                                                              else p.temperature), p.top_p, list(p.stop), p.seed)

    def _mode(self, tier: str, endpoint: str | None) -> str:
        if tier not in TIERS:
            raise UsageError(f"unknown tier '{tier}'; use local, auto or cloud")
        if endpoint is not None:
            self.settings.endpoint(endpoint)  # UsageError naming `baton endpoints add`
            if tier == "local":
                raise UsageError("--endpoint names a remote tier; it cannot be combined with --tier local")
            return "cloud"
        return tier

    def _turn_at(self, question: Any, mode: str, params: SamplingParams | None, on_text: Any, cancel: Any,
                 approve: Any, on_status: Any) -> Turn:
        """A turn that answers the stored ``question`` again (history up to it, on its branch)."""
        history = history_from_path(self.store.thread_path(question.thread_id, upto=question.id))
        system, params = for_turn(self.store, question.thread_id, params)  # the thread's system prompt, temperature
        turn = Turn(question.thread_id, [ChatMessage("system", system or SYSTEM_PROMPT), *history],
                    self._params(params, None), mode, question.id, cancel or threading.Event(), on_text or _noop,
                    on_status or _noop, approve)
        if not turn.messages or turn.messages[-1].role != "user":
            turn.messages.append(ChatMessage("user", question.content))
        return turn

    def _route(self, turn: Turn, model: str | None, endpoint: str | None) -> tuple[Any, RouteDecision]:
        """Stage one: the tier for this turn and why (a ``Ladder`` to walk when ``routing.ladder`` is set and nothing
        is pinned). Loads the local model when it may be needed."""
        if turn.mode == "auto" and model is None and endpoint is None and self.settings.routing.ladder:
            from baton.core.pipeline.ladder import Ladder

            return Ladder.begin(self, turn)
        local: LocalTier | None = None
        max_tokens = int(turn.params.max_tokens or 1)
        if turn.mode != "cloud" or not self.settings.endpoints:
            try:
                turn.on_status(Progress(Phase.LOADING, "loading model"))
                eng, load_s, power_notes = self.local_engine(model)
                turn.notices.extend(power_notes)
                local = LocalTier(eng, self.meter, load_s)
            except ModelDoesNotFit:
                if turn.mode == "local" or not self.settings.endpoints:
                    raise
        info = (local.info(turn.messages, max_tokens) if local is not None
                else LocalInfo(0, 0, max_tokens, False, "", False))
        decision = self.router.before(turn.messages, local=info, tier=turn.mode, spend_today=self.spend_today(),
                                      endpoint=endpoint)
        if decision.tier == "local":
            assert local is not None
            return local, decision
        return self._remote(self.settings.endpoint(decision.endpoint or ""), decision, turn.mode), decision

    def _remote(self, ep: Endpoint, decision: RouteDecision, mode: str) -> Any:
        """``ep`` as a tier. In routing mode `ask`, text leaves only after the user approves, unless the user
        pinned the cloud for this request."""
        if self.cloud is None:
            raise PolicyError("cloud tiers are not available in this build; install the `cloud` extra")
        ask_first = self.settings.routing.mode == "ask" and (mode == "auto" or decision.escalated)
        loaded = next(iter(self._engines.values()), None)  # a loaded local tokenizer estimates unreported tokens
        tokenizer = getattr(loaded, "tokenize_text", None)
        return self.cloud.tier(ep, ask_first=ask_first, reason=decision.reason, tokenizer=tokenizer)

    def _store_question(self, turn: Turn, to_store: list[ChatMessage], tier: Any) -> None:
        """Write the question (creating the thread in the same transaction) once the request is known valid. A
        question for a remote tier is stored as it is sent: redacted where the gate redacts or refuses (a refusal
        is stored beside it, with what was found)."""
        blocked: PrivacyBlocked | None = None
        if tier.kind == "cloud":  # the thread keeps the question as it was sent (or would have been)
            try:
                redacted = bool(tier.outgoing(turn)[1])
            except PrivacyBlocked as e:
                blocked, redacted = e, True
            if redacted:  # read after the earlier turns, so the rest of a split token is redacted too
                from baton.core.privacy import redact_in_context

                to_store = redact_in_context(to_store, turn.messages[:len(turn.messages) - len(to_store)])
        tid = turn.thread_id
        for m in to_store:
            msg = self.store.add_message(tid, m.role, m.content)
            tid = msg.thread_id
        turn.thread_id, turn.question_id = tid, msg.id
        if blocked is not None:
            found = getattr(blocked, "findings", [])
            self.store.add_gate_findings(tid, msg.id, found, "refused")
            self.store.add_message(tid, "assistant", "", Status.REFUSED, tier.model, tier.kind, note=str(blocked))
            raise blocked

    def _answer(self, turn: Turn, tier: Any, decision: RouteDecision, prior: AskResult | None = None) -> AskResult:
        """Run ``tier`` on ``turn``, persist the answer as it streams, and (auto mode, local answer) let stage two
        of the router decide whether to climb to the next tier. A ladder (``pipeline.ladder``) walks itself."""
        if hasattr(tier, "walk"):
            return tier.walk(decision)
        result, run, writer, status = self._run_tier(turn, tier, decision, prior)
        if tier.kind == "local" and status != Status.CANCELLED:  # a code answer checked against its examples
            result.verification = self.verifier.checked(turn, run.completion.text)
        if tier.kind == "local" and turn.mode == "auto" and status != Status.CANCELLED:
            escalated = stage_two(self, turn, decision, run, result, writer)
            if escalated is not None:
                return escalated
        writer.finish(status, result.receipt())
        return result

    def _run_tier(self, turn: Turn, tier: Any, decision: RouteDecision,
                  prior: AskResult | None = None) -> tuple[AskResult, TierRun, AnswerWriter, str]:
        """Run ``tier`` on ``turn`` and persist the answer as it streams, the writer left open: the result (with
        ``prior``'s costs), the run, the writer and the answer's status. Raises what the tier raised."""
        assert turn.thread_id is not None and turn.question_id is not None
        if tier.kind == "cloud":
            try:  # the gate and the user's approval come before anything is written or sent
                tier.prepare(turn)
            except PolicyError as e:
                self.store.add_gate_findings(turn.thread_id, turn.question_id, getattr(e, "findings", []), "refused")
                raise
        msg = self.store.begin_answer(turn.thread_id, tier.model, tier.kind, parent_id=turn.question_id)
        writer = AnswerWriter(self.store, msg.id)

        def sink(text: str) -> None:
            writer.append(text)
            turn.on_text(text)

        if tier.kind == "cloud":
            turn.on_status(Progress(Phase.ESCALATING, f"escalating to {tier.endpoint}: {decision.reason}")
                           if decision.escalated else Progress(Phase.ASKING, f"asking {tier.endpoint}"))
        else:
            turn.on_status(Progress(Phase.GENERATING, "generating"))
        with self._active_lock:
            self._active += 1
        try:
            run = tier.run(turn, sink)
        except KeyboardInterrupt:
            writer.finish(Status.CANCELLED, None)
            raise
        except BaseException as e:
            text = tier.scrub(str(e)) if hasattr(tier, "scrub") else str(e)  # no key is ever stored
            writer.finish(Status.FAILED, {"error": text, "tier": tier.kind, "model": tier.model}, note=text)
            raise
        finally:
            with self._active_lock:
                self._active -= 1
            self.last_activity = time.monotonic()
        if run.gate:
            self.store.add_gate_findings(turn.thread_id, msg.id, run.gate, "redacted")
        result = build_result(turn, msg.id, tier, decision, run, prior)
        status = {"cancelled": Status.CANCELLED, "loop": Status.LOOP}.get(run.completion.finish_reason, Status.DONE)
        return result, run, writer, status


def _noop(_text: str) -> None:
    return None
