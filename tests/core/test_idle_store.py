"""The idle-power baseline survives between runs, and only while it is fresh."""

from __future__ import annotations

import time

from baton.config import TelemetrySettings
from baton.core.store.db import Store
from baton.core.telemetry.idle_store import IDLE_KEY, load_idle, refresh_idle, save_idle
from baton.core.telemetry.meter import EnergyMeter


def test_a_saved_baseline_is_restored_by_the_next_process(tmp_path):
    with Store(tmp_path / "db.sqlite3") as store:
        with EnergyMeter.for_machine(TelemetrySettings(cpu_tdp_w=10.0)) as meter:
            assert meter.measure_idle(0.2) is not None
            save_idle(store, meter)
            saved = meter.idle_baseline()
        with EnergyMeter.for_machine(TelemetrySettings(cpu_tdp_w=10.0)) as fresh:
            assert fresh.idle_baseline() is None
            assert load_idle(store, fresh)
            assert fresh.idle_baseline().watts_by_sensor == saved.watts_by_sensor
            assert fresh.idle_power_w() is not None


def test_stale_or_garbled_baselines_are_ignored(tmp_path):
    with Store(tmp_path / "db.sqlite3") as store, EnergyMeter.for_machine(TelemetrySettings()) as meter:
        store.kv_set(IDLE_KEY, {"watts_by_sensor": {"cpu": 1.0}, "measured_at": time.time() - 7200, "duration_s": 1})
        assert not load_idle(store, meter)
        store.kv_set(IDLE_KEY, {"watts_by_sensor": "nonsense"})
        assert not load_idle(store, meter)
        assert meter.idle_baseline() is None


def test_refresh_measures_only_when_missing_or_old(tmp_path):
    with Store(tmp_path / "db.sqlite3") as store, EnergyMeter.for_machine(TelemetrySettings()) as meter:
        assert refresh_idle(store, meter, max_age_s=600, duration_s=0.1)
        first = store.kv_get(IDLE_KEY)
        assert refresh_idle(store, meter, max_age_s=600, duration_s=0.1)
        assert store.kv_get(IDLE_KEY) == first, "a fresh baseline is not measured again"
