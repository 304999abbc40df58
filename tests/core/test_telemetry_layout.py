"""Telemetry's module layout: sensor discovery in its own module, no import cycle between the meter
and the sampler, and no setting read that does not exist."""

from __future__ import annotations

import ast
from pathlib import Path

from baton.config import TelemetrySettings
from baton.core.telemetry.discovery import discover_sensors
from baton.core.telemetry.estimate import CpuEstimate
from baton.core.telemetry.meter import EnergyMeter
from tests.helpers.sysfs_tree import make_battery, make_rapl_tree

TELEMETRY = Path(__file__).resolve().parents[2] / "desktop" / "baton" / "core" / "telemetry"


def imports_of(module: str) -> set[str]:
    tree = ast.parse((TELEMETRY / f"{module}.py").read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_no_import_cycle_inside_telemetry() -> None:
    modules = [p.stem for p in TELEMETRY.glob("*.py") if p.stem != "__init__"]
    graph = {m: {i.rsplit(".", 1)[-1] for i in imports_of(m) if i.startswith("baton.core.telemetry.")} for m in modules}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert "baton.core.telemetry.meter" not in imports_of("sampler")
    assert [m for m in modules if reaches(m, m, set())] == []


def test_for_machine_reads_only_settings_that_exist() -> None:
    source = (TELEMETRY / "meter.py").read_text() + (TELEMETRY / "discovery.py").read_text()
    read = {node.args[1].value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "getattr"
            and getattr(node.args[0], "id", "") == "telemetry_settings" and isinstance(node.args[1], ast.Constant)}
    assert read and read <= set(TelemetrySettings.__dataclass_fields__)


def test_discovery_finds_the_sources_of_a_real_tree_in_order(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=1_000_000, dram_uj=2_000, psys=True)
    make_battery(tmp_path, power_uw=9_000_000)
    found = discover_sensors(tmp_path, use_nvml=False, cpu_tdp_w=30.0, cpu_load_basis="nonsense", platform="linux")
    assert [(s.scope, s.source) for s in found.sensors if s.source != "unavailable"] == [
        ("cpu_package", "hw_counter"), ("dram", "hw_counter"), ("system_dc", "battery_gauge"),
        ("cpu_package", "estimated")]
    assert isinstance(found.sensors[-1], CpuEstimate) and found.sensors[-1].tdp_w == 30.0
    assert any("cpu_load_basis 'nonsense'" in n for n in found.notes) and found.nvml_session is None
    with EnergyMeter.for_machine(TelemetrySettings(cpu_tdp_w=30.0, sample_hz=8.0), sysfs_root=tmp_path,
                                 use_nvml=False) as meter:
        assert [c.sensor.scope for c in meter.channels] == ["cpu_package", "dram", "system_dc"]
        assert [c.sensor.source for c in meter.fallbacks] == ["estimated"] and meter.sample_hz == 8.0
