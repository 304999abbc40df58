"""Resident models on the real SmolLM2 and Qwen2.5-0.5B: both stay loaded, `baton models --json` in another process
shows what this one holds, the idle one is unloaded by the timer after its time-to-live while the other, in use,
stays; on a discharging sysfs battery the smaller model and fewer threads are chosen and the receipt says so; the
app's idle cost with a model loaded and the sampler running."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from baton.config import Settings
from baton.core.service import BatonService
from baton.paths import Paths
from tests.helpers.proc import run_json
from tests.helpers.sysfs_tree import make_battery, write_atomic

pytestmark = pytest.mark.slow


def _service(baton_home: Path, **engine: object) -> BatonService:
    settings = Settings()
    settings.engine.n_ctx, settings.engine.parallel, settings.engine.temperature = 512, 2, 0.0
    settings.routing.mode = "never"
    for key, value in engine.items():
        setattr(settings.engine, key, value)
    return BatonService.build(Paths.from_env({"BATON_HOME": str(baton_home)}).ensure(), settings)


def test_two_models_resident_and_the_idle_one_unloaded_after_its_ttl(baton_home: Path, default_model_path: Path,
                                                                     strong_model_path: Path, tmp_path: Path) -> None:
    svc = _service(baton_home, model_ttl_s=0.0)  # no time-to-live while both load
    try:
        small = svc.ask("Say hi.", tier="local", max_tokens=2)
        strong = svc.ask("Say hi.", model=str(strong_model_path), tier="local", max_tokens=2)
        assert small.route.model != strong.route.model
        held = {r["model_id"]: r for r in svc.resident_models()}
        assert set(held) == {small.route.model, strong.route.model}
        assert all(r["slots"]["parallel"] == 2 and r["ram_bytes"] > 0 and r["held"]["kv_bytes"] > 0
                   for r in held.values())
        small_engine, strong_engine = svc._engines[small.route.model], svc._engines[strong.route.model]
        assert small_engine.loaded and strong_engine.loaded  # loading the second did not unload the first

        home = tmp_path / "user-home"
        home.mkdir()
        doc = run_json(baton_home, "models", "--json", HOME=str(home), OLLAMA_MODELS="", HF_HOME="", HF_HUB_CACHE="")
        [entry] = [m for m in doc if Path(m["path"]).resolve() == default_model_path.resolve()]
        assert [r["pid"] for r in entry["resident"]] == [os.getpid()]
        assert entry["resident"][0]["slots"]["parallel"] == 2 and entry["resident"][0]["ram_bytes"] > 0

        svc.settings.engine.model_ttl_s = 2.0
        deadline = time.monotonic() + 120
        while strong_engine.loaded and time.monotonic() < deadline:
            svc.engine(None)  # the small model keeps being used; the timer must unload only the idle one
            time.sleep(0.25)
        assert not strong_engine.loaded
        assert [r["model_id"] for r in svc.resident_models()] == [small.route.model]
        assert small_engine.loaded
        assert any(m == strong.route.model and "engine.model_ttl_s" in why for m, why in svc._residency.unloaded)
        again = svc.ask("Say hi.", model=str(strong_model_path), tier="local", max_tokens=2)
        assert again.timing.load_s > 0  # loaded anew after its unload
    finally:
        svc.close()
    assert not (baton_home / "cache" / "resident" / f"{os.getpid()}.json").exists()


def test_on_battery_the_smaller_model_and_fewer_threads_show_in_the_receipt(
        baton_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strong_model_path: Path) -> None:
    root = tmp_path / "sysfs"
    bat = make_battery(root, status="Discharging", power_uw=9_000_000)
    write_atomic(bat / "capacity", "41\n")
    monkeypatch.setenv("BATON_SYSFS_ROOT", str(root))
    svc = _service(baton_home, parallel=4)
    svc.settings.default_model = str(strong_model_path)  # the default is the larger model
    try:
        r = svc.ask("Say hi.", tier="local", max_tokens=2)
        assert r.route.model.startswith("smollm2")
        [note] = [n for n in r.notices if n.startswith("on battery")]
        assert "BAT0, 41%" in note and "rather than the default" in note and "at most 2 of 4 threads" in note
        assert svc.local_parallel() == 2
        assert note in r.receipt()["notices"]

        pinned = svc.ask("Say hi.", model=str(strong_model_path), tier="local", max_tokens=2)
        assert pinned.route.model == strong_model_path.stem  # a model the user named is kept
        assert any("at most 2 of 4 threads" in n and "rather than" not in n for n in pinned.notices)

        write_atomic(bat / "status", "Charging\n")
        plugged = svc.ask("Say hi.", tier="local", max_tokens=2)
        assert plugged.route.model == strong_model_path.stem
        assert not [n for n in plugged.notices if n.startswith("on battery")]
        assert svc.local_parallel() == 4

        write_atomic(bat / "status", "Discharging\n")
        svc.settings.engine.battery_policy = "off"
        off = svc.ask("Say hi.", tier="local", max_tokens=2)
        assert off.route.model == strong_model_path.stem and not [n for n in off.notices if "battery" in n]
    finally:
        svc.close()


def test_idle_app_with_a_loaded_model_uses_under_half_a_percent_of_a_core() -> None:
    from baton.bench.idle import measure_idle

    s = Settings()
    s.engine.n_ctx = 512
    fig = measure_idle(s, duration_s=20.0)
    assert fig["sampler_ticks"] > 0  # the sampler ran as in the app
    assert fig["core_share"] < 0.005, fig
