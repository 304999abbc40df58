"""`baton energy probe` as CONTRACT.md specifies it, over real sysfs-style trees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from baton.cli import main
from tests.helpers.sysfs_tree import RaplWriter, make_battery, make_rapl_tree

REPO = Path(__file__).resolve().parents[2]
SOURCE_KEYS = {"name", "scope", "source", "available", "reason", "power_w"}


def test_probe_json_in_a_real_process(tmp_path: Path) -> None:
    root = tmp_path / "sysroot"
    make_rapl_tree(root, package_uj=0, dram_uj=None, psys=True)
    make_battery(root, status="Charging", power_uw=20_000_000)
    env = {**os.environ, "BATON_SYSFS_ROOT": str(root), "PYTHONPATH": str(REPO / "desktop")}
    with RaplWriter(root, package_w=25.0):
        out = subprocess.run([sys.executable, "-m", "baton", "energy", "probe", "--json", "--idle-s", "0.5"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)  # one JSON document on stdout
    assert set(report) >= {"sources", "idle_power_w"}
    for s in report["sources"]:
        assert set(s) >= SOURCE_KEYS
        assert isinstance(s["available"], bool) and s["reason"]
    by_name = {s["name"]: s for s in report["sources"]}
    pkg = by_name["rapl:intel-rapl:0 package-0"]
    assert (pkg["scope"], pkg["source"], pkg["available"]) == ("cpu_package", "hw_counter", True)
    assert pkg["power_w"] == pytest.approx(25.0, rel=0.25)
    assert report["idle_power_w"] == pytest.approx(25.0, rel=0.1)
    bat = by_name["battery:BAT0"]
    assert bat["available"] is False and "Charging" in bat["reason"]
    est = by_name["estimate:cpu"]
    assert est["available"] is True and est["used"] is False and "not used" in est["reason"]
    assert any("psys" in n for n in report["notes"])


def test_probe_human_output_explains_each_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BATON_SYSFS_ROOT", str(tmp_path))  # an empty machine: nothing but the estimate
    assert main(["energy", "probe", "--idle-s", "0"]) == 0
    text = capsys.readouterr().out
    assert "[not here] cpu_package hw_counter" in text and "no RAPL package zone" in text
    assert "no battery under" in text
    assert "[used    ] cpu_package estimated" in text and "TDP" in text
    assert "every joule on a receipt is an estimate" in text


def test_energy_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["energy"]) == 2
    assert "baton energy probe" in capsys.readouterr().err
    assert main(["energy", "probe", "--idle-s", "-1"]) == 2
