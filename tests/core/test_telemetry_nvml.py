"""NVML through an injected module that follows pynvml's real API (names, units, error codes)."""

from __future__ import annotations

import math
import os
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from baton.core.telemetry.meter import EnergyMeter

NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_GPU_IS_LOST = 15


class FakeNVMLError(Exception):
    _names = {3: "Not Supported", 9: "Driver Not Loaded", 15: "GPU is lost"}

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return self._names.get(self.value, f"NVML Error with code {self.value}")


class FakeNvml:
    """A GPU whose board power follows ``power_w(t)``; the energy counter is its exact integral."""

    NVMLError = FakeNVMLError
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED

    def __init__(self, power_w: Any = 300.0, energy_counter: bool = True, init_error: int | None = None,
                 process_vram_bytes: int | None = 2 << 30) -> None:
        self._power = power_w if callable(power_w) else (lambda t, p=power_w: p)
        self.energy_counter = energy_counter
        self.init_error = init_error
        self.process_vram_bytes = process_vram_bytes
        self.lost = False
        self.t0 = time.monotonic()
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self.initialized = 0

    def _count(self, name: str) -> None:
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1
        if self.lost and name not in ("nvmlShutdown",):
            raise FakeNVMLError(NVML_ERROR_GPU_IS_LOST)

    def _energy_j(self, t: float) -> float:
        # Integrate the power curve numerically (1 ms steps): the fake's "hardware" counter.
        steps = max(1, int((t - self.t0) / 0.001))
        dt = (t - self.t0) / steps
        return sum(self._power(self.t0 + (i + 0.5) * dt) for i in range(steps)) * dt

    # --- the pynvml API the meter uses ---
    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise FakeNVMLError(self.init_error)
        self.initialized += 1

    def nvmlShutdown(self) -> None:
        self.initialized -= 1

    def nvmlDeviceGetCount(self) -> int:
        self._count("nvmlDeviceGetCount")
        return 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> object:
        self._count("nvmlDeviceGetHandleByIndex")
        return ("handle", i)

    def nvmlDeviceGetName(self, handle: object) -> str:
        return "NVIDIA Fake 100"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
        self._count("nvmlDeviceGetTotalEnergyConsumption")
        if not self.energy_counter:
            raise FakeNVMLError(NVML_ERROR_NOT_SUPPORTED)
        return int(self._energy_j(time.monotonic()) * 1e3)  # millijoules

    def nvmlDeviceGetPowerUsage(self, handle: object) -> int | float:
        self._count("nvmlDeviceGetPowerUsage")
        p = self._power(time.monotonic())
        return p if isinstance(p, float) and math.isnan(p) else int(p * 1e3)  # milliwatts

    def nvmlDeviceGetMemoryInfo(self, handle: object) -> SimpleNamespace:
        self._count("nvmlDeviceGetMemoryInfo")
        return SimpleNamespace(total=80 << 30, free=70 << 30, used=10 << 30)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: object) -> list[SimpleNamespace]:
        self._count("nvmlDeviceGetComputeRunningProcesses")
        return [SimpleNamespace(pid=1, usedGpuMemory=1 << 30),
                SimpleNamespace(pid=os.getpid(), usedGpuMemory=self.process_vram_bytes)]


def meter_with(nvml: FakeNvml, tmp_path: Any) -> EnergyMeter:
    return EnergyMeter.for_machine(None, sysfs_root=tmp_path, nvml=nvml)


def test_energy_counter_is_read_at_the_window_edges(tmp_path: Any) -> None:
    nvml = FakeNvml(power_w=300.0)
    with meter_with(nvml, tmp_path) as meter:
        (gpu,) = [c for c in meter.channels if c.sensor.scope == "gpu_board"]
        assert (gpu.sensor.kind, gpu.sensor.source) == ("counter", "hw_counter")
        window = meter.begin()
        time.sleep(0.3)
        window.first_token()
        time.sleep(0.5)
        m = window.end()
    part = next(p for p in m.parts if p.scope == "gpu_board")
    assert part.source == "hw_counter" and part.measured
    assert part.energy_j == pytest.approx(300.0 * m.duration_s, rel=0.02)
    assert part.prefill_j == pytest.approx(300.0 * 0.3, rel=0.1)
    assert "total-energy counter" in part.note
    # CPU is not measured here, so the receipt mixes a measured GPU and an estimated CPU, and says so.
    assert {(p.scope, p.source) for p in m.parts} == {("gpu_board", "hw_counter"), ("cpu_package", "estimated")}
    assert 0 < m.measured_j < m.total_j
    assert nvml.initialized == 0  # nvmlShutdown balanced nvmlInit


def test_without_energy_counter_power_is_polled_and_integrated(tmp_path: Any) -> None:
    # A step from 100 W to 200 W a quarter of the way in: reading only the two edges would give
    # 150 J per second; polling at 20 Hz follows the step (true value: 175 J over the second).
    start: list[float] = []

    def power(t: float) -> float:
        return 100.0 if not start or t < start[0] + 0.25 else 200.0

    nvml = FakeNvml(power_w=power, energy_counter=False)
    with meter_with(nvml, tmp_path) as meter:
        (gpu,) = [c for c in meter.channels if c.sensor.scope == "gpu_board"]
        assert (gpu.sensor.kind, gpu.sensor.source) == ("power", "sensor_integrated")
        polls_before = nvml.calls.get("nvmlDeviceGetPowerUsage", 0)
        window = meter.begin()
        start.append(time.monotonic())
        time.sleep(1.0)
        m = window.end()
    part = next(p for p in m.parts if p.scope == "gpu_board")
    expected = 100.0 * 0.25 + 200.0 * (m.duration_s - 0.25)
    assert part.source == "sensor_integrated"
    assert part.energy_j == pytest.approx(expected, rel=0.03)
    assert nvml.calls["nvmlDeviceGetPowerUsage"] - polls_before >= 10  # it really polled
    assert "short_window" not in part.flags


def test_nvml_that_fails_to_start_is_reported_and_the_rest_works(tmp_path: Any) -> None:
    nvml = FakeNvml(init_error=NVML_ERROR_DRIVER_NOT_LOADED)
    with meter_with(nvml, tmp_path) as meter:
        report = meter.probe(sample_s=0.05)
        m = meter.begin().end()
    entry = next(s for s in report["sources"] if s["name"] == "nvml")
    assert entry["available"] is False
    assert "NVML did not start" in entry["reason"] and "Driver Not Loaded" in entry["reason"]
    assert [p.scope for p in m.parts] == ["cpu_package"]


def test_gpu_lost_mid_window_is_flagged_not_raised(tmp_path: Any) -> None:
    nvml = FakeNvml(power_w=250.0)
    with meter_with(nvml, tmp_path) as meter:
        window = meter.begin()
        time.sleep(0.2)
        nvml.lost = True
        time.sleep(0.1)
        m = window.end()
        mem = meter.memory()
    part = next(p for p in m.parts if p.scope == "gpu_board")
    assert "stale" in part.flags and "GPU is lost" in part.note
    assert mem["vram_bytes"] is None  # cannot say, rather than a wrong number


def test_nan_power_mid_window_is_bad_data(tmp_path: Any) -> None:
    broken: list[bool] = []
    nvml = FakeNvml(power_w=lambda t: float("nan") if broken else 100.0, energy_counter=False)
    with meter_with(nvml, tmp_path) as meter:
        window = meter.begin()
        time.sleep(0.1)
        broken.append(True)
        time.sleep(0.15)
        m = window.end()
    part = next(p for p in m.parts if p.scope == "gpu_board")
    assert "bad_data" in part.flags and "NVML power nan" in part.note
    assert 0 < part.energy_j <= 100.0 * 0.1 * 1.3  # only the stretch between good readings is counted


def test_vram_of_this_process_and_of_the_device(tmp_path: Any) -> None:
    nvml = FakeNvml(process_vram_bytes=3 << 30)
    with meter_with(nvml, tmp_path) as meter:
        mem = meter.memory()
    assert mem["vram_bytes"] == 3 << 30
    assert mem["vram_device_bytes"] == 10 << 30
    nvml = FakeNvml(process_vram_bytes=None)  # e.g. Windows WDDM: NVML cannot say per process
    with meter_with(nvml, tmp_path) as meter:
        assert meter.memory()["vram_bytes"] is None


@pytest.mark.gpu
def test_real_nvml_counter_agrees_with_integrated_power(tmp_path: Any) -> None:
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        pytest.skip("no NVIDIA GPU here")
    from baton.core.telemetry.channel import Channel
    from baton.core.telemetry.nvml import NvmlGpu, NvmlSession

    session = NvmlSession(pynvml)
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        counter = Channel(NvmlGpu(session, 0, handle, "gpu0", use_counter=True))
        power = Channel(NvmlGpu(session, 0, handle, "gpu0", use_counter=False))
        c0, p0 = counter.read(), power.read()
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            power.read()
            time.sleep(0.05)
        c1, p1 = counter.read(), power.read()
    finally:
        session.close()
    assert c1.energy_j - c0.energy_j > 0
    assert p1.energy_j - p0.energy_j == pytest.approx(c1.energy_j - c0.energy_j, rel=0.25)
