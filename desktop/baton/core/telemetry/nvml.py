"""NVIDIA GPUs through NVML (the official ``nvidia-ml-py`` bindings, import name ``pynvml``).

Per GPU: the total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules, Volta and
newer) where supported, else the board power (``nvmlDeviceGetPowerUsage``, milliwatts) polled by
the meter and integrated. VRAM: the device's used memory, and this process's own where the
driver reports it (not inside some containers, nor under Windows WDDM).

The module object is injectable: tests pass a fake that follows the real API, production passes
nothing and ``pynvml`` is imported lazily (it is an optional extra).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from baton.core.telemetry.sensors import COUNTER, POWER, BadReading, NullSensor, Sensor

NOT_SUPPORTED_FALLBACK = 3  # NVML_ERROR_NOT_SUPPORTED in nvml.h


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class NvmlSession:
    """One ``nvmlInit`` for the meter; ``close`` calls ``nvmlShutdown`` once."""

    def __init__(self, nvml: ModuleType | Any | None = None) -> None:
        self.nvml: Any = None
        self.reason = ""
        self._open = False
        if nvml is None:
            try:
                import pynvml as nvml  # type: ignore[import-not-found,no-redef]
            except ImportError:
                self.reason = "pynvml is not installed: pip install nvidia-ml-py (extra baton[nvidia])"
                return
        try:
            nvml.nvmlInit()
        except Exception as e:  # NVMLError_LibraryNotFound, DriverNotLoaded, ... or a broken install
            self.reason = f"NVML did not start ({type(e).__name__}: {e}): no NVIDIA driver or no GPU here"
            return
        self.nvml = nvml
        self._open = True

    @property
    def ok(self) -> bool:
        """True when NVML initialised."""
        return self._open

    def is_not_supported(self, error: BaseException) -> bool:
        """True when ``e`` is NVML's NOT_SUPPORTED error (a query this GPU cannot answer)."""
        code = getattr(self.nvml, "NVML_ERROR_NOT_SUPPORTED", NOT_SUPPORTED_FALLBACK)
        return getattr(error, "value", None) == code

    def close(self) -> None:
        """Shut NVML down once. Idempotent."""
        if self._open:
            self._open = False
            try:
                self.nvml.nvmlShutdown()
            except Exception:
                pass


class NvmlGpu(Sensor):
    """One NVIDIA GPU: its total-energy counter (mJ, Volta and newer) or its power polled and integrated."""
    scope = "gpu_board"

    def __init__(self, session: NvmlSession, index: int, handle: Any, gpu_name: str, use_counter: bool) -> None:
        self._session = session
        self._nvml = session.nvml
        self.index = index
        self.handle = handle
        self.gpu_name = gpu_name
        self.name = f"nvml:{index} {gpu_name}"
        if use_counter:
            self.kind, self.source = COUNTER, "hw_counter"
            self.update_period_s, self.stale_after_s = 0.1, 3.0
        else:
            self.kind, self.source = POWER, "sensor_integrated"
            # Recent boards report power averaged over about one second.
            self.update_period_s, self.stale_after_s = 1.0, None

    def is_available(self) -> tuple[bool, str]:
        """(True, how) when the energy or power query answers, else (False, why)."""
        try:
            value = self.read_energy_j() if self.kind == COUNTER else self.read_power_w()
        except Exception as e:
            return False, f"GPU {self.index} stopped answering ({type(e).__name__}: {e})"
        if self.kind == COUNTER:
            return True, f"GPU {self.index} {self.gpu_name}: total-energy counter ({value:.0f} J so far)"
        return True, (
            f"GPU {self.index} {self.gpu_name}: no energy counter (NOT_SUPPORTED); power polled and "
            f"integrated ({value:.1f} W now)"
        )

    def read_energy_j(self) -> float:
        """The GPU's total energy counter (J, from NVML's mJ)."""
        mj = self._nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        value = float(mj)
        if not math.isfinite(value) or value < 0:
            raise BadReading(f"NVML energy {mj!r}")
        return value / 1e3

    def read_power_w(self) -> float:
        """The GPU's power now (W, from NVML's mW)."""
        mw = self._nvml.nvmlDeviceGetPowerUsage(self.handle)
        value = float(mw)
        if not math.isfinite(value) or value < 0:
            raise BadReading(f"NVML power {mw!r}")
        return value / 1e3

    def device_vram_used_bytes(self) -> int | None:
        """VRAM in use on the device (bytes), None when NVML cannot say."""
        try:
            return int(self._nvml.nvmlDeviceGetMemoryInfo(self.handle).used)
        except Exception:
            return None

    def process_vram_bytes(self, pid: int) -> int | None:
        """This process's VRAM on this GPU: 0 when it runs nothing here, None when NVML cannot say."""
        try:
            procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(self.handle)
        except Exception:
            return None
        for p in procs:
            if getattr(p, "pid", None) == pid:
                used = getattr(p, "usedGpuMemory", None)
                return int(used) if used is not None else None
        return 0

    def describe(self) -> str:
        """One line for a receipt's note: the GPU and what is read."""
        what = "total-energy counter" if self.kind == COUNTER else "power polled at 20 Hz, integrated"
        return f"NVML GPU {self.index} {self.gpu_name}: {what}"


def discover_nvml(session: NvmlSession) -> list[Sensor]:
    """An ``NvmlGpu`` per device, or a ``NullSensor`` saying why there is none (no driver, no GPU)."""
    if not session.ok:
        return [NullSensor("nvml", "gpu_board", session.reason, source="hw_counter")]
    nvml = session.nvml
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except Exception as e:
        return [NullSensor("nvml", "gpu_board", f"NVML could not count GPUs ({e})")]
    if count == 0:
        return [NullSensor("nvml", "gpu_board", "NVML is running but sees no GPU")]
    sensors: list[Sensor] = []
    for i in range(count):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
        except Exception as e:
            sensors.append(NullSensor(f"nvml:{i}", "gpu_board", f"GPU {i} has no handle ({e})"))
            continue
        try:
            gpu_name = _text(nvml.nvmlDeviceGetName(handle))
        except Exception:
            gpu_name = "NVIDIA GPU"
        try:
            nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            sensors.append(NvmlGpu(session, i, handle, gpu_name, use_counter=True))
            continue
        except Exception as e:
            if not session.is_not_supported(e):
                sensors.append(NullSensor(f"nvml:{i}", "gpu_board", f"GPU {i} energy read failed ({e})"))
                continue
        try:
            nvml.nvmlDeviceGetPowerUsage(handle)
            sensors.append(NvmlGpu(session, i, handle, gpu_name, use_counter=False))
        except Exception as e:
            sensors.append(
                NullSensor(f"nvml:{i}", "gpu_board", f"GPU {i} {gpu_name} reports neither energy nor power ({e})")
            )
    return sensors

