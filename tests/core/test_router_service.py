"""The real Router inside the real pipeline (real SQLite store and meter; scripted engines for both tiers)."""

from __future__ import annotations

from pathlib import Path

from baton.config import Endpoint, Settings
from baton.core.cloud.tiers import CloudTiers
from baton.core.engine.fake import FakeEngine
from baton.core.router.learning import KV_KEY
from baton.core.router.policy import Router
from baton.core.service import BatonService
from baton.core.store.db import Store
from baton.core.telemetry.meter import EnergyMeter
from baton.core.types import TokenSignals
from baton.paths import Paths

from tests.core.test_router_policy import calibration
from tests.helpers.openai_transport import NoKeys, ScriptedServer

ENDPOINT = Endpoint("lan", "https://llm.example.net/v1", "remote-model", usd_per_mtok_in=1.0, usd_per_mtok_out=2.0,
                    j_per_token=0.5)


def build(tmp_path: Path, local: FakeEngine, remote: ScriptedServer) -> BatonService:
    settings = Settings()
    settings.endpoints = [ENDPOINT]
    paths = Paths.from_env({"BATON_HOME": str(tmp_path / "home")}).ensure()
    store = Store(paths.db_file)
    router = Router(settings.routing, store=store, endpoints=settings.endpoints, offline=False,
                    calibration=calibration())
    svc = BatonService(paths, settings, store, EnergyMeter.for_machine(settings.telemetry), router,
                       lambda path, model_id, plan: local,
                       CloudTiers(settings, credentials=NoKeys(), transport=remote.transport))
    svc.resolve_model = lambda model: (Path("/unused.gguf"), local.model_id)  # type: ignore[method-assign]
    svc._plan = lambda path: None  # type: ignore[method-assign]
    return svc


def sure(text: str) -> tuple[str, TokenSignals]:
    return text, TokenSignals(n_tokens=5, mean_top1_logprob=-0.05, min_top1_logprob=-0.3, first_top1_logprob=-0.05,
                              mean_entropy=0.1, max_entropy=0.5)


def unsure(text: str) -> tuple[str, TokenSignals]:
    return text, TokenSignals(n_tokens=5, mean_top1_logprob=-2.5, min_top1_logprob=-6.0, first_top1_logprob=-2.0,
                              mean_entropy=2.0, max_entropy=4.0)


def test_confident_local_answer_is_kept_with_the_reason(tmp_path):
    local, remote = FakeEngine("small"), ScriptedServer()
    local.enqueue(*sure("3 + 4 = 7"))
    svc = build(tmp_path, local, remote)
    try:
        res = svc.ask("What is 3 + 4?")
    finally:
        svc.close()
    assert res.text == "3 + 4 = 7" and res.route.tier == "local" and not res.route.escalated
    assert res.route.signals["category"] == "arithmetic" and "keep local" in res.route.reason
    assert remote.requests == []


def test_unsure_local_answer_escalates_and_counts_both_tiers(tmp_path):
    local, remote = FakeEngine("small"), ScriptedServer()
    local.enqueue(*unsure("3 + 4 = 8"))
    remote.enqueue("7")
    svc = build(tmp_path, local, remote)
    try:
        res = svc.ask("What is 3 + 4?")
    finally:
        svc.close()
    assert res.route.tier == "cloud" and res.route.escalated and res.text == "7"
    assert "escalate" in res.route.reason and res.local_text == "3 + 4 = 8"
    assert {p.scope for p in res.energy.parts} >= {"remote"} and len(res.energy.parts) >= 2


def test_hopeless_question_skips_the_local_model(tmp_path):
    local, remote = FakeEngine("small"), ScriptedServer()
    remote.enqueue("763")
    svc = build(tmp_path, local, remote)
    try:
        res = svc.ask("What is 5341 / 7?")
    finally:
        svc.close()
    assert res.route.tier == "cloud" and "hopeless" in res.route.reason and res.text == "763"
    assert local.requests == []  # the local model never generated


def test_feedback_persists_in_the_sqlite_store(tmp_path):
    local, remote = FakeEngine("small"), ScriptedServer()
    local.enqueue(*sure("3 + 4 = 7"))
    svc = build(tmp_path, local, remote)
    try:
        res = svc.ask("What is 3 + 4?")
        out = svc.router.record_feedback(res.route.signals, "escalate", tier=res.route.tier)
        assert out["learned"] and out["bad"] == 1.0
        saved = svc.store.kv_get(KV_KEY)
        assert saved["categories"]["arithmetic"]["bad"] == 1.0
        again = Router(svc.settings.routing, store=svc.store, endpoints=[ENDPOINT], calibration=calibration())
        assert again.learned.state("arithmetic").bad == 1.0
    finally:
        svc.close()
