"""A channel turns one sensor's raw reads into a monotonic energy total, safely.

Counters are unwrapped (``max_energy_j``) and checked for plausibility; power readings are
integrated with the trapezoid rule. Every read is counted (wraps, bad data, I/O errors, gaps that
forced a re-sync, "not ready" answers) so that a measurement window can say what happened inside
it by comparing two snapshots. ``read()`` never raises.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from baton.core.telemetry.sensors import COUNTER, BadReading, NotReady, Sensor

# No CPU package, GPU board or laptop draws more than this; a larger implied power is bad data.
MAX_PLAUSIBLE_W = 5000.0
# Power readings further apart than this are not integrated across (the gap is reported instead).
POWER_MAX_GAP_S = 2.0
# Until a counter's power is known, assume this much when deciding how often to read it.
ASSUMED_W = 50.0


@dataclass(frozen=True)
class ChannelState:
    """One read of a channel. Units: s (``t``: time.monotonic()), J. The counts are cumulative since
    the channel was made: two states taken apart say what happened between them. ``covered_s`` is
    the time (s) the energy total accounts for: it stops growing while reads fail or are refused."""

    t: float
    energy_j: float
    wraps: int = 0
    bad: int = 0
    errors: int = 0
    resyncs: int = 0
    not_ready: int = 0
    reads: int = 0
    last_change_t: float | None = None
    problem: str = ""
    covered_s: float = 0.0
    last_good_t: float | None = None  # when the last reading that counted was taken


class Channel:
    """One sensor behind a lock, turned into a running energy total (J). ``stuck`` holds the reason
    when the meter found the sensor's counter frozen (None while it moves)."""

    def __init__(self, sensor: Sensor, clock: Callable[[], float] = time.monotonic) -> None:
        self.sensor = sensor
        self._clock = clock
        self._lock = threading.Lock()
        self._energy_j = 0.0
        self._last_value: float | None = None  # raw counter (J) or last power (W)
        self._last_t: float | None = None
        self._last_change_t: float | None = None
        self._max_seen_w = 0.0
        self._counts = {"wraps": 0, "bad": 0, "errors": 0, "resyncs": 0, "not_ready": 0, "reads": 0}
        self._problem = ""
        self._covered_s = 0.0
        self.last_power_w: float | None = None
        self.stuck: str | None = None

    @property
    def is_counter(self) -> bool:
        """True for a cumulative-energy sensor (J), False for a power sensor (W) integrated by polling."""
        return self.sensor.kind == COUNTER

    def poll_interval_s(self, power_hz: float) -> float:
        """How often this channel must be read while a window is open."""
        if not self.is_counter:
            return 1.0 / (self.sensor.poll_hz or power_hz)
        rng = self.sensor.max_energy_j
        if rng:
            # Read often enough to see every wrap: a quarter of the range at the highest power seen.
            return max(0.01, min(1.0, 0.25 * rng / max(self._max_seen_w, ASSUMED_W)))
        return 1.0

    def _max_gap_s(self) -> float | None:
        rng = self.sensor.max_energy_j
        if not self.is_counter or not rng:
            return None
        return max(1.0, 0.5 * rng / max(self._max_seen_w, ASSUMED_W))

    def read(self) -> ChannelState:
        """Read the sensor once and return the new state; never raises (problems are counted in the state)."""
        with self._lock:
            now = self._clock()
            self._counts["reads"] += 1
            try:
                value = self.sensor.read_energy_j() if self.is_counter else self.sensor.read_power_w()
                if not math.isfinite(value):
                    raise BadReading(f"not finite ({value})")
            except NotReady as e:
                self._counts["not_ready"] += 1
                self._problem = str(e)
                self._last_value = None if not self.is_counter else self._last_value
                self.last_power_w = None
            except (BadReading, ValueError, TypeError) as e:
                self._counts["bad"] += 1
                self._problem = f"bad data: {e}"
            except Exception as e:  # OSError, NVMLError, anything a driver throws
                self._counts["errors"] += 1
                self._problem = f"read failed: {type(e).__name__}: {e}"
            else:
                if self.is_counter:
                    self._take_counter(value, now)
                else:
                    self._take_power(value, now)
            return self._state(now)

    def state(self) -> ChannelState:
        """The current state without reading the sensor."""
        with self._lock:
            return self._state(self._clock())

    def _state(self, now: float) -> ChannelState:
        return ChannelState(now, self._energy_j, last_change_t=self._last_change_t, problem=self._problem,
                            covered_s=self._covered_s, last_good_t=self._last_t, **self._counts)

    def _rebase(self, value: float, now: float) -> None:
        self._last_value, self._last_t = value, now
        if self._last_change_t is None:
            self._last_change_t = now

    def _take_counter(self, raw: float, now: float) -> None:
        last, last_t = self._last_value, self._last_t
        if last is None or last_t is None:
            self._rebase(raw, now)
            return
        dt = now - last_t
        gap = self._max_gap_s()
        if gap is not None and dt > gap:
            # Too long since the last read to know how many wraps happened: start again from here.
            self._counts["resyncs"] += 1
            self._problem = f"not read for {dt:.1f} s: re-synced"
            self._rebase(raw, now)
            return
        delta = raw - last
        dt_eff = max(dt, self.sensor.update_period_s, 1e-3)
        wrapped = False
        if delta < 0:
            rng = self.sensor.max_energy_j
            if rng and 0 <= delta + rng and (delta + rng) / dt_eff <= MAX_PLAUSIBLE_W:
                delta += rng
                wrapped = True
            else:
                self._counts["bad"] += 1
                self._problem = f"bad data: counter went backwards ({last:.6f} -> {raw:.6f} J)"
                self._rebase(raw, now)
                return
        if delta / dt_eff > MAX_PLAUSIBLE_W:
            self._counts["bad"] += 1
            self._problem = f"bad data: implausible jump of {delta:.1f} J in {dt:.3f} s"
            self._rebase(raw, now)
            return
        if wrapped:
            self._counts["wraps"] += 1
        self._energy_j += delta
        self._covered_s += max(dt, 0.0)
        if delta > 0:
            self._last_change_t = now
        if dt > 0:
            power_w = delta / dt_eff
            self.last_power_w = power_w
            self._max_seen_w = max(self._max_seen_w, power_w)
        self._last_value, self._last_t = raw, now

    def _take_power(self, watts: float, now: float) -> None:
        if watts < 0 or watts > MAX_PLAUSIBLE_W:
            self._counts["bad"] += 1
            self._problem = f"bad data: {watts} W"
            return
        last, last_t = self._last_value, self._last_t
        if last is not None and last_t is not None:
            dt = now - last_t
            if dt <= POWER_MAX_GAP_S:
                self._energy_j += 0.5 * (last + watts) * max(dt, 0.0)
                self._covered_s += max(dt, 0.0)
            else:
                self._counts["resyncs"] += 1
                self._problem = f"no power reading for {dt:.1f} s: gap not integrated"
        if last is None or watts != last or self._last_change_t is None:
            self._last_change_t = now
        self._last_value, self._last_t = watts, now
        self.last_power_w = watts
        self._max_seen_w = max(self._max_seen_w, watts)
