"""AMD GPU board power/energy through the ``amdgpu`` hwmon files, and laptop batteries through
``/sys/class/power_supply/BAT*``. Both are plain sysfs files read under ``BATON_SYSFS_ROOT``.
"""

from __future__ import annotations

from pathlib import Path

from baton.core.telemetry.sensors import (
    COUNTER,
    POWER,
    BadReading,
    NotReady,
    NullSensor,
    Opener,
    Sensor,
    parse_number,
    read_text,
    sys_path,
)

DRM = "/sys/class/drm"
POWER_SUPPLY = "/sys/class/power_supply"


class AmdGpuSensor(Sensor):
    """``energy1_input`` (microjoules, a counter) when present, else ``power1_average`` /
    ``power1_input`` (microwatts, polled and integrated)."""

    scope = "gpu_board"

    def __init__(self, card_dir: Path, hwmon_dir: Path, opener: Opener = read_text) -> None:
        self.card_dir = card_dir
        self.hwmon_dir = hwmon_dir
        self._open = opener
        self.name = f"amdgpu:{card_dir.name}"
        if (hwmon_dir / "energy1_input").exists():
            self.kind, self.source, self._file = COUNTER, "hw_counter", hwmon_dir / "energy1_input"
            self.update_period_s, self.stale_after_s = 0.01, 2.0
        else:
            self.kind, self.source = POWER, "sensor_integrated"
            avg = hwmon_dir / "power1_average"
            self._file = avg if avg.exists() else hwmon_dir / "power1_input"
            # The SMU averages power over roughly a second; a shorter window sees a lagging value.
            self.update_period_s, self.stale_after_s = 1.0, None

    def is_available(self) -> tuple[bool, str]:
        """(True, what is read) when the hwmon file can be read and parsed, else (False, why)."""
        try:
            value = self._read()
        except OSError as e:
            return False, f"cannot read {self._file}: {e.strerror or e}"
        except ValueError as e:
            return False, f"{self._file} holds no valid reading ({e})"
        what = "energy counter" if self.kind == COUNTER else f"{self._file.name} ({value / 1e6:.1f} W now)"
        return True, f"AMD GPU {self.card_dir.name} {what}"

    def _read(self) -> float:
        value = parse_number(self._open(self._file), str(self._file))
        if value < 0:
            raise BadReading(f"{self._file}: negative ({value})")
        return value

    def read_energy_j(self) -> float:
        """The card's energy counter (J); ``OSError``/``BadReading`` when it cannot be read."""
        return self._read() / 1e6

    def read_power_w(self) -> float:
        """The card's average power (W); ``OSError``/``BadReading`` when it cannot be read."""
        return self._read() / 1e6

    def vram_used_bytes(self) -> int | None:
        """VRAM in use on the card (bytes), None when the driver does not say."""
        try:
            return int(parse_number(self._open(self.card_dir / "device" / "mem_info_vram_used"), "vram"))
        except (OSError, ValueError):
            return None

    def describe(self) -> str:
        """One line for a receipt's note: the file read and how."""
        return f"AMD GPU {self.card_dir.name} {self._file.name}"


def discover_amd_gpus(root: Path, opener: Opener = read_text) -> list[Sensor]:
    """An ``AmdGpuSensor`` for every amdgpu hwmon under ``root``/sys/class/drm (energy counter preferred)."""
    base = sys_path(root, DRM)
    sensors: list[Sensor] = []
    try:
        cards = sorted(p for p in base.iterdir() if p.name.startswith("card") and p.name[4:].isdigit())
    except OSError:
        cards = []
    for card in cards:
        for hwmon in sorted((card / "device" / "hwmon").glob("hwmon*")):
            try:
                if opener(hwmon / "name").strip() != "amdgpu":
                    continue
            except OSError:
                continue
            if any((hwmon / f).exists() for f in ("energy1_input", "power1_average", "power1_input")):
                sensors.append(AmdGpuSensor(card, hwmon, opener))
    if not sensors:
        sensors.append(
            NullSensor("amdgpu", "gpu_board", f"no amdgpu hwmon power file under {base}/card*/device/hwmon",
                       source="sensor_integrated")
        )
    return sensors


class BatterySensor(Sensor):
    """System DC power while on battery: ``power_now`` (uW) or ``current_now`` (uA) x
    ``voltage_now`` (uV). A whole-system cross-check, never added to the per-part total."""

    kind = POWER
    scope = "system_dc"
    source = "battery_gauge"
    cross_check = True
    update_period_s = 5.0  # most battery gauges refresh every few seconds
    poll_hz = 2.0  # so polling faster only costs CPU
    stale_after_s = None  # a gauge may legitimately repeat the same value for a long time

    def __init__(self, bat_dir: Path, opener: Opener = read_text) -> None:
        self.bat_dir = bat_dir
        self.name = f"battery:{bat_dir.name}"
        self._open = opener

    def status(self) -> str:
        """The battery's status text (Charging, Discharging, Full, ...), '' when unreadable."""
        try:
            return self._open(self.bat_dir / "status").strip()
        except OSError:
            return "Unknown"

    def is_available(self) -> tuple[bool, str]:
        """(True, how) while the battery can be read; (False, why) otherwise (charging counts as not now)."""
        status = self.status()
        if status != "Discharging":
            return False, (
                f"{self.bat_dir.name} is '{status}': battery power is only read while discharging "
                "(unplug the charger to use it)"
            )
        try:
            watts = self.read_power_w()
        except (OSError, ValueError, NotReady) as e:
            return False, f"{self.bat_dir.name} gives no power reading ({e})"
        return True, f"{self.bat_dir.name} discharging at {watts:.1f} W (whole system, a cross-check)"

    def _num(self, name: str) -> float:
        return parse_number(self._open(self.bat_dir / name), str(self.bat_dir / name))

    def read_power_w(self) -> float:
        """Discharge power (W) from power_now or current_now x voltage_now; ``NotReady`` while not discharging."""
        if self.status() != "Discharging":
            raise NotReady(f"{self.bat_dir.name} is not discharging")
        if (self.bat_dir / "power_now").exists():
            return abs(self._num("power_now")) / 1e6
        current_ua = abs(self._num("current_now"))
        voltage_uv = abs(self._num("voltage_now"))
        return current_ua * voltage_uv / 1e12

    def describe(self) -> str:
        """One line for a receipt's note: the files read and how."""
        field = "power_now" if (self.bat_dir / "power_now").exists() else "current_now x voltage_now"
        return f"battery {self.bat_dir.name} {field} (whole system)"


def discover_batteries(root: Path, opener: Opener = read_text) -> list[Sensor]:
    """A ``BatterySensor`` per battery under ``root``/sys/class/power_supply, or a ``NullSensor`` saying there is none."""
    base = sys_path(root, POWER_SUPPLY)
    sensors: list[Sensor] = []
    for bat in sorted(base.glob("BAT*")):
        try:
            kind = opener(bat / "type").strip()
        except OSError:
            kind = "Battery"
        if kind == "Battery":
            sensors.append(BatterySensor(bat, opener))
    if not sensors:
        sensors.append(
            NullSensor("battery", "system_dc", f"no battery under {base}/BAT*", source="battery_gauge")
        )
    return sensors
