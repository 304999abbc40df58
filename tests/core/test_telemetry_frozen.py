"""Frozen and partial sensors on real sysfs-style files: a counter that is readable but never moves
is unavailable ("counter did not move") and the labelled estimate takes over for its scope; a
sensor that covered only part of a window lowers measured_share instead of claiming 1.0."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from baton.core.telemetry.meter import EnergyMeter
from tests.helpers.proc import run_baton
from tests.helpers.sysfs_tree import RaplWriter, make_amdgpu, make_rapl_tree, write_atomic

ENERGY = "sys/class/powercap/intel-rapl:0/energy_uj"


def meter_for(root: Path) -> EnergyMeter:
    return EnergyMeter.for_machine(None, sysfs_root=root, use_nvml=False)


def wait(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.02)


def by(m, scope: str, source: str):  # noqa: ANN001, ANN201
    found = [p for p in m.parts if p.scope == scope and p.source == source]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.mark.parametrize("window_s", [0.7, 1.5])
def test_frozen_package_counter_gives_the_estimate_not_zero_measured(tmp_path: Path, window_s: float) -> None:
    make_rapl_tree(tmp_path, package_uj=7_000_000, dram_uj=None, psys=False)
    with meter_for(tmp_path) as meter:
        window = meter.begin()
        wait(window_s / 2)
        window.first_token()
        wait(window_s / 2)
        m = window.end()
        assert [ch.sensor.source for ch in meter.counted_channels()] == ["estimated"]
    (pkg,) = m.parts
    assert (pkg.scope, pkg.source) == ("cpu_package", "estimated") and pkg.energy_j > 0
    assert "counter did not move" in pkg.note and "TDP" in pkg.note
    d = m.to_dict()
    assert d["measured_j"] == 0 and d["measured_share"] == 0.0
    assert pkg.prefill_j is not None and pkg.prefill_j + pkg.decode_j == pytest.approx(pkg.energy_j)


def test_probe_says_a_frozen_counter_is_unavailable_and_why(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=5_000_000, dram_uj=9_000, psys=False)
    with meter_for(tmp_path) as meter:
        report = meter.probe(sample_s=0.7)
    zones = {s["name"]: s for s in report["sources"]}
    pkg = next(s for n, s in zones.items() if "package-0" in n)
    dram = next(s for n, s in zones.items() if "dram" in n)
    for s in (pkg, dram):
        assert s["available"] is False and "counter did not move" in s["reason"] and not s["used"]
    est = zones["estimate:cpu"]
    assert est["used"] and est["counted_in_total"] and "stands in" in est["reason"]


def test_energy_probe_cli_reports_the_frozen_counter(tmp_path: Path, baton_home: Path) -> None:
    root = tmp_path / "root"
    make_rapl_tree(root, package_uj=5_000_000, dram_uj=None, psys=False)
    proc = run_baton(baton_home, "energy", "probe", "--json", "--idle-s", "0.7", BATON_SYSFS_ROOT=str(root))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    pkg = next(s for s in doc["sources"] if "package-0" in s["name"])
    assert pkg["available"] is False and "counter did not move" in pkg["reason"]
    human = run_baton(baton_home, "energy", "probe", "--idle-s", "0.7", BATON_SYSFS_ROOT=str(root))
    assert "cpu_package (estimated)" in human.stdout


def test_frozen_dram_is_dropped_while_the_package_is_measured(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=0, dram_uj=0, psys=False)
    with RaplWriter(tmp_path, package_w=20.0, dram_w=0.0), meter_for(tmp_path) as meter:
        window = meter.begin()
        wait(0.6)
        m = window.end()
    assert {(p.scope, p.source) for p in m.parts} == {("cpu_package", "hw_counter"), ("dram", "unavailable")}
    assert by(m, "cpu_package", "hw_counter").energy_j == pytest.approx(20.0 * m.duration_s, rel=0.1)
    dram = by(m, "dram", "unavailable")
    assert dram.energy_j == 0.0 and "counter did not move" in dram.note and not dram.measured
    assert m.to_dict()["measured_share"] == 1.0  # of the joules shown, all were measured


def test_counter_that_stops_partway_lowers_measured_share(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=0, dram_uj=None, psys=False)
    with RaplWriter(tmp_path, package_w=20.0) as writer, meter_for(tmp_path) as meter:
        window = meter.begin()
        wait(0.8)
        writer.set_power(0.0)  # the counter freezes for the rest of the window
        wait(0.8)
        m = window.end()
    measured, fill = by(m, "cpu_package", "hw_counter"), by(m, "cpu_package", "estimated")
    assert measured is not None and fill is not None
    assert measured.energy_j == pytest.approx(20.0 * 0.8, rel=0.25)
    assert "partial" in fill.flags and "stopped moving" in fill.note and fill.energy_j > 0
    share = m.to_dict()["measured_share"]
    assert 0.0 < share < 1.0


def test_counter_that_becomes_unreadable_partway_lowers_measured_share(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=1_000_000, dram_uj=None, psys=False)
    energy = tmp_path / ENERGY
    with meter_for(tmp_path) as meter:
        window = meter.begin()
        for value in (2_000_000, 3_000_000, 4_000_000):
            wait(0.1)
            write_atomic(energy, f"{value}\n")
            meter.read_power()
        energy.unlink()
        energy.mkdir()  # the driver went away for the rest of the window
        wait(0.3)
        m = window.end()
    measured, fill = by(m, "cpu_package", "hw_counter"), by(m, "cpu_package", "estimated")
    assert measured is not None and measured.energy_j == pytest.approx(3.0) and "stale" in measured.flags
    assert fill is not None and "read failed" in fill.note and "partial" in fill.flags
    assert 0.0 < m.to_dict()["measured_share"] < 1.0


def test_counter_unreadable_for_the_whole_window_is_all_estimate(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=1_000_000, dram_uj=None, psys=False)
    energy = tmp_path / ENERGY
    with meter_for(tmp_path) as meter:  # readable when the meter chose it
        energy.unlink()
        energy.mkdir()
        window = meter.begin()
        wait(0.3)
        m = window.end()
        shutil.rmtree(energy)
    (pkg,) = m.parts
    assert pkg.source == "estimated" and "no usable reading" in pkg.note and "stale" in pkg.flags
    assert m.to_dict()["measured_share"] == 0.0


def test_gpu_counter_dropping_out_is_filled_at_its_mean_power_and_labelled(tmp_path: Path) -> None:
    hw = make_amdgpu(tmp_path, energy_uj=50_000_000)
    energy = hw / "energy1_input"
    with meter_for(tmp_path) as meter:
        window = meter.begin()
        for value in (51_000_000, 52_000_000):
            wait(0.1)
            write_atomic(energy, f"{value}\n")
            meter.read_power()
        energy.unlink()  # the card went away
        wait(0.2)
        m = window.end()
    measured, fill = by(m, "gpu_board", "hw_counter"), by(m, "gpu_board", "estimated")
    assert measured is not None and measured.energy_j == pytest.approx(2.0)
    assert fill is not None and "mean measured power" in fill.note
    assert fill.energy_j == pytest.approx(2.0 * (m.duration_s - 0.2) / 0.2, rel=0.6)
    gpu_share = measured.energy_j / (measured.energy_j + fill.energy_j)
    assert 0.0 < gpu_share < 1.0


def test_a_counter_that_starts_moving_again_is_measured_again(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=0, dram_uj=None, psys=False)
    with meter_for(tmp_path) as meter:
        window = meter.begin()
        wait(0.7)
        first = window.end()
        with RaplWriter(tmp_path, package_w=15.0):
            window = meter.begin()
            wait(0.5)
            second = window.end()
    assert [p.source for p in first.parts] == ["estimated"]
    assert [p.source for p in second.parts] == ["hw_counter"]
    assert second.parts[0].energy_j == pytest.approx(15.0 * second.duration_s, rel=0.15)


def test_sampler_switches_a_frozen_scope_to_the_estimate(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=0, dram_uj=None, psys=False)
    with meter_for(tmp_path) as meter:
        sampler = meter.sampler
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sampler.sources().get("cpu_package") != "estimated":
            time.sleep(0.05)
        assert sampler.sources() == {"cpu_package": "estimated"}
        while time.monotonic() < deadline and not any(
                dict(s.sources).get("cpu_package") == "estimated" and s.watts for s in sampler.snapshot()):
            time.sleep(0.05)
        latest = [s for s in sampler.snapshot() if dict(s.sources).get("cpu_package") == "estimated"][-1]
        assert latest.watts_by_scope()["cpu_package"] > 0
