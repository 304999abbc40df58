"""The fit planner: where a model loads (gpu, split, cpu, none) and why."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from baton.core.engine.fit import (
    RUNTIME_OVERHEAD_BYTES,
    VRAM_RESERVE_BYTES,
    VRAM_RESERVE_SHARE,
    GpuInfo,
    compute_buffer_bytes,
    detect_gpu,
    plan_fit,
)
from baton.core.engine.gguf import GGUFInfo, read_gguf_info

from tests.helpers.gguf_writer import llama_like

GiB = 1 << 30


@pytest.fixture
def model(tmp_path: Path) -> GGUFInfo:
    w = llama_like(n_layers=8, n_embd=256, n_head=8, n_head_kv=4, n_vocab=64, context_length=4096, ff=512)
    return read_gguf_info(w.write(tmp_path / "m.gguf"))


def test_cpu_when_no_gpu(model: GGUFInfo) -> None:
    plan = plan_fit(model, 2048, free_ram_bytes=8 * GiB, gpu=False)
    assert plan.device == "cpu" and plan.n_gpu_layers == 0 and plan.vram_bytes == 0
    assert plan.kv_bytes == 2048 * model.kv_bytes_per_token
    assert plan.weights_bytes == model.tensor_data_bytes
    expected = plan.weights_bytes + plan.kv_bytes + compute_buffer_bytes(model, 2048) + RUNTIME_OVERHEAD_BYTES
    assert plan.ram_bytes == expected
    assert "no GPU" in plan.reason and "memory-mapped" in plan.reason
    assert plan.fits


def test_context_is_capped_at_the_model_context(model: GGUFInfo) -> None:
    plan = plan_fit(model, 100_000, free_ram_bytes=8 * GiB, gpu=False)
    assert plan.n_ctx == 4096 and plan.kv_bytes == 4096 * model.kv_bytes_per_token


def test_none_names_the_numbers(model: GGUFInfo) -> None:
    plan = plan_fit(model, 4096, free_ram_bytes=10_000_000, gpu=False)
    assert plan.device == "none" and not plan.fits
    assert "needs" in plan.reason and "10 MB free" in plan.reason
    assert "smaller quant" in plan.reason and "close apps" in plan.reason
    assert "\n" not in plan.reason


def test_more_context_needs_more_ram(model: GGUFInfo) -> None:
    small = plan_fit(model, 512, free_ram_bytes=8 * GiB, gpu=False)
    big = plan_fit(model, 4096, free_ram_bytes=8 * GiB, gpu=False)
    assert big.ram_bytes - small.ram_bytes >= (4096 - 512) * model.kv_bytes_per_token


def test_all_layers_on_a_big_gpu(model: GGUFInfo) -> None:
    plan = plan_fit(model, 2048, free_ram_bytes=8 * GiB, gpu=GpuInfo("Test GPU", 24 * GiB, 20 * GiB))
    assert plan.device == "gpu" and plan.n_gpu_layers == model.n_layers + 1
    assert plan.vram_bytes == plan.weights_bytes + plan.kv_bytes + plan.compute_bytes
    cpu = plan_fit(model, 2048, free_ram_bytes=8 * GiB, gpu=False)
    assert plan.ram_bytes < cpu.ram_bytes - plan.kv_bytes  # only host-side buffers stay in RAM
    assert "all 8 layers on Test GPU" in plan.reason and plan.free_vram_bytes == 20 * GiB


def _gpu_with_room_for(model: GGUFInfo, layers: float, n_ctx: int) -> GpuInfo:
    cpu = plan_fit(model, n_ctx, free_ram_bytes=8 * GiB, gpu=False)
    blocks = sum(t.size_bytes or 0 for t in model.tensors if t.name.startswith("blk."))
    per_layer = -(-blocks // model.n_layers) + cpu.kv_bytes // model.n_layers
    usable = cpu.compute_bytes + int(layers * per_layer)
    free = int((usable + VRAM_RESERVE_BYTES) / (1 - VRAM_RESERVE_SHARE)) + 1
    return GpuInfo("Small GPU", free, free)


def test_split_when_only_some_layers_fit(model: GGUFInfo) -> None:
    gpu = _gpu_with_room_for(model, 3.5, 4096)
    plan = plan_fit(model, 4096, free_ram_bytes=8 * GiB, gpu=gpu)
    assert plan.device == "split" and plan.n_gpu_layers == 3
    assert "3 of 8 layers on Small GPU" in plan.reason
    cpu = plan_fit(model, 4096, free_ram_bytes=8 * GiB, gpu=False)
    assert plan.ram_bytes < cpu.ram_bytes and plan.vram_bytes > 0


def test_cpu_when_not_even_one_layer_fits(model: GGUFInfo) -> None:
    plan = plan_fit(model, 4096, free_ram_bytes=8 * GiB, gpu=_gpu_with_room_for(model, 0.5, 4096))
    assert plan.device == "cpu" and "too little free VRAM on Small GPU" in plan.reason


def test_split_refused_when_ram_is_short_too(model: GGUFInfo) -> None:
    gpu = _gpu_with_room_for(model, 2.5, 4096)
    plan = plan_fit(model, 4096, free_ram_bytes=1_000_000, gpu=gpu)
    assert plan.device == "none" and "1 MB free" in plan.reason


class FakeNvml:
    """Isolates detect_gpu from the driver: the shape of pynvml's API, nothing more."""

    def __init__(self, count: int = 1, fail_init: bool = False) -> None:
        self.count, self.fail_init, self.shutdown = count, fail_init, False

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlDeviceGetCount(self) -> int:
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetMemoryInfo(self, h: int) -> SimpleNamespace:
        return SimpleNamespace(total=16 * GiB, free=12 * GiB, used=4 * GiB)

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return b"NVIDIA Test 16GB"

    def nvmlShutdown(self) -> None:
        self.shutdown = True


def test_detect_gpu_through_nvml() -> None:
    nvml = FakeNvml()
    assert detect_gpu(nvml) == GpuInfo("NVIDIA Test 16GB", 16 * GiB, 12 * GiB)
    assert nvml.shutdown


def test_detect_gpu_absent() -> None:
    assert detect_gpu(FakeNvml(fail_init=True)) is None
    assert detect_gpu(FakeNvml(count=0)) is None


def test_default_model_on_this_machine(default_model_path: Path) -> None:
    info = read_gguf_info(default_model_path)
    plan = plan_fit(info, 4096)  # real psutil, real NVML probe
    assert plan.device in ("cpu", "gpu")
    assert plan.kv_bytes == 90 * (1 << 20)  # what llama.cpp allocates: 90 MiB at 4096 tokens
    assert plan.ram_bytes > info.size_bytes - (8 << 20)
    assert plan.free_ram_bytes > 0


def test_estimates_match_what_llama_cpp_allocates(default_model_path: Path) -> None:
    """Load the real model in llama.cpp and compare its own buffer report with the plan."""
    code = (
        "import sys; from llama_cpp import Llama; "
        "Llama(sys.argv[1], n_ctx=int(sys.argv[2]), n_threads=1, n_gpu_layers=0, verbose=True)"
    )
    info = read_gguf_info(default_model_path)
    for n_ctx in (512, 8192):
        out = subprocess.run(
            [sys.executable, "-c", code, str(default_model_path), str(n_ctx)],
            capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        kv = re.search(r"KV buffer size =\s*([\d.]+) MiB", out.stderr)
        compute = re.search(r"CPU compute buffer size =\s*([\d.]+) MiB", out.stderr)
        assert kv and compute, out.stderr[-2000:]
        plan = plan_fit(info, n_ctx, free_ram_bytes=8 * GiB, gpu=False)
        real_kv = float(kv.group(1)) * (1 << 20)
        real_compute = float(compute.group(1)) * (1 << 20)
        assert abs(plan.kv_bytes - real_kv) <= 0.02 * real_kv
        assert real_compute * 0.95 <= plan.compute_bytes <= real_compute * 1.4
