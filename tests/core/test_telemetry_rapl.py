"""RAPL on real files: a writer process plays the hardware under a tmp BATON_SYSFS_ROOT."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from baton.core.telemetry.meter import EnergyMeter
from baton.core.telemetry.rapl import RaplZone, discover_rapl
from tests.helpers.sysfs_tree import RaplWriter, make_rapl_tree, write_atomic

REPO = Path(__file__).resolve().parents[2]


def meter_for(root: Path, **kw: object) -> EnergyMeter:
    return EnergyMeter.for_machine(None, sysfs_root=root, use_nvml=False, **kw)


def busy_wait(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.02)


def test_zones_are_classified_package_dram_apart_psys_never_added(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=5_000_000, dram_uj=1_000_000)
    sensors, notes = discover_rapl(tmp_path)
    assert [(s.scope, s.source) for s in sensors] == [("cpu_package", "hw_counter"), ("dram", "hw_counter")]
    assert all(isinstance(s, RaplZone) for s in sensors)
    assert any("psys" in n and "never added" in n for n in notes)
    assert any("core" in n for n in notes)
    assert sensors[0].read_energy_j() == pytest.approx(5.0)
    assert sensors[0].max_energy_j == pytest.approx(262_143.32885)


def test_window_attributes_known_power_within_3_percent_across_a_wrap(tmp_path: Path) -> None:
    # 30 J range at 25 W: the package counter wraps every 1.2 s, so a 2 s window sees at least one wrap.
    make_rapl_tree(tmp_path, package_uj=20_000_000, dram_uj=0, range_uj=30_000_000)
    with RaplWriter(tmp_path, package_w=25.0, dram_w=4.0), meter_for(tmp_path) as meter:
        assert meter.probe(sample_s=0.05)["sources"][0]["available"]
        window = meter.begin()
        busy_wait(0.5)
        window.first_token()
        busy_wait(1.5)
        m = window.end()
    parts = {p.scope: p for p in m.parts}
    assert set(parts) == {"cpu_package", "dram"}  # no estimate when RAPL measures the package
    pkg, dram = parts["cpu_package"], parts["dram"]
    assert pkg.source == "hw_counter" and pkg.measured
    assert "wrap" in pkg.flags
    assert pkg.energy_j == pytest.approx(25.0 * m.duration_s, rel=0.03)
    assert dram.energy_j == pytest.approx(4.0 * m.duration_s, rel=0.05)
    assert pkg.prefill_j is not None and pkg.decode_j is not None
    assert pkg.prefill_j + pkg.decode_j == pytest.approx(pkg.energy_j)
    assert pkg.prefill_j == pytest.approx(25.0 * 0.5, rel=0.15)
    assert "bad_data" not in pkg.flags and "stale" not in pkg.flags
    assert m.measured_j == pytest.approx(m.total_j)
    d = m.to_dict()
    assert d["measured_share"] == 1.0 and {p["source"] for p in d["parts"]} == {"hw_counter"}


def test_idle_baseline_gives_net_energy(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=1_000_000, dram_uj=None, psys=False)
    with RaplWriter(tmp_path, package_w=10.0) as writer, meter_for(tmp_path) as meter:
        idle = meter.measure_idle(0.6)
        assert idle is not None and idle["cpu_package"] == pytest.approx(10.0, rel=0.1)
        assert meter.idle_power_w() == pytest.approx(10.0, rel=0.1)
        assert meter.refresh_idle(max_age_s=600) == idle  # fresh: not measured again
        writer.set_power(30.0)
        busy_wait(0.1)
        window = meter.begin()
        busy_wait(1.0)
        m = window.end()
    pkg = m.parts[0]
    assert pkg.energy_j == pytest.approx(30.0 * m.duration_s, rel=0.05)
    assert pkg.net_j == pytest.approx(20.0 * m.duration_s, rel=0.1)
    assert m.to_dict()["net_j"] == pytest.approx(pkg.net_j)


def _bad_data_window(tmp_path: Path, sequence: list[str]) -> tuple[float, list[str], str, str]:
    make_rapl_tree(tmp_path, package_uj=1_000_000_000, dram_uj=None, psys=False)
    energy = tmp_path / "sys/class/powercap/intel-rapl:0/energy_uj"
    with meter_for(tmp_path) as meter:
        window = meter.begin()
        for value in sequence:
            time.sleep(0.1)  # 10 J over >= 0.2 s: a plausible power, so only the bad value is refused
            write_atomic(energy, value)
            meter.read_power()  # any read (the poller's, the sampler's) meets the bad value
        time.sleep(0.1)
        write_atomic(energy, "1010000000\n")
        m = window.end()
    pkg = m.parts[0]
    if len(m.parts) > 1:  # part of the window was not measured: the rest is a separate, estimated part
        (fill,) = m.parts[1:]
        assert (fill.scope, fill.source) == ("cpu_package", "estimated") and "partial" in fill.flags
        assert m.to_dict()["measured_share"] < 1.0
    return pkg.energy_j, pkg.flags, pkg.note, pkg.source


@pytest.mark.parametrize("bad", ["", "garbage\n", "nan\n", "-inf\n", "99999999999999999999\n"])
def test_bad_counter_data_is_flagged_and_never_raises(tmp_path: Path, bad: str) -> None:
    energy_j, flags, note, source = _bad_data_window(tmp_path, [bad])
    assert "bad_data" in flags
    assert "bad reading" in note
    if bad != "99999999999999999999\n":
        assert energy_j == pytest.approx(10.0)  # the good reads on both sides still count
        assert source == "hw_counter"
    else:  # the jump and the fall back re-based the counter twice: nothing usable was measured
        assert source == "estimated" and "no usable reading" in note


def test_counter_going_backwards_is_bad_data_not_a_wrap(tmp_path: Path) -> None:
    energy_j, flags, note, _ = _bad_data_window(tmp_path, ["995000000\n"])
    assert "bad_data" in flags and "wrap" not in flags
    assert "backwards" in note
    assert energy_j == pytest.approx(15.0)  # counted forward from where it went back to: 995 -> 1010 J


def test_read_errors_mid_window_flag_stale(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=1_000_000, dram_uj=None, psys=False)
    energy = tmp_path / "sys/class/powercap/intel-rapl:0/energy_uj"
    with meter_for(tmp_path) as meter:
        window = meter.begin()
        energy.unlink()
        energy.mkdir()  # the driver went away: reads now fail with an OSError
        meter.read_power()
        shutil.rmtree(energy)
        write_atomic(energy, "3000000\n")
        m = window.end()
    (pkg,) = m.parts
    assert "stale" in pkg.flags and "read failed" in pkg.note
    assert pkg.energy_j == pytest.approx(2.0)


def test_a_counter_that_never_moves_is_unavailable_and_the_estimate_takes_over(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=1_000_000, dram_uj=None, psys=False)
    with meter_for(tmp_path) as meter:
        window = meter.begin()
        time.sleep(2.3)  # nobody updates the counter (as in a VM that exposes RAPL without updating it)
        m = window.end()
    (pkg,) = m.parts
    assert (pkg.scope, pkg.source) == ("cpu_package", "estimated") and pkg.energy_j > 0
    assert "counter did not move" in pkg.note and m.measured_j == 0


def test_missing_rapl_falls_back_to_the_labelled_estimate(tmp_path: Path) -> None:
    with meter_for(tmp_path) as meter:
        report = meter.probe(sample_s=0.05)
        window = meter.begin()
        busy_wait(0.2)
        m = window.end()
    rapl = next(s for s in report["sources"] if s["name"] == "rapl")
    assert not rapl["available"] and "no RAPL package zone" in rapl["reason"]
    (part,) = m.parts
    assert (part.scope, part.source) == ("cpu_package", "estimated")
    assert not part.measured and m.measured_j == 0 and m.estimated_j > 0
    assert "estimate, not a measurement" in part.note and "TDP" in part.note


_PROBE_AS_NOBODY = """
import encodings.ascii, json, os, sys
from baton.core.telemetry.meter import EnergyMeter  # import first: the stdlib may sit under /root
os.setgid(65534); os.setuid(65534)
m = EnergyMeter.for_machine(None, sysfs_root=sys.argv[1], use_nvml=False)
print(json.dumps({"probe": m.probe(sample_s=0.05), "scopes": [(c.sensor.scope, c.sensor.source) for c in m.channels]}))
m.close()
"""


def test_root_only_counter_is_unavailable_with_the_one_line_remedy() -> None:
    # A real EACCES from the kernel: energy_uj is chmod 000 and, when the suite runs as root (where
    # chmod does not stop reads), the probe runs in a child that has dropped to user nobody.
    root = Path(tempfile.mkdtemp(prefix="baton-rapl-perm-"))
    try:
        os.chmod(root, 0o755)
        make_rapl_tree(root, package_uj=1_000_000, dram_uj=None, psys=False)
        for d in root.rglob("*"):
            os.chmod(d, 0o755 if d.is_dir() else 0o644)
        os.chmod(root / "sys/class/powercap/intel-rapl:0/energy_uj", 0o000)
        if os.geteuid() == 0:
            script = _PROBE_AS_NOBODY
        else:
            script = _PROBE_AS_NOBODY.replace("os.setgid(65534); os.setuid(65534)", "")
        env = {**os.environ, "PYTHONPATH": str(REPO / "desktop"), "HOME": str(root)}
        out = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True, text=True,
                             env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    zone = next(s for s in result["probe"]["sources"] if s["name"].startswith("rapl:intel-rapl:0"))
    assert zone["available"] is False
    assert "readable by root only" in zone["reason"]
    assert f"sudo chmod a+r {root}/sys/class/powercap/intel-rapl:*/energy_uj" in zone["reason"]
    assert result["scopes"] == [["cpu_package", "estimated"]]  # and it fell back, labelled
