"""macOS without admin rights: the battery gauge through ``ioreg -rn AppleSmartBattery``.

``powermetrics`` (CPU/GPU/ANE power) needs sudo, and the IOReport energy counters are a private
framework; docs/energy.md says what they would give. The battery gauge is public and needs no
rights: ``InstantAmperage`` (mA, printed as an unsigned 64-bit number when negative) times
``Voltage`` (mV), used only while the charger is disconnected. ``ioreg`` takes ~20 ms, so a reading
is reused for ``min_interval_s``; the gauge itself refreshes far more slowly than that.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable

from baton.core.telemetry.sensors import POWER, BadReading, NotReady, Sensor

IOREG_CMD = ["ioreg", "-rn", "AppleSmartBattery"]


def _run_ioreg() -> str:
    done = subprocess.run(IOREG_CMD, capture_output=True, text=True, timeout=5, check=False)
    if done.returncode != 0:
        raise OSError(f"ioreg exited {done.returncode}: {done.stderr.strip()[:200]}")
    return done.stdout


def parse_ioreg_battery(text: str) -> dict[str, int | bool]:
    """The top-level ``"Key" = value`` pairs (integers and Yes/No) of an AppleSmartBattery entry."""
    out: dict[str, int | bool] = {}
    for m in re.finditer(r'^\s*\|?\s*"(\w+)" = (Yes|No|-?\d+)\s*$', text, re.MULTILINE):
        key, raw = m.group(1), m.group(2)
        if raw in ("Yes", "No"):
            out[key] = raw == "Yes"
        else:
            value = int(raw)
            if value >= 2**63:  # a negative number printed as unsigned 64-bit
                value -= 2**64
            out[key] = value
    return out


class MacBattery(Sensor):
    """The battery on macOS, read through ``ioreg`` (system_dc cross-check, never added to the total)."""
    kind = POWER
    scope = "system_dc"
    source = "battery_gauge"
    cross_check = True
    update_period_s = 5.0
    poll_hz = 2.0  # the gauge refreshes every few seconds: polling faster only costs CPU
    stale_after_s = None
    name = "battery:AppleSmartBattery"

    def __init__(self, run: Callable[[], str] = _run_ioreg, min_interval_s: float = 2.0) -> None:
        self._run = run
        self._min_interval_s = min_interval_s
        self._cached: tuple[float, dict[str, int | bool]] | None = None

    def _fields(self) -> dict[str, int | bool]:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] >= self._min_interval_s:
            self._cached = (now, parse_ioreg_battery(self._run()))
        return self._cached[1]

    def is_available(self) -> tuple[bool, str]:
        """(True, how) while discharging; (False, why) on the charger or without a battery."""
        try:
            watts = self.read_power_w()
        except NotReady as e:
            return False, str(e)
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            return False, f"no battery reading from ioreg ({e})"
        return True, f"battery discharging at {watts:.1f} W (whole system, a cross-check)"

    def read_power_w(self) -> float:
        """Discharge power (W) from the battery's voltage and amperage; ``NotReady`` while charging."""
        f = self._fields()
        if not f:
            raise NotReady("no AppleSmartBattery (a desktop Mac)")
        if f.get("ExternalConnected", False):
            raise NotReady("the charger is connected: battery power is only read while discharging")
        amps = f.get("InstantAmperage", f.get("Amperage"))
        volts = f.get("Voltage")
        if not isinstance(amps, int) or isinstance(amps, bool) or not isinstance(volts, int) or isinstance(volts, bool):
            raise BadReading("ioreg gave no InstantAmperage/Voltage")
        return abs(amps) * volts / 1e6

    def describe(self) -> str:
        """One line for a receipt's note."""
        return "battery InstantAmperage x Voltage from ioreg (whole system)"
