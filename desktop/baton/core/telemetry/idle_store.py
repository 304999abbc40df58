"""Keep the idle-power baseline between runs, in the store's key/value table.

A one-shot `baton ask` cannot afford to sit still for seconds measuring idle power, so the baseline
measured by `baton energy probe` or by the desktop app while it idles is saved and reused while fresh.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from baton.core.telemetry.meter import EnergyMeter, IdleBaseline

IDLE_KEY = "telemetry.idle_baseline"
IDLE_MAX_AGE_S = 3600.0


class KeyValue(Protocol):
    """Anything with ``kv_get``/``kv_set`` (the store): where the idle baseline is kept between runs."""

    def kv_get(self, key: str, default: Any = None) -> Any:
        """The value saved under ``key``, or ``default``."""

    def kv_set(self, key: str, value: Any) -> None:
        """Save ``value`` (JSON-able) under ``key``."""


def save_idle(kv: KeyValue, meter: EnergyMeter) -> None:
    """Save the meter's idle baseline (W per sensor, when measured) into ``store``; no-op without one."""
    b = meter.idle_baseline()
    if b is not None:
        kv.kv_set(IDLE_KEY, {"watts_by_sensor": b.watts_by_sensor, "measured_at": b.measured_at,
                             "duration_s": b.duration_s})


def load_idle(kv: KeyValue, meter: EnergyMeter, max_age_s: float = IDLE_MAX_AGE_S) -> bool:
    """Restore a saved baseline younger than ``max_age_s``; True when one was restored."""
    raw = kv.kv_get(IDLE_KEY)
    try:
        b = IdleBaseline({str(k): float(v) for k, v in raw["watts_by_sensor"].items()}, float(raw["measured_at"]),
                         float(raw["duration_s"]))
    except (TypeError, KeyError, ValueError, AttributeError):
        return False
    if not 0 <= time.time() - b.measured_at <= max_age_s:
        return False
    meter.set_idle_baseline(b)
    return True


def refresh_idle(kv: KeyValue, meter: EnergyMeter, max_age_s: float = 600.0, duration_s: float = 2.0) -> bool:
    """Measure again when the baseline is missing or old (call while nothing generates), and save it."""
    before = meter.idle_baseline()
    meter.refresh_idle(max_age_s, duration_s)
    after = meter.idle_baseline()
    if after is not None and after is not before:
        save_idle(kv, meter)
    return after is not None
