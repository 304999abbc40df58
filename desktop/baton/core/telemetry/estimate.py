"""The fallback: CPU package power estimated from CPU load, always labelled ``estimated``.

    power_w = TDP x (0.1 + 0.9 x load^3)

``load`` is, by default, the CPU time of THIS process (every thread: llama.cpp's workers included)
divided by wall time x the logical CPUs it may run on. That attributes to Baton what Baton burns,
and nothing another program burns at the same time. With ``load_basis="system"`` it is the whole
machine's busy time from ``/proc/stat`` (psutil) instead, which models the package better but
charges other programs' work to the answer.

TDP comes from ``settings.telemetry.cpu_tdp_w``; when that is 0 it is guessed from the CPU model
name, and the guess is stated in every note.
"""

from __future__ import annotations

import os
import platform
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from baton.core.telemetry.sensors import COUNTER, Sensor

LOAD_BASES = ("process", "system")


def logical_cpus() -> int:
    """Logical CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cpu_model_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform module), for the TDP guess."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    for key in ("model name", "Model", "Hardware", "cpu model"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
        if m:
            return m.group(1).strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def guess_tdp_w(model: str, n_logical: int) -> tuple[float, str]:
    """A rough package power at full load from the CPU's name. Returns (watts, how it was guessed)."""
    m = model.lower()
    if any(k in m for k in ("xeon", "epyc", "threadripper", "neoverse", "graviton", "ampere")):
        watts = max(8.0, 4.0 * n_logical)
        return watts, f"server CPU '{model}': 4 W per logical CPU x {n_logical}"
    if "apple m" in m:
        watts = 40.0 if ("pro" in m or "max" in m or "ultra" in m) else 20.0
        return watts, f"Apple silicon '{model}'"
    rules = (
        (r"\b\w*\d{3,5}[a-z]*u\b", 15.0, "a U-series (ultrabook) part"),
        (r"\b\w*\d{4}g\d\b", 15.0, "a G-series ultrabook part"),
        (r"\b\w*\d{3,5}[a-z]*y\b", 7.0, "a Y-series (fanless) part"),
        (r"\b\w*\d{3,5}[a-z]*p\b", 28.0, "a P-series laptop part"),
        (r"\b\w*\d{3,5}(h|hs|hx|hk)\b", 45.0, "an H-series laptop part"),
        (r"\b\w*\d{3,5}(k|kf|ks|x|xt|x3d)\b", 125.0, "an unlocked desktop part"),
        (r"\b(core|ryzen|pentium|celeron|athlon)\b", 65.0, "a desktop part"),
        (r"\b(cortex|raspberry|bcm2|snapdragon)\b", 5.0, "a small ARM part"),
    )
    for pattern, watts, what in rules:
        if re.search(pattern, m):
            return watts, f"'{model}' looks like {what}"
    return 35.0, f"unknown CPU '{model}': a middle-of-the-road 35 W"


class CpuEstimate(Sensor):
    """A cumulative energy estimate, integrated in small steps between reads (the model is convex
    in load, so every read refines it; the meter reads at least once a second)."""

    name = "estimate:cpu"
    kind = COUNTER
    scope = "cpu_package"
    source = "estimated"
    stale_after_s = None

    def __init__(
        self,
        tdp_w: float,
        tdp_note: str,
        load_basis: str = "process",
        n_logical: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        cpu_seconds: Callable[[], float] | None = None,
    ) -> None:
        if load_basis not in LOAD_BASES:
            raise ValueError(f"load_basis must be one of {LOAD_BASES}")
        self.tdp_w = float(tdp_w)
        self.tdp_note = tdp_note
        self.load_basis = load_basis
        self.n_logical = n_logical or logical_cpus()
        self._clock = clock
        self._cpu_seconds = cpu_seconds or (time.process_time if load_basis == "process" else _system_busy_s)
        # Process CPU time has nanosecond resolution; /proc/stat counts 10 ms ticks.
        self.update_period_s = 0.01 if load_basis == "process" else 0.1
        self._lock = threading.Lock()
        self._energy_j = 0.0
        self._last: tuple[float, float] | None = None
        self.last_load = 0.0

    @classmethod
    def from_settings(cls, cpu_tdp_w: float, load_basis: str = "process", model: str | None = None) -> "CpuEstimate":
        """The estimate with ``cpu_tdp_w`` (W) from settings, or a TDP guessed from the CPU's name when it is 0."""
        n = logical_cpus() if load_basis == "process" else max(1, os.cpu_count() or 1)
        if cpu_tdp_w and cpu_tdp_w > 0:
            return cls(cpu_tdp_w, f"TDP {cpu_tdp_w:g} W from settings (telemetry.cpu_tdp_w)", load_basis, n)
        watts, how = guess_tdp_w(model or cpu_model_name(), n)
        note = f"TDP {watts:g} W guessed ({how}); set telemetry.cpu_tdp_w to your CPU's TDP"
        return cls(watts, note, load_basis, n)

    def power_at(self, load: float) -> float:
        """Estimated package power (W) at ``load`` (0..1, clamped)."""
        load = min(1.0, max(0.0, load))
        return self.tdp_w * (0.1 + 0.9 * load**3)

    def is_available(self) -> tuple[bool, str]:
        """Always (True, the formula): the estimate needs no hardware."""
        return True, f"always available: {self.formula()}"

    def formula(self) -> str:
        """The formula and its inputs in words, for receipts and `baton energy probe`."""
        basis = (
            "this process's CPU time" if self.load_basis == "process" else "the whole machine's busy CPU time"
        )
        return (
            f"{self.tdp_note}; power = TDP x (0.1 + 0.9 x load^3), load = {basis} / "
            f"({self.n_logical} logical CPUs x wall time)"
        )

    def read_energy_j(self) -> float:
        """The estimated energy (J) since the sensor was made, integrated up to now."""
        with self._lock:
            now, cpu = self._clock(), self._cpu_seconds()
            if self._last is not None:
                dt = now - self._last[0]
                if dt > 0:
                    self.last_load = min(1.0, max(0.0, (cpu - self._last[1]) / (dt * self.n_logical)))
                    self._energy_j += self.power_at(self.last_load) * dt
            self._last = (now, cpu)
            return self._energy_j

    def describe(self) -> str:
        """One line for a receipt's note, labelled as an estimate."""
        return f"estimate, not a measurement: {self.formula()}"


def _system_busy_s() -> float:
    import psutil

    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = sum(t)
    return total - idle
