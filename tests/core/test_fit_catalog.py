"""The curated catalog: one source of truth, consistent numbers, and plans that match real files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from baton.bench.fixtures import STRONG_FIXTURE_SHA256, STRONG_FIXTURE_SIZE
from baton.core.engine.catalog import PLAN_CTX, catalog_path, find, load_catalog
from baton.core.engine.defaults import DEFAULT_MODEL
from baton.core.engine.fit import GpuInfo, plan_fit
from baton.core.engine.gguf import read_gguf_info
from baton.core.errors import UsageError

REPO = Path(__file__).resolve().parents[2]
HUGE_GPU = GpuInfo("any", 10**15, 10**15)


def test_one_source_of_truth() -> None:
    shipped = catalog_path()
    assert shipped.read_bytes() == (REPO / "models" / "catalog.toml").read_bytes()
    assert shipped.parent.name == "data" and shipped.parent.parent.name == "baton"


def test_entries_are_well_formed() -> None:
    catalog = load_catalog()
    assert len(catalog) >= 15 and len({m.id for m in catalog}) == len(catalog)
    for m in catalog:
        assert m.id == m.id.lower() and " " not in m.id
        if m.id != DEFAULT_MODEL.id:
            assert re.fullmatch(r"https://huggingface\.co/[\w.-]+/[\w.-]+/resolve/main/[\w.-]+\.gguf", m.url), m.url
        assert m.sha256 == "" or re.fullmatch(r"[0-9a-f]{64}", m.sha256)
        assert m.size_bytes > 0 and m.params > 0 and m.context_length >= 2048
        assert m.kind in ("general", "coding") and m.license and m.quant
        assert m.n_embd % m.n_head == 0 or m.head_dim  # the head size is known either way


def test_stated_ram_and_vram_come_from_the_planner() -> None:
    for m in load_catalog():
        cpu = m.plan(PLAN_CTX, free_ram_bytes=10**15, gpu=False)
        gpu = m.plan(PLAN_CTX, free_ram_bytes=10**15, gpu=HUGE_GPU)
        assert (cpu.device, gpu.device) == ("cpu", "gpu")
        assert abs(cpu.ram_bytes - m.ram_bytes) <= 0.01 * m.ram_bytes, m.id
        assert abs(gpu.vram_bytes - m.vram_bytes) <= 0.01 * m.vram_bytes, m.id


def test_pinned_hashes_match_the_known_files() -> None:
    by_id = {m.id: m for m in load_catalog()}
    default = by_id[DEFAULT_MODEL.id]
    assert (default.sha256, default.size_bytes) == (DEFAULT_MODEL.sha256, DEFAULT_MODEL.size_bytes)
    coder = by_id["qwen2.5-coder-0.5b-instruct-q4_k_m"]
    assert (coder.sha256, coder.size_bytes) == (STRONG_FIXTURE_SHA256, STRONG_FIXTURE_SIZE)


@pytest.mark.parametrize("n_ctx", [512, 4096, 8192])
def test_catalog_plan_matches_the_real_default_model(default_model_path: Path, n_ctx: int) -> None:
    entry = find(load_catalog(), DEFAULT_MODEL.id)
    real = plan_fit(read_gguf_info(default_model_path), n_ctx, free_ram_bytes=10**12, gpu=False)
    from_catalog = entry.plan(n_ctx, free_ram_bytes=10**12, gpu=False)
    assert from_catalog.kv_bytes == real.kv_bytes
    assert abs(from_catalog.ram_bytes - real.ram_bytes) <= 0.03 * real.ram_bytes


def test_catalog_plan_matches_the_real_qwen(strong_model_path: Path) -> None:
    entry = find(load_catalog(), "qwen2.5-coder-0.5b-instruct-q4_k_m")
    info = read_gguf_info(strong_model_path)
    assert (info.n_layers, info.n_embd, info.n_head, info.n_head_kv, info.vocab_size) == (
        entry.n_layers, entry.n_embd, entry.n_head, entry.n_head_kv, entry.vocab_size)
    for gpu in (False, GpuInfo("8 GB card", 8 << 30, 7 << 30)):
        real = plan_fit(info, 4096, free_ram_bytes=10**12, gpu=gpu)
        est = entry.plan(4096, free_ram_bytes=10**12, gpu=gpu)
        assert est.device == real.device and est.kv_bytes == real.kv_bytes
        assert abs(est.ram_bytes - real.ram_bytes) <= 0.05 * real.ram_bytes
        assert abs(est.vram_bytes - real.vram_bytes) <= 0.05 * max(real.vram_bytes, 1)


def test_find() -> None:
    catalog = load_catalog()
    assert find(catalog, "gemma-2-2b-it-q4_k_m").arch == "gemma2"
    with pytest.raises(UsageError) as e:
        find(catalog, "qwen2.5-coder-7b")
    assert "did you mean qwen2.5-coder-7b-instruct-q4_k_m" in str(e.value)
