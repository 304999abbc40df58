"""Is this computer running on its battery? Read from ``/sys/class/power_supply`` under ``BATON_SYSFS_ROOT``.

A battery counts as the power source while its ``status`` is ``Discharging`` and no mains supply says
``online`` = 1. A few small file reads, no thread: callers ask when they decide (each request), never on a timer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from baton.core.telemetry.hwmon import POWER_SUPPLY
from baton.core.telemetry.sensors import sys_path


@dataclass(frozen=True)
class PowerState:
    """``on_battery``: True while discharging; ``battery``: its name (``BAT0``) or ''; ``percent``: charge left
    (0-100) when the battery says it, else None."""

    on_battery: bool
    battery: str = ""
    percent: float | None = None

    def describe(self) -> str:
        """``on battery (BAT0, 42%)`` or ``on mains power``."""
        if not self.on_battery:
            return "on mains power"
        pct = f", {self.percent:.0f}%" if self.percent is not None else ""
        return f"on battery ({self.battery}{pct})"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""


def power_state(root: Path | str) -> PowerState:
    """The power source now, read under ``root`` (the real ``/`` or a test tree). Never raises: unreadable files
    count as mains power."""
    base = sys_path(Path(root), POWER_SUPPLY)
    try:
        supplies = sorted(base.iterdir())
    except OSError:
        return PowerState(False)
    discharging: list[Path] = []
    for d in supplies:
        kind = _read(d / "type")
        if kind == "Mains" and _read(d / "online") == "1":
            return PowerState(False)
        if kind == "Battery" and _read(d / "status") == "Discharging":
            discharging.append(d)
    if not discharging:
        return PowerState(False)
    bat = discharging[0]
    cap = _read(bat / "capacity")
    try:
        percent: float | None = float(cap) if cap else None
    except ValueError:
        percent = None
    return PowerState(True, bat.name, percent)
