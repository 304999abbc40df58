"""The service the UI tests drive: the real BatonService pipeline, real Store and real EnergyMeter,
with FakeEngines standing in for the local model and the remote tier (to isolate the UI layer).

The routing decision is scripted here (local unless the tier says cloud; escalate after the local
answer only when a test asks) so that a UI test controls exactly which path runs."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton.core.types import RouteDecision


@dataclass
class Verdict:
    escalate: bool
    score: float
    reason: str
    signals: dict[str, Any] = field(default_factory=dict)


@dataclass
class LocalInfo:
    n_ctx: int = 0
    prompt_tokens: int = 0
    max_tokens: int = 0
    fits: bool = True
    model_id: str = ""


class ScriptedRouter:
    def __init__(self, settings: Any, escalate_after: bool = False) -> None:
        self.settings = settings
        self.escalate_after = escalate_after

    def before(self, messages: Any, local: Any, tier: str, spend_today: Any) -> RouteDecision:
        if tier == "cloud":
            ep = self.settings.endpoints[0]
            return RouteDecision("cloud", ep.model, ep.name, False, "you asked for the cloud tier")
        return RouteDecision("local", getattr(local, "model_id", "") or "local", None, False,
                             "local first: the question fits the local model")

    def after(self, completion: Any, messages: Any) -> Verdict:
        if self.escalate_after:
            return Verdict(True, 0.1, "low confidence (scripted)", {"mean_top1_logprob": -2.5})
        return Verdict(False, 0.9, "confident (scripted)", {"mean_top1_logprob": -0.2})

    def escalation_target(self, spend_today: Any = None) -> Any:
        return self.settings.endpoints[0] if self.settings.endpoints else None

    def record_feedback(self, *args: Any, **kwargs: Any) -> None:
        return None


def _cloud_tiers(settings: Any, cloud_engine: Any) -> Any:
    from baton.core.cloud.tiers import CloudTiers, RemoteTier

    class FakeTransportTiers(CloudTiers):
        """The real privacy gate, pricing and energy estimate; the transport is a FakeEngine."""

        def client(self, endpoint: Any) -> Any:
            return RemoteTier(endpoint, cloud_engine)

    return FakeTransportTiers(settings)


def make_service(paths: Any, settings: Any, engine: Any, cloud_engine: Any, escalate_after: bool = False) -> Any:
    import sys
    import types

    from baton.core.service import BatonService
    from baton.core.store.db import Store
    from baton.core.telemetry.meter import EnergyMeter

    if "baton.core.router.policy" not in sys.modules:
        try:
            import baton.core.router.policy  # noqa: F401
        except ImportError:  # the router lands in another change; the service only needs LocalInfo from it
            mod = types.ModuleType("baton.core.router.policy")
            mod.LocalInfo = LocalInfo  # type: ignore[attr-defined]
            sys.modules["baton.core.router.policy"] = mod
    store = Store(paths.db_file)
    meter = EnergyMeter.for_machine(settings.telemetry, use_nvml=False)
    lock = threading.Lock()

    def factory(path: Path, model_id: str, plan: Any) -> Any:
        with lock:
            return engine

    service = BatonService(paths, settings, store, meter, ScriptedRouter(settings, escalate_after), factory,
                           _cloud_tiers(settings, cloud_engine))
    service.resolve_model = lambda model: (Path(paths.cache_dir), model or engine.model_id)  # type: ignore
    service._plan = lambda path: None  # type: ignore[method-assign]
    return service
