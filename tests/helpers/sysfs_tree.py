"""Real sysfs-style trees for telemetry tests, and a writer PROCESS that plays RAPL hardware.

The writer advances ``energy_uj`` of a package and a dram zone at the power written in
``ROOT/control.json`` (re-read every step, so a test can change the load), wraps them at
``max_energy_range_uj``, and replaces each file atomically (a reader sees the old or the new
value, never a half-written one, as with the kernel's files). It also writes ``ROOT/truth.json``
with the exact joules it has added since it started, stamped with ``time.monotonic()`` (the
clock is system-wide on Linux, so the test process can compare).

Run: ``python tests/helpers/sysfs_tree.py ROOT`` (after ``make_rapl_tree(ROOT, ...)``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POWERCAP = "sys/class/powercap"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def make_rapl_tree(
    root: Path,
    package_uj: int = 0,
    dram_uj: int | None = 0,
    range_uj: int = 262_143_328_850,
    psys: bool = True,
) -> Path:
    """The layout of /sys/class/powercap on an Intel laptop: package-0 with core and dram
    sub-zones (listed flat, as the class directory does) and a top-level psys zone."""
    base = root / POWERCAP
    zones = {"intel-rapl:0": ("package-0", package_uj), "intel-rapl:0:0": ("core", package_uj // 2)}
    if dram_uj is not None:
        zones["intel-rapl:0:2"] = ("dram", dram_uj)
    if psys:
        zones["intel-rapl:1"] = ("psys", package_uj * 3)
    for zone, (name, energy) in zones.items():
        d = base / zone
        d.mkdir(parents=True, exist_ok=True)
        write_atomic(d / "name", name + "\n")
        write_atomic(d / "energy_uj", f"{energy}\n")
        write_atomic(d / "max_energy_range_uj", f"{range_uj}\n")
    (base / "intel-rapl").mkdir(exist_ok=True)  # the control-type directory the kernel also lists
    return base


def make_battery(root: Path, name: str = "BAT0", status: str = "Discharging", power_uw: int | None = None,
                 current_ua: int | None = None, voltage_uv: int | None = None) -> Path:
    d = root / "sys/class/power_supply" / name
    d.mkdir(parents=True, exist_ok=True)
    write_atomic(d / "type", "Battery\n")
    write_atomic(d / "status", status + "\n")
    for fname, value in (("power_now", power_uw), ("current_now", current_ua), ("voltage_now", voltage_uv)):
        if value is not None:
            write_atomic(d / fname, f"{value}\n")
    ac = root / "sys/class/power_supply/AC"
    ac.mkdir(parents=True, exist_ok=True)
    write_atomic(ac / "type", "Mains\n")
    return d


def make_amdgpu(root: Path, card: str = "card0", power_uw: int | None = None, energy_uj: int | None = None,
                vram_used_bytes: int | None = None) -> Path:
    dev = root / "sys/class/drm" / card / "device"
    hw = dev / "hwmon" / "hwmon3"
    hw.mkdir(parents=True, exist_ok=True)
    write_atomic(hw / "name", "amdgpu\n")
    if power_uw is not None:
        write_atomic(hw / "power1_average", f"{power_uw}\n")
    if energy_uj is not None:
        write_atomic(hw / "energy1_input", f"{energy_uj}\n")
    if vram_used_bytes is not None:
        write_atomic(dev / "mem_info_vram_used", f"{vram_used_bytes}\n")
    (root / "sys/class/drm" / f"{card}-DP-1").mkdir(parents=True, exist_ok=True)  # a connector, not a card
    return hw


class RaplWriter:
    """Starts the writer process over a tree made by ``make_rapl_tree``; ``stop()`` ends it."""

    def __init__(self, root: Path, package_w: float, dram_w: float = 0.0, step_s: float = 0.01) -> None:
        self.root = root
        self.set_power(package_w, dram_w)
        self.proc = subprocess.Popen([sys.executable, __file__, str(root), str(step_s)])
        deadline = time.monotonic() + 30
        while not (root / "truth.json").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the RAPL writer process did not start")
            time.sleep(0.01)

    def set_power(self, package_w: float, dram_w: float = 0.0) -> None:
        write_atomic(self.root / "control.json", json.dumps({"package_w": package_w, "dram_w": dram_w}))

    def truth(self) -> dict[str, float]:
        return json.loads((self.root / "truth.json").read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "RaplWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read_uj(path: Path) -> int:
    return int(path.read_text().strip())


def run_writer(root: Path, step_s: float) -> None:
    base = root / POWERCAP
    zones = {"package_w": base / "intel-rapl:0", "dram_w": base / "intel-rapl:0:2"}
    state = {}
    for key, d in zones.items():
        if d.exists():
            state[key] = [float(_read_uj(d / "energy_uj")), float(_read_uj(d / "max_energy_range_uj"))]
    added_j = {key: 0.0 for key in state}
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    control = {"package_w": 0.0, "dram_w": 0.0}
    last = time.monotonic()
    while not stop:
        try:
            control.update(json.loads((root / "control.json").read_text()))
        except (OSError, ValueError):
            pass
        now = time.monotonic()
        dt = now - last
        last = now
        for key, (energy_uj, range_uj) in state.items():
            add_uj = control.get(key, 0.0) * dt * 1e6
            energy_uj = (energy_uj + add_uj) % range_uj
            state[key][0] = energy_uj
            added_j[key] += add_uj / 1e6
            write_atomic(zones[key] / "energy_uj", f"{int(energy_uj)}\n")
        write_atomic(root / "truth.json", json.dumps({"t": now, **{k: v for k, v in added_j.items()}}))
        time.sleep(step_s)


if __name__ == "__main__":
    run_writer(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.01)
