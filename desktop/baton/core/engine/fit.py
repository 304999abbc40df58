"""Plan how a model loads on this machine: all on the GPU, split, CPU only, or not at all.

Needed memory = weights + KV cache (f16, ``n_ctx`` tokens) + llama.cpp's compute buffers + a fixed
runtime overhead. The weights are memory-mapped, not copied: the OS pages them in from the file, so
they count against RAM (or the model thrashes the disk) even though the process never allocates them.
Free RAM comes from psutil (``available``: free plus reclaimable cache); free VRAM from NVML when
``pynvml`` imports and a device exists, or from a ``GpuInfo`` the caller passes (tests, other vendors).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from baton.core.engine.gguf import GGUFInfo

GB = 1e9
N_UBATCH = 512  # llama.cpp's default micro-batch: sizes the compute buffers
RUNTIME_OVERHEAD_BYTES = 64 << 20  # llama.cpp context, tokenizer tables, graph metadata
VRAM_RESERVE_BYTES = 384 << 20  # CUDA context and driver scratch that NVML still reports as free
VRAM_RESERVE_SHARE = 0.05  # plus 5% of the card, for the desktop and other apps


@dataclass(frozen=True)
class GpuInfo:
    """One accelerator's memory, in bytes."""

    name: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class FitPlan:
    """Where a model will run and what it will take: ``device`` (``gpu``, ``cpu``, ``split`` or ``none`` when it does
    not fit), ``n_gpu_layers`` offloaded, ``ram_bytes``/``vram_bytes`` needed (Units: bytes; the parts:
    ``weights_bytes``, ``kv_bytes`` for ``n_ctx`` tokens, ``compute_bytes``), the free memory it was planned
    against and a one-line ``reason``."""

    device: str  # "gpu" | "cpu" | "split" | "none"
    n_gpu_layers: int
    ram_bytes: int
    vram_bytes: int
    reason: str
    n_ctx: int = 0
    weights_bytes: int = 0
    kv_bytes: int = 0
    compute_bytes: int = 0
    free_ram_bytes: int = 0
    free_vram_bytes: int | None = None

    @property
    def fits(self) -> bool:
        """True unless the plan's device is ``none``."""
        return self.device != "none"

    def to_dict(self) -> dict[str, Any]:
        """The CONTRACT ``fit`` object (plus the parts, which callers may show)."""
        return asdict(self)


def detect_gpu(nvml: Any = None) -> GpuInfo | None:
    """Device 0's memory through NVML, or None when there is no NVIDIA GPU or driver."""
    try:
        if nvml is None:
            import pynvml as nvml  # type: ignore[import-not-found,no-redef]
        nvml.nvmlInit()
    except Exception:  # no package, no driver, no device: all mean "no GPU"
        return None
    try:
        if nvml.nvmlDeviceGetCount() < 1:
            return None
        handle = nvml.nvmlDeviceGetHandleByIndex(0)
        mem = nvml.nvmlDeviceGetMemoryInfo(handle)
        name = nvml.nvmlDeviceGetName(handle)
        name = name.decode() if isinstance(name, bytes) else str(name)
        return GpuInfo(name, int(mem.total), int(mem.free))
    except Exception:
        return None
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


def free_ram() -> int:
    """Memory available to a new process now, from psutil (Units: bytes)."""
    import psutil

    return int(psutil.virtual_memory().available)


def fmt_gb(n: int) -> str:
    """``n`` bytes for people, in decimal units: ``123 MB`` under 10^9 bytes, else ``1.2 GB``."""
    if n < GB:
        return f"{n / 1e6:.0f} MB"
    return f"{n / GB:.1f} GB"


def compute_buffer_bytes(info: GGUFInfo, n_ctx: int) -> int:
    """llama.cpp's scratch for one micro-batch (f32, no flash attention).

    The graph allocator reuses memory, so the peak is the larger of the logits and the attention
    scores, plus the activations of one block. Checked against llama.cpp's own report on SmolLM2-135M:
    98/99/166 MiB at 512/4096/8192 tokens; this gives 117/117/165 MiB.
    """
    logits = info.vocab_size * N_UBATCH * 4
    scores = max(info.n_head, 1) * N_UBATCH * n_ctx * 4
    activations = N_UBATCH * 4 * (8 * max(info.n_embd, 1) + 4 * max(info.n_ff, info.n_embd))
    return max(logits, scores) + activations


def _weights_bytes(info: GGUFInfo) -> int:
    return info.tensor_data_bytes or info.size_bytes


def _layer_bytes(info: GGUFInfo) -> int:
    """Weights of one repeating block (what one offloaded layer costs on the GPU)."""
    if info.block_bytes and info.n_layers:
        return -(-info.block_bytes // info.n_layers)
    return -(-_weights_bytes(info) // max(info.n_layers, 1))


def plan_fit(
    info: GGUFInfo,
    n_ctx: int,
    free_ram_bytes: int | None = None,
    gpu: GpuInfo | None | Literal[False] = None,
    parallel: int = 1,
) -> FitPlan:
    """Where and how ``info`` loads with ``n_ctx`` tokens of context for each of ``parallel`` threads answered
    at once (``engine.parallel``: the KV cache holds ``parallel x n_ctx`` tokens; the compute buffers are those
    of one ``n_ctx``-token slot, since each slot attends only to its own cache).

    ``gpu``: a ``GpuInfo``, ``None`` to ask NVML, or ``False`` for "use no GPU" (pass ``False`` when
    the installed llama.cpp was built without GPU support). ``n_gpu_layers`` of a full offload is
    ``n_layers + 1`` (the output layer too), as llama.cpp counts.
    """
    clamped = 0 < info.context_length < n_ctx
    if info.context_length > 0 and (n_ctx <= 0 or clamped):
        n_ctx = info.context_length  # as the engine does: never more than the model was trained for
    n_ctx = max(n_ctx, 1)
    ram_free = free_ram() if free_ram_bytes is None else int(free_ram_bytes)
    dev = detect_gpu() if gpu is None else (gpu or None)

    weights = _weights_bytes(info)
    parallel = max(1, int(parallel))
    kv = info.kv_cache_bytes(n_ctx) * parallel
    compute = compute_buffer_bytes(info, n_ctx)
    cpu_need = weights + kv + compute + RUNTIME_OVERHEAD_BYTES
    parts = dict(n_ctx=n_ctx, weights_bytes=weights, kv_bytes=kv, compute_bytes=compute, free_ram_bytes=ram_free)
    mmap_note = "weights are memory-mapped from the file, not copied"
    ctx_note = f"{n_ctx} tokens of context" + (" (the model's trained context)" if clamped else "")
    if parallel > 1:
        ctx_note += f" for each of {parallel} threads at once (engine.parallel)"

    if dev is not None and info.n_layers > 0:
        usable = dev.free_bytes - VRAM_RESERVE_BYTES - int(dev.total_bytes * VRAM_RESERVE_SHARE)
        parts["free_vram_bytes"] = dev.free_bytes
        host_small = compute // 4 + RUNTIME_OVERHEAD_BYTES  # CPU-side buffers when everything is offloaded
        full_vram = weights + kv + compute
        if full_vram <= usable:
            ram = host_small + info.embd_bytes  # the embeddings stay on the CPU
            return FitPlan(
                "gpu", info.n_layers + 1, ram, full_vram,
                f"all {info.n_layers} layers on {dev.name}: needs {fmt_gb(full_vram)} of "
                f"{fmt_gb(dev.free_bytes)} free VRAM with {ctx_note}",
                **parts,
            )
        per_layer = _layer_bytes(info) + kv // info.n_layers
        n_fit = max(0, min(info.n_layers, (usable - compute) // per_layer)) if usable > compute else 0
        if n_fit > 0:
            vram = n_fit * per_layer + compute
            ram = cpu_need - n_fit * per_layer
            if ram <= ram_free:
                return FitPlan(
                    "split", int(n_fit), ram, vram,
                    f"{n_fit} of {info.n_layers} layers on {dev.name} ({fmt_gb(vram)} VRAM, "
                    f"{fmt_gb(dev.free_bytes)} free), the rest on the CPU ({fmt_gb(ram)} RAM); {mmap_note}",
                    **parts,
                )
    if cpu_need <= ram_free:
        why = "no GPU found" if dev is None else f"too little free VRAM on {dev.name}"
        return FitPlan(
            "cpu", 0, cpu_need, 0,
            f"CPU ({why}): needs {fmt_gb(cpu_need)} of {fmt_gb(ram_free)} free RAM with {ctx_note}; {mmap_note}",
            **parts,
        )
    shrink = ""
    if kv + compute > cpu_need // 3 and n_ctx > 2048:
        shrink = ", lower the context (engine.n_ctx)"
    if parallel > 1 and kv > cpu_need // 3:
        shrink += ", answer fewer threads at once (engine.parallel)"
    return FitPlan(
        "none", 0, cpu_need, 0,
        f"does not fit: needs {fmt_gb(cpu_need)} ({fmt_gb(weights)} weights, memory-mapped, + "
        f"{fmt_gb(kv + compute)} cache and buffers for {n_ctx} tokens"
        f"{f' x {parallel} threads' if parallel > 1 else ''}), {fmt_gb(ram_free)} free; "
        f"close apps{shrink} or pick a smaller quant",
        **parts,
    )


def plan_beside(info: GGUFInfo, n_ctx: int, resident: list[Any], free_ram_bytes: int | None = None,
                gpu: GpuInfo | None | Literal[False] = None, parallel: int = 1) -> FitPlan:
    """``plan_fit`` for a model loaded beside ``resident`` ones (their ``FitPlan``s, None for unknown ones).

    The free-RAM figure already lacks the residents' caches and buffers (allocated) but still counts their
    memory-mapped weights as reclaimable page cache, and NVML's free VRAM already lacks what they hold on the GPU;
    so the residents' CPU-side weights are taken off the free RAM before planning. The reason names them."""
    others = [p for p in resident if p is not None]
    ram_free = free_ram() if free_ram_bytes is None else int(free_ram_bytes)
    mapped = sum(int(p.weights_bytes) for p in others if p.device in ("cpu", "split"))
    plan = plan_fit(info, n_ctx, free_ram_bytes=max(0, ram_free - mapped), gpu=gpu, parallel=parallel)
    if not others:
        return plan
    n = len(others)
    beside = f"beside {n} resident model{'s' if n != 1 else ''}"
    if mapped:
        beside += f" (their {fmt_gb(mapped)} of mapped weights counted as used)"
    return replace(plan, reason=f"{plan.reason}; {beside}")
