"""Which energy sources this machine has: RAPL zones, NVIDIA and AMD GPUs, batteries, the estimate.

``discover_sensors`` returns every candidate (null objects included, with the reason each is
missing) in a fixed order; ``EnergyMeter`` chooses among them. Platform branches live here, not in
the meter.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from baton.core.telemetry.estimate import LOAD_BASES, CpuEstimate
from baton.core.telemetry.hwmon import discover_amd_gpus, discover_batteries
from baton.core.telemetry.nvml import NvmlSession, discover_nvml
from baton.core.telemetry.rapl import discover_rapl
from baton.core.telemetry.sensors import NullSensor, Opener, Sensor, read_text


@dataclass
class Discovery:
    """What was found. ``sensors``: every source, best first, the CPU estimate last; ``notes``: one
    line per source deliberately left out; ``nvml_session``: the NVML handle the GPUs share (or None)."""

    sensors: list[Sensor]
    notes: list[str] = field(default_factory=list)
    nvml_session: NvmlSession | None = None


def discover_sensors(
    root: Path,
    opener: Opener = read_text,
    nvml: object = None,
    use_nvml: bool = True,
    cpu_tdp_w: float = 0.0,
    cpu_load_basis: str = "process",
    platform: str = sys.platform,
) -> Discovery:
    """Every energy source under ``root`` (the sysfs root) and NVML, then the labelled CPU estimate.

    ``nvml`` injects a module with pynvml's API (tests); ``use_nvml=False`` skips NVML. An unknown
    ``cpu_load_basis`` falls back to "process" with a note. Never raises for a missing source."""
    rapl, notes = discover_rapl(root, opener)
    basis = cpu_load_basis
    if basis not in LOAD_BASES:
        notes.append(f"telemetry.cpu_load_basis '{basis}' is not one of {', '.join(LOAD_BASES)}: using process")
        basis = "process"
    session = NvmlSession(nvml) if use_nvml else None
    gpus = discover_nvml(session) if session else []
    sensors: list[Sensor] = [*rapl, *gpus, *discover_amd_gpus(root, opener), *discover_batteries(root, opener)]
    if platform == "darwin":
        sensors = _mac_battery(sensors)
    sensors.append(CpuEstimate.from_settings(cpu_tdp_w, basis))
    return Discovery(sensors, notes, session)


def _mac_battery(sensors: list[Sensor]) -> list[Sensor]:
    from baton.core.telemetry.macos import MacBattery

    out = [s for s in sensors if not (isinstance(s, NullSensor) and s.scope == "system_dc")]
    battery = MacBattery()
    ok, reason = battery.is_available()
    has_battery = ok or "charger" in reason  # a laptop on its charger may be unplugged later
    out.append(battery if has_battery else NullSensor("battery", "system_dc", reason, "battery_gauge"))
    return out
