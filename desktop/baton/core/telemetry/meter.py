"""Energy per request: measurement windows over every source this machine has.

    meter = EnergyMeter.for_machine(settings.telemetry)
    window = meter.begin()          # before the prompt goes to the engine
    window.first_token()            # when the first token arrives (splits prefill / decode)
    measurement = window.end()      # one EnergyPart per (scope, source), flags and notes
    meter.close()

Sources are chosen best first: RAPL measures ``cpu_package`` (and ``dram``) where readable, else
the CPU estimate stands in, labelled ``estimated``; each NVIDIA/AMD GPU adds a ``gpu_board`` part;
a discharging battery adds a ``system_dc`` cross-check that is never added to the total. Nothing
in here raises out of a request: sensor trouble becomes a flag on the part.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baton.core.telemetry.channel import Channel, ChannelState
from baton.core.telemetry.discovery import discover_sensors
from baton.core.telemetry.estimate import CpuEstimate
from baton.core.telemetry.hwmon import AmdGpuSensor
from baton.core.telemetry.memory import MemoryReader
from baton.core.telemetry.nvml import NvmlGpu, NvmlSession
from baton.core.telemetry.poller import Poller
from baton.core.telemetry.sampler import Sampler
from baton.core.telemetry.sensors import NullSensor, Opener, Sensor, read_text
from baton.core.telemetry.share import SharedWindows
from baton.core.telemetry.window import Composer, judge_stuck
from baton.core.types import Measurement
from baton.paths import sysfs_root as env_sysfs_root

# How often power sensors (integrated by polling) are read while a window is open, unless the
# sensor asks for its own rate (``Sensor.poll_hz``). DESIGN.md: 10-20 Hz.
DEFAULT_POWER_HZ = 20.0


@dataclass
class IdleBaseline:
    """Idle power per sensor name (W), measured with the model loaded and nothing running."""

    watts_by_sensor: dict[str, float]
    measured_at: float  # time.time(), so that it can be saved and reloaded by the caller
    duration_s: float


class Window:
    """One request's measurement. ``first_token`` and ``end`` may each be called once; ``end`` again
    returns the same result."""

    def __init__(self, meter: "EnergyMeter") -> None:
        self._meter = meter
        self._lock = threading.Lock()
        meter._poller.acquire()
        self._begin = meter._read_all()
        self._first: dict[int, ChannelState] | None = None
        self._result: Measurement | None = None

    def first_token(self) -> None:
        """Mark the first token: splits the window into prefill and decode energy."""
        with self._lock:
            if self._first is None and self._result is None:
                self._first = self._meter._read_all()

    def end(self) -> Measurement:
        """Close the window and return its ``Measurement`` (the same object on every later call)."""
        with self._lock:
            if self._result is None:
                end = self._meter._read_all()
                self._meter._poller.release()
                self._result = self._meter._measurement(self._begin, self._first, end)
            return self._result

    def __enter__(self) -> "Window":
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()


class EnergyMeter:
    """Measures energy per request over every source this machine has (see the module docstring).

    ``channels``: the sources counted in a receipt; ``fallbacks``: the CPU estimate, read alongside a
    measured CPU source and used only where that source is frozen or drops out. Units: J, W, s."""

    def __init__(
        self,
        sensors: list[Sensor],
        notes: list[str] | None = None,
        power_hz: float = DEFAULT_POWER_HZ,
        nvml_session: NvmlSession | None = None,
        sample_hz: float = 4.0,
        history_s: float = 300.0,
    ) -> None:
        self.sensors = list(sensors)
        self.notes = list(notes or [])
        self._nvml_session = nvml_session
        self.channels = [Channel(s) for s in self._choose(self.sensors)]
        chosen = {id(ch.sensor) for ch in self.channels}
        self.fallbacks = [Channel(s) for s in self.sensors if isinstance(s, CpuEstimate) and id(s) not in chosen]
        self._poller = Poller([*self.channels, *self.fallbacks], power_hz)
        self._idle: IdleBaseline | None = None
        self._memory: MemoryReader | None = None
        self._sampler: Any = None
        self.sample_hz = sample_hz
        self.history_s = history_s
        self._closed = False
        # answers generated at the same time open their windows here: the joules are split by tokens processed
        self.shared = SharedWindows(self)

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def for_machine(
        cls,
        telemetry_settings: Any = None,
        sysfs_root: Path | str | None = None,
        nvml: Any = None,
        opener: Opener = read_text,
        use_nvml: bool = True,
    ) -> "EnergyMeter":
        """Every source this machine has (``discovery.discover_sensors``), configured from
        ``settings.telemetry`` (``cpu_tdp_w``, ``cpu_load_basis``, ``sample_hz``; None: defaults).
        ``nvml`` injects a module with pynvml's API (tests); ``use_nvml=False`` skips NVML entirely."""
        root = Path(sysfs_root) if sysfs_root is not None else env_sysfs_root()
        found = discover_sensors(
            root, opener, nvml=nvml, use_nvml=use_nvml,
            cpu_tdp_w=float(getattr(telemetry_settings, "cpu_tdp_w", 0.0) or 0.0),
            cpu_load_basis=str(getattr(telemetry_settings, "cpu_load_basis", "process") or "process"),
        )
        sample_hz = float(getattr(telemetry_settings, "sample_hz", 4.0) or 4.0)
        return cls(found.sensors, found.notes, nvml_session=found.nvml_session, sample_hz=sample_hz)

    @staticmethod
    def _choose(sensors: list[Sensor]) -> list[Sensor]:
        """The sensors to measure with: every available real source, batteries even while charging
        (they become usable when unplugged), and the estimate only where no measured CPU source is."""
        chosen: list[Sensor] = []
        for s in sensors:
            if isinstance(s, (NullSensor, CpuEstimate)):
                continue
            if getattr(s, "cross_check", False) or s.is_available()[0]:
                chosen.append(s)
        measured_cpu = any(s.scope == "cpu_package" and not s.cross_check for s in chosen)
        if not measured_cpu:
            chosen.extend(s for s in sensors if isinstance(s, CpuEstimate))
        return chosen

    # ---- windows ---------------------------------------------------------------------------
    def begin(self) -> Window:
        """Open a measurement window (reads every channel now); close it with ``end()``."""
        return Window(self)

    def _read_all(self) -> dict[int, ChannelState]:
        return {id(ch): ch.read() for ch in (*self.channels, *self.fallbacks)}

    def counted_channels(self) -> list[Channel]:
        """The channels a receipt counts now: every chosen source except a frozen one, whose scope's
        fallback (the CPU estimate) stands in for it."""
        out: list[Channel] = []
        fallback = {ch.sensor.scope: ch for ch in self.fallbacks}
        for ch in self.channels:
            if ch.stuck is None:
                out.append(ch)
            else:
                fb = fallback.pop(ch.sensor.scope, None)
                if fb is not None:
                    out.append(fb)
        return out

    def _measurement(
        self,
        begin: dict[int, ChannelState],
        first: dict[int, ChannelState] | None,
        end: dict[int, ChannelState],
    ) -> Measurement:
        idle = self._idle.watts_by_sensor if self._idle is not None else None
        return Composer(self.channels, self.fallbacks, idle).measurement(begin, first, end)

    # ---- idle baseline -----------------------------------------------------------------------
    def measure_idle(self, duration_s: float = 2.0) -> dict[str, float] | None:
        """Watts per scope while nothing runs (call it with the model loaded and idle). Skipped,
        returning the current baseline, while a window is open. Returns None when it failed."""
        if self._poller.active:
            return self.idle_by_scope()
        self._poller.acquire()
        try:
            begin = self._read_all()
            time.sleep(max(0.05, duration_s))
            end = self._read_all()
        finally:
            self._poller.release()
        watts: dict[str, float] = {}
        for ch in (*self.channels, *self.fallbacks):
            b, e = begin[id(ch)], end[id(ch)]
            judge_stuck(ch, b, e)
            if ch.stuck is not None:
                continue
            dt = e.t - b.t
            clean = e.errors == b.errors and e.bad == b.bad and e.resyncs == b.resyncs and e.not_ready == b.not_ready
            if dt > 0 and clean:
                watts[ch.sensor.name] = (e.energy_j - b.energy_j) / dt
        if not watts:
            return None
        self._idle = IdleBaseline(watts, time.time(), duration_s)
        return self.idle_by_scope()

    def refresh_idle(self, max_age_s: float = 600.0, duration_s: float = 2.0) -> dict[str, float] | None:
        """Measure the baseline again when there is none or it is older than ``max_age_s``."""
        age = self.idle_age_s()
        if age is None or age > max_age_s:
            return self.measure_idle(duration_s)
        return self.idle_by_scope()

    def idle_age_s(self) -> float | None:
        """Seconds since the idle baseline was measured, None when there is none."""
        return None if self._idle is None else max(0.0, time.time() - self._idle.measured_at)

    def idle_baseline(self) -> IdleBaseline | None:
        """The idle baseline (W per sensor), or None."""
        return self._idle

    def set_idle_baseline(self, baseline: IdleBaseline | None) -> None:
        """Restore a baseline the caller saved (one-shot CLI runs need not measure it each time)."""
        self._idle = baseline

    def idle_by_scope(self) -> dict[str, float] | None:
        """Idle watts per scope over the counted channels, None without a baseline."""
        if self._idle is None:
            return None
        out: dict[str, float] = defaultdict(float)
        for ch in self.counted_channels():
            w = self._idle.watts_by_sensor.get(ch.sensor.name)
            if w is not None:
                out[ch.sensor.scope] += w
        return dict(out)

    def idle_power_w(self) -> float | None:
        """Total idle power over the parts that count (cross-checks left out)."""
        if self._idle is None:
            return None
        vals = [self._idle.watts_by_sensor.get(ch.sensor.name) for ch in self.counted_channels()
                if not ch.sensor.cross_check]
        if not vals or any(v is None for v in vals):
            return None
        return float(sum(v for v in vals if v is not None))

    # ---- probe, power, memory ------------------------------------------------------------------
    def probe(self, sample_s: float = 0.3) -> dict[str, Any]:
        """CONTRACT ``baton energy probe --json``: every source, whether it can be read and why not,
        and its power now (over ``sample_s``)."""
        probe_channels = {id(ch.sensor): ch for ch in (*self.channels, *self.fallbacks)}
        extra = {}
        for s in self.sensors:
            if id(s) not in probe_channels and not isinstance(s, NullSensor) and s.is_available()[0]:
                extra[id(s)] = Channel(s)
        everything = [*probe_channels.values(), *extra.values()]
        before = {id(ch): ch.read() for ch in everything}
        time.sleep(max(0.05, sample_s))
        after = {id(ch): ch.read() for ch in everything}
        for ch in everything:
            judge_stuck(ch, before[id(ch)], after[id(ch)])
        counted = {id(ch.sensor) for ch in self.counted_channels()}
        sources = []
        for s in self.sensors:
            available, reason = s.is_available()
            ch = probe_channels.get(id(s)) or extra.get(id(s))
            if available and ch is not None and ch.stuck is not None:
                available, reason = False, ch.stuck
            power_w = None
            if available and ch is not None:
                b, a = before[id(ch)], after[id(ch)]
                if a.t > b.t and a.bad == b.bad and a.errors == b.errors:
                    power_w = round((a.energy_j - b.energy_j) / (a.t - b.t), 3)
            used = id(s) in counted and available
            if available and not used:
                reason += "; not used: a measured source covers this scope"
            if used and isinstance(s, CpuEstimate) and id(s) not in {id(c.sensor) for c in self.channels}:
                reason += "; stands in for a measured source that is not moving"
            sources.append(
                {
                    "name": s.name,
                    "scope": s.scope,
                    "source": getattr(s, "would_be_source", s.source),
                    "available": available,
                    "reason": reason,
                    "power_w": power_w,
                    "used": used,
                    "counted_in_total": used and not s.cross_check,
                }
            )
        idle = self.idle_power_w()
        return {"sources": sources, "idle_power_w": None if idle is None else round(idle, 3), "notes": list(self.notes)}

    def read_power(self) -> dict[int, ChannelState]:
        """Fresh states of every channel, fallbacks included (the sampler turns two into watts)."""
        return self._read_all()

    def memory(self) -> dict[str, int | None]:
        """``rss_bytes``, ``rss_mapped_bytes``, ``rss_private_bytes``, ``vram_bytes`` (this process) and ``vram_device_bytes``; None where unknown."""
        if self._memory is None:
            self._memory = MemoryReader()
        out: dict[str, int | None] = dict(self._memory.read())
        out["vram_bytes"] = self._vram_process()
        out["vram_device_bytes"] = self._vram_device()
        return out

    def _vram_process(self) -> int | None:
        pid = os.getpid()
        vals = [s.process_vram_bytes(pid) for s in self.sensors if isinstance(s, NvmlGpu)]
        known = [v for v in vals if v is not None]
        return int(sum(known)) if known else None

    def _vram_device(self) -> int | None:
        vals: list[int | None] = []
        for s in self.sensors:
            if isinstance(s, NvmlGpu):
                vals.append(s.device_vram_used_bytes())
            elif isinstance(s, AmdGpuSensor):
                vals.append(s.vram_used_bytes())
        known = [v for v in vals if v is not None]
        return int(sum(known)) if known else None

    @property
    def poller_cpu_s(self) -> float:
        """CPU seconds the polling thread has used (its own overhead)."""
        return self._poller.cpu_s

    @property
    def sampler(self) -> Any:
        """The GUI's ``Sampler`` over this meter, created and started on first access (at
        ``telemetry.sample_hz``); ``close()`` stops it. A CLI run that never asks starts no thread."""
        if self._sampler is None and not self._closed:
            self._sampler = Sampler(self, hz=self.sample_hz, history_s=self.history_s).start()
        return self._sampler

    def close(self) -> None:
        """Stop the sampler and the poller and release every sensor. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._sampler is not None:
            self._sampler.stop()
        self._poller.stop()
        for s in self.sensors:
            try:
                s.close()
            except Exception:
                pass
        if self._nvml_session is not None:
            self._nvml_session.close()

    def __enter__(self) -> "EnergyMeter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["EnergyMeter", "IdleBaseline", "Window"]
