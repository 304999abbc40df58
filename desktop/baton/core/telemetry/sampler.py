"""A background thread that keeps the last few minutes of watts per scope, RAM and VRAM.

The GUI polls ``snapshot()`` (or ``series()``) at 2-4 Hz from its own thread. Watts come from the
meter's channels (counter deltas, or integrated power, between two ticks), so a sample costs a few
small file reads and one ``/proc/self/statm`` read. ``cpu_s`` is the thread's own CPU time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from baton.core.telemetry.channel import Channel, ChannelState
from baton.core.telemetry.window import judge_stuck


class PowerSource(Protocol):
    """What the sampler reads (``EnergyMeter`` is one): channel states keyed by ``id(channel)``, the
    channels counted now, and memory figures (bytes)."""

    def read_power(self) -> dict[int, ChannelState]:
        """Fresh channel states, keyed by ``id(channel)``."""

    def counted_channels(self) -> list[Channel]:
        """The channels that count now (a frozen one replaced by its fallback)."""

    def memory(self) -> dict[str, int | None]:
        """Memory figures in bytes (``rss_bytes``, ``vram_bytes``, ...)."""


@dataclass(frozen=True)
class Sample:
    """One tick: watts per scope (W), RSS (bytes), VRAM (bytes or None), at ``t`` (monotonic s)."""

    t: float  # time.monotonic() seconds
    watts: tuple[tuple[str, float], ...]  # (scope, watts) pairs; immutable so copies are cheap
    rss_bytes: int
    rss_mapped_bytes: int
    rss_private_bytes: int
    vram_bytes: int | None
    sources: tuple[tuple[str, str], ...] = ()  # (scope, source label) of each line

    def watts_by_scope(self) -> dict[str, float]:
        """``{scope: watts}`` for this sample."""
        return dict(self.watts)


class Sampler:
    """The background thread; ``hz`` samples per second, ``history_s`` seconds kept."""

    def __init__(self, meter: PowerSource, hz: float = 4.0, history_s: float = 300.0) -> None:
        if hz <= 0 or history_s <= 0:
            raise ValueError("hz and history_s must be positive")
        self._meter = meter
        self.period_s = 1.0 / hz
        self._ring: deque[Sample] = deque(maxlen=max(1, int(round(hz * history_s))))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cpu_s = 0.0
        self.ticks = 0

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> "Sampler":
        """Start the thread (again after ``stop``); returns self."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="baton-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and wait for it (up to 5 s). Idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> "Sampler":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- reading ---------------------------------------------------------------------------
    def snapshot(self) -> list[Sample]:
        """A copy of the ring buffer, oldest first (samples are immutable)."""
        with self._lock:
            return list(self._ring)

    def latest(self) -> Sample | None:
        """The newest sample, None before the first tick."""
        with self._lock:
            return self._ring[-1] if self._ring else None

    def series(self, since_t: float | None = None) -> dict[str, Any]:
        """Columns for a plot: ``t`` (seconds), ``watts`` {scope: [...]}, ``rss_bytes``, ... ."""
        samples = [s for s in self.snapshot() if since_t is None or s.t > since_t]
        scopes = list(dict.fromkeys(scope for s in samples for scope, _ in s.watts))
        return {
            "t": [s.t for s in samples],
            "watts": {sc: [s.watts_by_scope().get(sc) for s in samples] for sc in scopes},
            "rss_bytes": [s.rss_bytes for s in samples],
            "rss_mapped_bytes": [s.rss_mapped_bytes for s in samples],
            "rss_private_bytes": [s.rss_private_bytes for s in samples],
            "vram_bytes": [s.vram_bytes for s in samples],
        }

    def sources(self) -> dict[str, str]:
        """The source label behind each scope's line (a plot legend must show it)."""
        return {ch.sensor.scope: ch.sensor.source for ch in self._meter.counted_channels()}

    # ---- the thread --------------------------------------------------------------------------
    def _run(self) -> None:
        prev = self._meter.read_power()
        next_t = time.monotonic() + self.period_s
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            cpu0 = time.thread_time()
            next_t += self.period_s
            if next_t < time.monotonic():  # fell behind (suspend, a stall): do not burst to catch up
                next_t = time.monotonic() + self.period_s
            try:
                cur = self._meter.read_power()
                watts: dict[str, float] = {}
                for ch in self._meter.counted_channels():
                    b, e = prev.get(id(ch)), cur.get(id(ch))
                    if b is None or e is None or e.t <= b.t:
                        continue
                    if judge_stuck(ch, b, e):  # a frozen counter is not 0 W: its fallback takes over next tick
                        continue
                    scope = ch.sensor.scope
                    watts[scope] = watts.get(scope, 0.0) + (e.energy_j - b.energy_j) / (e.t - b.t)
                mem = self._meter.memory()
                sample = Sample(
                    t=time.monotonic(),
                    watts=tuple(watts.items()),
                    rss_bytes=int(mem["rss_bytes"] or 0),
                    rss_mapped_bytes=int(mem["rss_mapped_bytes"] or 0),
                    rss_private_bytes=int(mem["rss_private_bytes"] or 0),
                    vram_bytes=mem.get("vram_bytes"),
                    sources=tuple(self.sources().items()),
                )
                with self._lock:
                    self._ring.append(sample)
                prev = cur
            except Exception:  # a sampler problem must never take the app down
                pass
            self.ticks += 1
            self.cpu_s += time.thread_time() - cpu0
