"""Energy and resource telemetry: sensors (RAPL, NVML, AMD hwmon, battery, the CPU estimate), the
per-request ``EnergyMeter`` and the GUI's ``Sampler``. See docs/energy.md."""

from baton.core.telemetry.meter import EnergyMeter, IdleBaseline, Window
from baton.core.telemetry.sampler import Sample, Sampler

__all__ = ["EnergyMeter", "IdleBaseline", "Sample", "Sampler", "Window"]
