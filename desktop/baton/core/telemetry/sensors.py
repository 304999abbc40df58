"""The one small interface every energy source implements, and the null object for a missing one.

A sensor is one of two kinds:

- ``counter``: ``read_energy_j()`` returns a cumulative energy in joules that may wrap at
  ``max_energy_j`` (RAPL, NVML total energy, AMD ``energy1_input``, the CPU estimate).
- ``power``: ``read_power_w()`` returns an instantaneous (or firmware-averaged) power in watts that
  the meter integrates by polling (NVML power, AMD ``power1_average``, batteries).

Sensors only read and parse. They raise ``BadReading`` for data that cannot be a measurement
(empty file, garbage, NaN), ``NotReady`` when the source exists but must not be used right now
(a battery that is charging), and ``OSError`` for I/O failures. The meter's channels catch all of
these: a sensor problem never escapes into a request.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

# Reads one small text file. Injectable so that a test can put a real PermissionError (or any
# other OSError) in front of a real file tree.
Opener = Callable[[Path], str]

COUNTER = "counter"
POWER = "power"


class BadReading(ValueError):
    """The source answered with something that is not a valid reading."""


class NotReady(RuntimeError):
    """The source exists but its reading must not be used now (e.g. a battery on the charger)."""


def read_text(path: Path) -> str:
    """The default opener: one small text file, read as ASCII (bad bytes replaced)."""
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read()


def parse_number(text: str, what: str) -> float:
    """Parse one finite number from a sysfs-style file; ``BadReading`` otherwise."""
    s = text.strip()
    if not s:
        raise BadReading(f"{what}: empty")
    try:
        value = float(s)
    except ValueError:
        raise BadReading(f"{what}: not a number ({s[:40]!r})") from None
    if not math.isfinite(value):
        raise BadReading(f"{what}: not finite ({s[:40]!r})")
    return value


def sys_path(root: Path, absolute: str) -> Path:
    """``/sys/...`` under ``root`` (``BATON_SYSFS_ROOT``)."""
    return Path(root) / absolute.lstrip("/")


class Sensor:
    """Base class. Subclasses set the labels and override the read that matches their kind."""

    name: str = "sensor"
    scope: str = "process"
    source: str = "unavailable"
    kind: str = COUNTER
    # How often the hardware (or firmware) refreshes the value: a window shorter than this is flagged.
    update_period_s: float = 0.001
    # A value that has not changed for this long while we read it is flagged "stale" (None: never).
    stale_after_s: float | None = 5.0
    # Cumulative counters wrap at this many joules (None: they do not wrap in practice).
    max_energy_j: float | None = None
    # Power sensors: how often to poll while a window is open (None: the meter's 20 Hz default).
    poll_hz: float | None = None
    # A sensor of scope "system_dc" is a whole-system cross-check and is never added to the total.
    cross_check: bool = False

    def is_available(self) -> tuple[bool, str]:
        """(True, what is read) or (False, why not and what to do)."""
        raise NotImplementedError

    def read_energy_j(self) -> float:
        """Cumulative energy (J) of a counter sensor."""
        raise NotImplementedError(f"{self.name} is a {self.kind} sensor")

    def read_power_w(self) -> float:
        """Power now (W) of a power sensor."""
        raise NotImplementedError(f"{self.name} is a {self.kind} sensor")

    def describe(self) -> str:
        """One line for a receipt's note: what is read and how."""
        return self.name

    def close(self) -> None:
        """Release what the sensor holds (NVML handles, subprocesses). Idempotent."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.scope}/{self.source}>"


class NullSensor(Sensor):
    """Stands in for a source that does not exist or cannot be read here, with the reason why."""

    source = "unavailable"

    def __init__(self, name: str, scope: str, reason: str, source: str = "unavailable") -> None:
        self.name = name
        self.scope = scope
        self.reason = reason
        # The source this sensor would have had (for `energy probe`), "unavailable" when unknown.
        self.would_be_source = source

    def is_available(self) -> tuple[bool, str]:
        """Always (False, the reason)."""
        return False, self.reason

    def read_energy_j(self) -> float:
        """Always raises ``NotReady`` with the reason."""
        raise NotReady(self.reason)

    def read_power_w(self) -> float:
        """Always raises ``NotReady`` with the reason."""
        raise NotReady(self.reason)
