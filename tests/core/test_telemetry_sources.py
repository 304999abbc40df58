"""Batteries, AMD GPUs, the CPU estimate and macOS's battery parser, on real files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from baton.config import TelemetrySettings
from baton.core.telemetry.estimate import CpuEstimate, guess_tdp_w
from baton.core.telemetry.hwmon import BatterySensor, discover_batteries
from baton.core.telemetry.macos import MacBattery, parse_ioreg_battery
from baton.core.telemetry.meter import EnergyMeter
from baton.core.telemetry.sensors import NullSensor
from tests.helpers.sysfs_tree import make_amdgpu, make_battery, write_atomic


def meter_for(root: Path, settings: object = None) -> EnergyMeter:
    return EnergyMeter.for_machine(settings, sysfs_root=root, use_nvml=False)


# ---- battery --------------------------------------------------------------------------------
def test_discharging_battery_is_a_cross_check_never_added(tmp_path: Path) -> None:
    make_battery(tmp_path, status="Discharging", power_uw=12_500_000)
    with meter_for(tmp_path) as meter:
        report = meter.probe(sample_s=0.05)
        window = meter.begin()
        time.sleep(0.4)
        m = window.end()
    bat = next(s for s in report["sources"] if s["name"] == "battery:BAT0")
    assert bat["available"] and bat["power_w"] == pytest.approx(12.5, rel=0.01)
    assert bat["counted_in_total"] is False
    (cross,) = m.cross_checks
    assert (cross.scope, cross.source) == ("system_dc", "battery_gauge")
    assert cross.energy_j == pytest.approx(12.5 * m.duration_s, rel=0.02)
    assert "short_window" in cross.flags  # 0.4 s is shorter than a gauge's refresh period
    assert all(p.scope != "system_dc" for p in m.parts)
    assert m.total_j == pytest.approx(sum(p.energy_j for p in m.parts))
    assert m.to_dict()["cross_checks"][0]["source"] == "battery_gauge"


def test_battery_current_times_voltage(tmp_path: Path) -> None:
    make_battery(tmp_path, status="Discharging", current_ua=1_500_000, voltage_uv=12_000_000)
    (sensor,) = discover_batteries(tmp_path)
    assert isinstance(sensor, BatterySensor)
    assert sensor.read_power_w() == pytest.approx(18.0)
    assert "current_now x voltage_now" in sensor.describe()


def test_charging_battery_is_not_used(tmp_path: Path) -> None:
    make_battery(tmp_path, status="Charging", power_uw=30_000_000)
    with meter_for(tmp_path) as meter:
        report = meter.probe(sample_s=0.05)
        m = meter.begin().end()
    bat = next(s for s in report["sources"] if s["name"] == "battery:BAT0")
    assert bat["available"] is False and "'Charging'" in bat["reason"] and "discharging" in bat["reason"]
    assert bat["power_w"] is None
    assert m.cross_checks == []


def test_battery_plugged_in_mid_window_is_flagged(tmp_path: Path) -> None:
    bat = make_battery(tmp_path, status="Discharging", power_uw=10_000_000)
    with meter_for(tmp_path) as meter:
        window = meter.begin()
        time.sleep(0.2)
        write_atomic(bat / "status", "Charging\n")
        time.sleep(0.15)
        m = window.end()
    (cross,) = m.cross_checks
    assert "stale" in cross.flags and "not discharging" in cross.note


def test_no_battery(tmp_path: Path) -> None:
    (sensor,) = discover_batteries(tmp_path)
    assert isinstance(sensor, NullSensor)
    assert sensor.is_available() == (False, f"no battery under {tmp_path}/sys/class/power_supply/BAT*")


# ---- AMD GPU -------------------------------------------------------------------------------
def test_amd_gpu_power_is_polled_and_vram_read(tmp_path: Path) -> None:
    make_amdgpu(tmp_path, power_uw=80_000_000, vram_used_bytes=3 << 30)
    with meter_for(tmp_path) as meter:
        window = meter.begin()
        time.sleep(0.5)
        m = window.end()
        mem = meter.memory()
    gpu = next(p for p in m.parts if p.scope == "gpu_board")
    assert gpu.source == "sensor_integrated" and gpu.energy_j == pytest.approx(80.0 * m.duration_s, rel=0.02)
    assert "power1_average" in gpu.note and "short_window" in gpu.flags
    assert mem["vram_device_bytes"] == 3 << 30


def test_amd_gpu_energy_counter(tmp_path: Path) -> None:
    hw = make_amdgpu(tmp_path, energy_uj=5_000_000)
    with meter_for(tmp_path) as meter:
        window = meter.begin()
        time.sleep(0.2)
        write_atomic(hw / "energy1_input", "17000000\n")
        m = window.end()
    gpu = next(p for p in m.parts if p.scope == "gpu_board")
    assert (gpu.source, gpu.energy_j) == ("hw_counter", pytest.approx(12.0))


# ---- the estimate --------------------------------------------------------------------------
def test_estimate_formula_on_a_controlled_clock() -> None:
    clock = iter([0.0, 1.0, 2.0]).__next__
    cpu = iter([0.0, 1.0, 1.0]).__next__  # one of two CPUs busy for a second, then idle for one
    est = CpuEstimate(20.0, "TDP 20 W from settings", n_logical=2, clock=clock, cpu_seconds=cpu)
    assert est.read_energy_j() == 0.0
    assert est.read_energy_j() == pytest.approx(20.0 * (0.1 + 0.9 * 0.5**3))
    assert est.read_energy_j() == pytest.approx(20.0 * (0.1 + 0.9 * 0.5**3) + 20.0 * 0.1)
    assert est.power_at(1.0) == pytest.approx(20.0) and est.power_at(0.0) == pytest.approx(2.0)


def test_estimate_uses_the_settings_tdp_and_says_so(tmp_path: Path) -> None:
    with meter_for(tmp_path, TelemetrySettings(cpu_tdp_w=42.0)) as meter:
        window = meter.begin()
        end = time.monotonic() + 0.3
        n = 0
        while time.monotonic() < end:
            n += 1  # keep one CPU busy
        m = window.end()
    (part,) = m.parts
    assert (part.scope, part.source) == ("cpu_package", "estimated")
    assert "TDP 42 W from settings" in part.note and "this process's CPU time" in part.note
    assert 42.0 * 0.1 * m.duration_s < part.energy_j <= 42.0 * m.duration_s


def test_system_load_basis_is_stated(tmp_path: Path) -> None:
    with meter_for(tmp_path, TelemetrySettings(cpu_tdp_w=10.0, cpu_load_basis="system")) as meter:
        m = meter.begin().end()
    assert "the whole machine's busy CPU time" in m.parts[0].note


@pytest.mark.parametrize(
    ("model", "n", "watts", "words"),
    [
        ("AMD EPYC 7763 64-Core Processor", 2, 8.0, "server CPU"),
        ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", 8, 32.0, "server CPU"),
        ("Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz", 8, 15.0, "U-series"),
        ("Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", 8, 15.0, "G-series"),
        ("Intel(R) Core(TM) i9-13900HX", 32, 45.0, "H-series"),
        ("AMD Ryzen 7 5800X 8-Core Processor", 16, 125.0, "unlocked desktop"),
        ("Intel(R) Core(TM) i5-10400 CPU @ 2.90GHz", 12, 65.0, "desktop part"),
        ("Apple M2 Max", 12, 40.0, "Apple silicon"),
        ("Some Future CPU", 4, 35.0, "unknown CPU"),
    ],
)
def test_tdp_guess_is_stated(model: str, n: int, watts: float, words: str) -> None:
    got, how = guess_tdp_w(model, n)
    assert got == watts and words in how and model in how


# ---- macOS battery (parser; the command runs only on a Mac) ------------------------------------
IOREG_SAMPLE = """+-o AppleSmartBattery  <class AppleSmartBattery, id 0x100000a2c, registered, matched, active, busy 0>
    {
      "ExternalConnected" = No
      "Voltage" = 12250
      "InstantAmperage" = 18446744073709550616
      "Amperage" = 18446744073709550616
      "IsCharging" = No
      "BatteryData" = {"Voltage"=12250}
    }
"""


def test_macos_ioreg_battery_is_parsed() -> None:
    fields = parse_ioreg_battery(IOREG_SAMPLE)
    assert fields["InstantAmperage"] == -1000 and fields["Voltage"] == 12250
    assert fields["ExternalConnected"] is False
    bat = MacBattery(run=lambda: IOREG_SAMPLE)
    assert bat.read_power_w() == pytest.approx(12.25)
    plugged = MacBattery(run=lambda: IOREG_SAMPLE.replace('"ExternalConnected" = No', '"ExternalConnected" = Yes'))
    ok, reason = plugged.is_available()
    assert not ok and "charger is connected" in reason
