"""CPU package and DRAM energy from Linux RAPL (``/sys/class/powercap/intel-rapl:*``).

Zones are classified by their ``name`` file: ``package-N`` is scope ``cpu_package``, ``dram`` is
scope ``dram`` (kept apart from the package), ``core``/``uncore`` are parts of a package and are
not added again, and ``psys`` (the whole platform) is never added to anything. The kernel's
``intel-rapl`` driver serves AMD Zen packages too.

``energy_uj`` wraps at ``max_energy_range_uj``; the meter reads it at least once a second and
unwraps it. Since Linux 5.10 (CVE-2020-8694) ``energy_uj`` is readable by root only on most
distributions: the sensor then reports itself unavailable with the one-line remedy.
"""

from __future__ import annotations

import re
from pathlib import Path

from baton.core.telemetry.sensors import (
    COUNTER,
    NullSensor,
    Opener,
    Sensor,
    parse_number,
    read_text,
    sys_path,
)

POWERCAP = "/sys/class/powercap"
_ZONE_RE = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")


def chmod_remedy(root: Path) -> str:
    """The one-line command that makes RAPL's energy_uj readable until the next boot."""
    base = sys_path(root, POWERCAP)
    return f"sudo chmod a+r {base}/intel-rapl:*/energy_uj"


class RaplZone(Sensor):
    """One RAPL zone's energy counter (``energy_uj``, µJ), unwrapped at ``max_energy_range_uj``. Units: J."""
    kind = COUNTER
    source = "hw_counter"
    update_period_s = 0.001  # the hardware refreshes the counter about every millisecond
    stale_after_s = 2.0  # a package counter that has not moved for 2 s is not being updated

    def __init__(self, zone_dir: Path, label: str, scope: str, root: Path, opener: Opener = read_text) -> None:
        self.zone_dir = zone_dir
        self.label = label
        self.scope = scope
        self.name = f"rapl:{zone_dir.name} {label}"
        self._root = root
        self._open = opener
        self._energy_file = zone_dir / "energy_uj"
        self.max_energy_j = None
        self._range_note = ""
        try:
            self.max_energy_j = parse_number(self._open(zone_dir / "max_energy_range_uj"), "max_energy_range_uj") / 1e6
            if self.max_energy_j <= 0:
                self.max_energy_j = None
        except (OSError, ValueError) as e:
            self._range_note = f" (max_energy_range_uj unreadable: {e}; wraps cannot be unwrapped)"

    def is_available(self) -> tuple[bool, str]:
        """(True, what) when energy_uj can be read; (False, why and the remedy) otherwise."""
        try:
            self.read_energy_j()
        except PermissionError:
            return False, (
                f"{self._energy_file} is readable by root only (Linux >= 5.10); allow it until the next "
                f"boot with: {chmod_remedy(self._root)}  (a udev rule that lasts: docs/energy.md)"
            )
        except OSError as e:
            return False, f"cannot read {self._energy_file}: {e.strerror or e}"
        except ValueError as e:
            return False, f"{self._energy_file} holds no valid counter ({e})"
        return True, f"RAPL {self.label} energy counter, readable{self._range_note}"

    def read_energy_j(self) -> float:
        """The zone's counter in J (it wraps; the channel unwraps it)."""
        return parse_number(self._open(self._energy_file), str(self._energy_file)) / 1e6

    def describe(self) -> str:
        """One line for a receipt's note."""
        return f"RAPL {self.label} counter ({self.zone_dir.name})"


def _zone_key(p: Path) -> tuple[int, int]:
    m = _ZONE_RE.match(p.name)
    assert m is not None
    return int(m.group(1)), int(m.group(2) or -1)


def _zone_dirs(root: Path) -> list[Path]:
    """Every RAPL zone, flat (``/sys/class/powercap`` lists sub-zones too) or nested in its parent."""
    base = sys_path(root, POWERCAP)
    found: dict[str, Path] = {}
    try:
        tops = [p for p in base.iterdir() if _ZONE_RE.match(p.name)]
    except OSError:
        return []
    for p in tops:
        found.setdefault(p.name, p)
        try:
            for sub in p.iterdir():
                if _ZONE_RE.match(sub.name) and sub.is_dir():
                    found.setdefault(sub.name, sub)
        except OSError:
            continue
    return sorted(found.values(), key=_zone_key)


def discover_rapl(root: Path, opener: Opener = read_text) -> tuple[list[Sensor], list[str]]:
    """RAPL zones worth measuring, and notes about the zones deliberately left out.

    Returns ``([NullSensor], notes)`` when there is no RAPL tree at all.
    """
    sensors: list[Sensor] = []
    notes: list[str] = []
    for zone in _zone_dirs(root):
        try:
            label = opener(zone / "name").strip()
        except OSError:
            label = ""
        if label.startswith("package"):
            sensors.append(RaplZone(zone, label, "cpu_package", root, opener))
        elif label == "dram":
            sensors.append(RaplZone(zone, label, "dram", root, opener))
        elif label == "psys":
            notes.append(f"{zone.name} (psys) is the whole platform: shown apart, never added to the package")
        elif label:
            notes.append(f"{zone.name} ({label}) is inside its package: not added again")
    if not sensors:
        base = sys_path(root, POWERCAP)
        sensors.append(
            NullSensor(
                "rapl",
                "cpu_package",
                f"no RAPL package zone under {base}/intel-rapl:* (CPU without RAPL, a VM or container "
                "that hides it, or a kernel without the intel_rapl powercap driver)",
                source="hw_counter",
            )
        )
    return sensors, notes
