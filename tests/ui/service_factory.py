"""The service the UI tests drive: the real BatonService pipeline with the real Store, EnergyMeter,
Router and cloud tiers (privacy gate, client, pricing, energy estimate), where FakeEngines stand in for the
local model and answer behind the remote endpoint's HTTP transport, to isolate the UI layer.

Whether an answer escalates is set through the real routing threshold: 1.0 escalates every local
answer, 0.0 keeps every one, whatever the calibration says about a scripted answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _cloud_tiers(settings: Any, cloud_engine: Any) -> Any:
    """The real cloud tiers and client; the endpoint's HTTP transport answers from ``cloud_engine``."""
    from baton.core.cloud.tiers import CloudTiers

    from tests.helpers.openai_transport import EngineServer

    return CloudTiers(settings, transport=EngineServer(cloud_engine).transport)


def make_service(paths: Any, settings: Any, engine: Any, cloud_engine: Any, escalate_after: bool = False) -> Any:
    from baton.core.cloud.tiers import CloudTiers
    from baton.core.router.policy import Router
    from baton.core.service import BatonService
    from baton.core.store.db import Store
    from baton.core.telemetry.meter import EnergyMeter

    settings.routing.threshold = 1.0 if escalate_after else 0.0
    store = Store(paths.db_file)
    meter = EnergyMeter.for_machine(settings.telemetry, use_nvml=False)
    router = Router(settings.routing, store=store, endpoints=settings.endpoints, offline=settings.is_offline)

    def factory(path: Path, model_id: str, plan: Any) -> Any:
        return engine  # the default model's file is planned for real; the FakeEngine answers

    tiers = CloudTiers(settings) if cloud_engine is None else _cloud_tiers(settings, cloud_engine)
    return BatonService(paths, settings, store, meter, router, factory, tiers)
