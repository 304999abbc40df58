"""The app's own idle cost: CPU time per minute of a process holding a loaded model with nothing asked.

Builds the service as the app does (store, energy meter, router), loads the model, starts the meter's sampler
as the app's power panel does, then sleeps and reads the process's CPU time (every thread: the engine's owner
thread, the sampler, the model time-to-live timer). Figures: ``cpu_s`` over ``duration_s``, and ``core_share``
(CPU seconds per wall second: 0.005 is half a percent of one core).
"""

from __future__ import annotations

import dataclasses
import resource
import tempfile
import time
from typing import Any

from baton.config import Settings
from baton.paths import Paths


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def measure_idle(settings: Settings, model: str | None = None, duration_s: float = 60.0,
                 sampler: bool = True) -> dict[str, Any]:
    """Load ``model`` in a fresh service (a temporary BATON_HOME), optionally start the meter's sampler, wait
    ``duration_s`` and return ``{"duration_s", "cpu_s", "core_share", "cpu_s_per_min", "sampler_ticks",
    "sampler_cpu_s", "sampler_hz_idle", "model", "load_s"}``. Raises BatonError for a bad model."""
    from baton.core.service import BatonService

    quiet = dataclasses.replace(settings, endpoints=[])
    with tempfile.TemporaryDirectory(prefix="baton-idle-") as tmp:
        service = BatonService.build(Paths.from_env({"BATON_HOME": tmp}).ensure(), quiet)
        try:
            engine, load_s = service.engine(model)
            smp = service.meter.sampler if sampler and service.meter is not None else None
            time.sleep(1.0)  # let the threads settle after the load
            ticks0 = smp.ticks if smp is not None else 0
            smp_cpu0 = smp.cpu_s if smp is not None else 0.0
            cpu0, t0 = _cpu_s(), time.monotonic()
            time.sleep(duration_s)
            cpu, wall = _cpu_s() - cpu0, time.monotonic() - t0
            ticks = (smp.ticks - ticks0) if smp is not None else 0
            return {"model": engine.model_id, "load_s": round(load_s, 3), "duration_s": round(wall, 2),
                    "cpu_s": round(cpu, 4), "core_share": round(cpu / wall, 6),
                    "cpu_s_per_min": round(cpu * 60.0 / wall, 4), "sampler_ticks": ticks,
                    "sampler_cpu_s": round((smp.cpu_s - smp_cpu0) if smp is not None else 0.0, 4),
                    "sampler_hz_idle": round(ticks / wall, 3)}
        finally:
            service.close()


if __name__ == "__main__":  # python -m baton.bench.idle [SECONDS]
    import json
    import sys

    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    print(json.dumps(measure_idle(Settings(), duration_s=secs)))
