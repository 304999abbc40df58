"""The one pipeline the CLI, the GUI and the server call: route -> generate -> meter -> persist.

Built once (``BatonService.build``) and passed down; no globals. Everything a user typed or received
is in the store before and while it streams, so a crash loses at most the last half second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from baton.config import Settings
from baton.core.engine.base import Engine
from baton.core.errors import BatonError, CloudError, ModelDoesNotFit, ModelError, PolicyError
from baton.core.results import AskResult, EscalationPlan
from baton.core.store.db import Store
from baton.core.store.writer import AnswerWriter
from baton.core.types import (ChatMessage, Completion, GenerationRequest, LocalInfo, Measurement, RouteDecision, Timing,
                              Usage)
from baton.paths import Paths

SYSTEM_PROMPT = "You are a helpful assistant. Answer concisely."
BATON_SYSTEM_PROMPT_FOR_BENCH = SYSTEM_PROMPT
TextCallback = Callable[[str], None]
StatusCallback = Callable[[str], None]
ApproveCallback = Callable[[EscalationPlan], bool]


class BatonService:
    def __init__(self, paths: Paths, settings: Settings, store: Store, meter: Any, router: Any,
                 engine_factory: Callable[[Path, str, Any], Engine], cloud: Any = None) -> None:
        self.paths = paths
        self.settings = settings
        self.store = store
        self.meter = meter
        self.router = router
        self.cloud = cloud  # CloudTiers: endpoint name -> client; None when no cloud support
        self._engine_factory = engine_factory
        self._engines: dict[str, Engine] = {}
        self._engine_lock = threading.Lock()
        self.store.recover_interrupted()
        if meter is not None:
            from baton.core.telemetry.idle_store import load_idle

            load_idle(store, meter)

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    def build(cls, paths: Paths, settings: Settings) -> "BatonService":
        from baton.core.engine.llama import LlamaEngine
        from baton.core.router.policy import Router
        from baton.core.telemetry.meter import EnergyMeter
        from baton.core.cloud.tiers import CloudTiers

        paths.ensure()
        store = Store(paths.db_file)
        meter = EnergyMeter.for_machine(settings.telemetry)
        router = Router(settings.routing, store=store, endpoints=settings.endpoints, offline=settings.is_offline)
        eng = settings.engine

        def make_engine(path: Path, model_id: str, plan: Any) -> Engine:
            return LlamaEngine(path, n_ctx=eng.n_ctx, n_threads=eng.n_threads,
                               n_gpu_layers=plan.n_gpu_layers if plan is not None else 0, model_id=model_id)

        return cls(paths, settings, store, meter, router, make_engine, CloudTiers(settings))

    # ---- models --------------------------------------------------------------------------------
    def resolve_model(self, model: str | None) -> tuple[Path, str]:
        """Map a model argument (None, a path, or an id from `baton models`) to a file and an id."""
        from baton.core.engine.defaults import DEFAULT_MODEL, default_model_path

        choice = model or self.settings.default_model
        if not choice:
            return default_model_path(self.paths.cache_dir), DEFAULT_MODEL.id
        p = Path(choice).expanduser()
        if p.exists() or "/" in choice or choice.endswith(".gguf"):
            if p.is_dir():
                raise ModelError(f"{p} is a directory, not a GGUF file; pass the .gguf file inside it")
            if not p.exists():
                raise ModelError(f"model file not found: {p}; check the path or run `baton models`")
            return p, p.stem
        for entry in self.models():
            if choice in (entry.id, entry.name):
                return Path(entry.path), entry.id
        raise ModelError(f"no model '{choice}'; run `baton models` to see what is available")

    def models(self) -> list[Any]:
        from baton.core.engine.discovery import discover_models

        return discover_models(self.paths, self.settings)

    def engine(self, model: str | None = None) -> tuple[Engine, float]:
        """The loaded engine for ``model`` (loading it, and unloading any other, when needed)."""
        path, model_id = self.resolve_model(model)
        with self._engine_lock:
            eng = self._engines.get(model_id)
            if eng is None:
                plan = self._plan(path)
                for other in self._engines.values():
                    other.close()
                self._engines.clear()
                eng = self._engine_factory(path, model_id, plan)
                self._engines[model_id] = eng
        return eng, eng.load()

    def _plan(self, path: Path) -> Any:
        from baton.core.engine.fit import plan_fit
        from baton.core.engine.gguf import read_gguf_info

        info = read_gguf_info(path)  # validates the header: a clear error for a bad file
        plan = plan_fit(info, self.settings.engine.n_ctx)
        if plan.device == "none":
            raise ModelDoesNotFit(f"{path.name} does not fit here: {plan.reason}")
        return plan

    # ---- the pipeline ------------------------------------------------------------------------
    def ask(self, prompt: str, thread_id: str | None = None, model: str | None = None, tier: str = "auto",
            max_tokens: int | None = None, on_text: TextCallback | None = None,
            cancel: threading.Event | None = None, approve: ApproveCallback | None = None,
            on_status: StatusCallback | None = None) -> AskResult:
        if not prompt or not prompt.strip():
            raise BatonError("the prompt is empty; type a question (or pipe one in with `-`)")
        if tier not in ("auto", "local", "cloud"):
            raise BatonError(f"unknown tier '{tier}'; use local, auto or cloud")
        emit = on_status or (lambda _s: None)
        max_tokens = max_tokens or self.settings.engine.max_tokens
        history = self._history(thread_id) if thread_id else []
        messages = [ChatMessage("system", SYSTEM_PROMPT), *history, ChatMessage("user", prompt)]

        engine: Engine | None = None
        load_s = 0.0
        prompt_tokens = 0
        fits = True
        if tier != "cloud" or not self.settings.endpoints:
            try:
                emit("loading model")
                engine, load_s = self.engine(model)
                messages, prompt_tokens = self._fit_history(engine, messages, max_tokens)
            except ModelDoesNotFit:
                if tier == "local" or not self.settings.endpoints:
                    raise
                fits = False
        decision = self.router.before(messages, local=self._local_info(engine, prompt_tokens, max_tokens, fits),
                                      tier=tier, spend_today=self.spend_today())
        if decision.tier == "local" and engine is not None and prompt_tokens + 16 > engine.n_ctx:
            from baton.core.errors import ContextOverflow

            raise ContextOverflow(
                f"the prompt is {prompt_tokens} tokens but {engine.model_id} has a {engine.n_ctx}-token context; "
                "shorten it, start a new thread, or raise engine.n_ctx with `baton config set`")

        # From here on the request is valid: write the thread and the question.
        thread = self.store.get_thread(thread_id) if thread_id else self.store.create_thread("")
        self.store.add_message(thread.id, "user", prompt)
        if decision.tier == "cloud":
            return self._answer_in_cloud(thread.id, messages, decision, max_tokens, on_text, cancel, approve,
                                         emit, prior=None)
        assert engine is not None
        return self._answer_locally(thread.id, engine, load_s, messages, decision, max_tokens, on_text, cancel,
                                    approve, emit, tier)

    def _answer_locally(self, thread_id: str, engine: Engine, load_s: float, messages: list[ChatMessage],
                        decision: RouteDecision, max_tokens: int, on_text: TextCallback | None,
                        cancel: threading.Event | None, approve: ApproveCallback | None,
                        emit: StatusCallback, tier: str) -> AskResult:
        msg = self.store.begin_answer(thread_id, engine.model_id, "local")
        writer = AnswerWriter(self.store, msg.id)
        request = GenerationRequest(messages, max_tokens=max_tokens, temperature=self.settings.engine.temperature)
        emit("generating")
        completion, energy = self._run(engine.stream(request, cancel), writer, on_text)
        completion.timing.load_s = load_s
        result = AskResult(
            text=completion.text, thread_id=thread_id, message_id=msg.id, route=decision, usage=completion.usage,
            timing=completion.timing, energy=energy, memory=self.meter.memory(), finish_reason=completion.finish_reason,
        )
        if completion.finish_reason == "loop":
            result.notices.append("the local model fell into a loop; the answer was cut there")
        if completion.finish_reason != "cancelled" and tier == "auto":
            verdict = self.router.after(completion, messages, decision)
            decision.signals.update(verdict.signals)
            decision.signals["score"] = verdict.score
            if verdict.escalate:
                escalated = self._maybe_escalate(thread_id, msg.id, messages, decision, verdict.reason, max_tokens,
                                                 on_text, cancel, approve, emit, result, writer)
                if escalated is not None:
                    return escalated
            else:
                decision.reason = f"{decision.reason}; kept: {verdict.reason}"
        status = {"cancelled": "cancelled", "loop": "loop"}.get(completion.finish_reason, "done")
        writer.finish(status, result.receipt())
        return result

    def _maybe_escalate(self, thread_id: str, local_msg_id: str, messages: list[ChatMessage],
                        decision: RouteDecision, why: str, max_tokens: int, on_text: TextCallback | None,
                        cancel: threading.Event | None, approve: ApproveCallback | None, emit: StatusCallback,
                        local: AskResult, writer: AnswerWriter) -> AskResult | None:
        """Try the next tier; on refusal or failure keep the local answer and say why."""
        target = self._escalation_target(decision)
        if target is None:
            decision.reason = f"{decision.reason}; would escalate ({why}) but no remote tier may take it"
            return None
        esc = RouteDecision(tier="cloud", model=target.model, endpoint=target.name, escalated=True,
                            reason=f"escalated: {why}", signals=dict(decision.signals))
        try:
            result = self._answer_in_cloud(thread_id, messages, esc, max_tokens, on_text, cancel, approve, emit,
                                           prior=local, replace_msg_id=local_msg_id)
        except (CloudError, PolicyError) as e:
            local.notices.append(f"escalation failed, kept the local answer: {e}")
            decision.reason = f"{decision.reason}; escalation failed: {e}"
            return None
        writer.finish("escalated", local.receipt())
        return result

    def _answer_in_cloud(self, thread_id: str, messages: list[ChatMessage], decision: RouteDecision,
                         max_tokens: int, on_text: TextCallback | None, cancel: threading.Event | None,
                         approve: ApproveCallback | None, emit: StatusCallback, prior: AskResult | None,
                         replace_msg_id: str | None = None) -> AskResult:
        if self.cloud is None:
            raise PolicyError("cloud tiers are not available in this build; install the `cloud` extra")
        endpoint = self.settings.endpoint(decision.endpoint) if decision.endpoint else self.settings.endpoints[0]
        from baton.core.router.policy import is_loopback_url

        if is_loopback_url(endpoint.base_url):  # nothing leaves the machine: no privacy gate needed
            outgoing, redactions = list(messages), []
        else:
            outgoing, redactions = self.cloud.prepare(messages, self.settings.routing.privacy)
        client = self.cloud.client(endpoint)
        est_usd = client.estimate_usd(outgoing, max_tokens)
        if self.settings.routing.mode == "ask":
            plan = EscalationPlan(endpoint.name, endpoint.base_url, endpoint.model,
                                  "\n\n".join(f"{m.role}: {m.content}" for m in outgoing), est_usd, decision.reason,
                                  redactions)
            if approve is None or not approve(plan):
                raise PolicyError("routing mode is `ask` and the escalation was not approved")
        emit(f"escalating to {endpoint.name}: {decision.reason}" if decision.escalated else f"asking {endpoint.name}")
        msg = self.store.begin_answer(thread_id, endpoint.model, "cloud")
        writer = AnswerWriter(self.store, msg.id)
        request = GenerationRequest(outgoing, max_tokens=max_tokens, temperature=self.settings.engine.temperature)
        try:
            completion, energy = self._run(client.stream(request, cancel), writer, on_text, remote=client)
        except CloudError as e:
            writer.finish("failed", {"error": str(e)})
            raise
        usd = client.cost_usd(completion.usage)
        if prior is not None:
            energy = prior.energy.merged(energy)
            usd += prior.cost_usd
        timing = completion.timing
        if prior is not None:
            timing = Timing(prior.timing.load_s, timing.ttft_s, prior.timing.total_s + timing.total_s,
                            timing.decode_tokens_per_s, timing.prefill_tokens_per_s)
        usage = completion.usage
        if prior is not None:
            usage = Usage(prior.usage.prompt_tokens + usage.prompt_tokens,
                          prior.usage.completion_tokens + usage.completion_tokens)
        result = AskResult(text=completion.text, thread_id=thread_id, message_id=msg.id, route=decision, usage=usage,
                           timing=timing, energy=energy, memory=self.meter.memory(), cost_usd=usd,
                           finish_reason=completion.finish_reason,
                           notices=[*(prior.notices if prior else []), *(f"redacted {r}" for r in redactions)],
                           local_text=prior.text if prior else None)
        writer.finish("cancelled" if completion.finish_reason == "cancelled" else "done", result.receipt())
        return result

    def _run(self, chunks: Any, writer: AnswerWriter, on_text: TextCallback | None,
             remote: Any = None) -> tuple[Completion, Measurement]:
        window = self.meter.begin() if remote is None else None
        completion: Completion | None = None
        first = True
        try:
            for chunk in chunks:
                if chunk.text:
                    if first and window is not None:
                        window.first_token()
                    first = False
                    writer.append(chunk.text)
                    if on_text is not None:
                        on_text(chunk.text)
                if chunk.completion is not None:
                    completion = chunk.completion
        except BaseException as e:
            if window is not None:
                window.end()
            if isinstance(e, KeyboardInterrupt):
                writer.finish("cancelled", None)
            elif not isinstance(e, CloudError):
                writer.finish("failed", {"error": str(e)})
            raise
        if completion is None:
            raise BatonError("the model stopped without finishing its answer; try again")
        energy = window.end() if window is not None else remote.energy_measurement(completion.usage)
        return completion, energy

    # ---- helpers -------------------------------------------------------------------------------
    def _escalation_target(self, decision: RouteDecision) -> Any:
        name = decision.signals.get("next_endpoint")
        if name:
            return self.settings.endpoint(name)
        eligible, _refused = self.router.eligible_endpoints(self.spend_today())
        return eligible[0] if eligible else None

    def _history(self, thread_id: str) -> list[ChatMessage]:
        self.store.get_thread(thread_id)  # clear error for an unknown thread
        return [ChatMessage(m.role, m.content) for m in self.store.history(thread_id)
                if m.content and m.role in ("user", "assistant") and m.status != "escalated"]

    def _fit_history(self, engine: Engine, messages: list[ChatMessage],
                     max_tokens: int) -> tuple[list[ChatMessage], int]:
        """Drop the oldest turns until the prompt leaves room for the answer; returns the prompt's tokens."""
        budget = engine.n_ctx - min(max_tokens, engine.n_ctx // 2)
        tokens = engine.count_prompt_tokens(messages)
        while len(messages) > 2 and tokens > budget:
            del messages[1]  # the oldest turn after the system prompt; the new question always stays
            tokens = engine.count_prompt_tokens(messages)
        return messages, tokens

    def _local_info(self, engine: Engine | None, prompt_tokens: int, max_tokens: int, fits: bool) -> Any:
        return LocalInfo(n_ctx=engine.n_ctx if engine else 0, prompt_tokens=prompt_tokens, max_tokens=max_tokens,
                         fits=fits and engine is not None, model_id=engine.model_id if engine else "")

    def refresh_idle_baseline(self, max_age_s: float = 600.0, duration_s: float = 2.0) -> bool:
        """Measure idle power while nothing generates (the GUI calls this when it idles) and keep it."""
        from baton.core.telemetry.idle_store import refresh_idle

        return refresh_idle(self.store, self.meter, max_age_s, duration_s)

    def spend_today(self) -> dict[str, float]:
        midnight = time.mktime(time.localtime()[:3] + (0, 0, 0, 0, 0, -1))
        return self.store.spend_since(midnight)

    def close(self) -> None:
        for eng in self._engines.values():
            eng.close()
        self._engines.clear()
        if self.meter is not None:
            self.meter.close()
        self.store.close()
