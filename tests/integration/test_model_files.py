"""Model files on copies of the real SmolLM2 with metadata rewritten: a small trained context, an unknown
architecture, a name that is not UTF-8, metadata llama.cpp accepts, and settings no machine can honour."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from baton.core.engine.defaults import default_model_path
from baton.core.engine.discovery import scan_models
from baton.core.errors import ModelLoadFailed, ModelSettingError, UnsupportedModel
from baton.core.engine.fit import plan_fit
from baton.core.engine.gguf import read_gguf_info
from baton.core.engine.llama import LlamaEngine
from baton.core.errors import ContextOverflow, ModelError
from baton.core.types import ChatMessage as M
from baton.core.types import GenerationRequest

from tests.helpers.gguf_writer import ARRAY, FLOAT64, INT64, STRING, UINT8, Typed, llama_like, rewrite_metadata

pytestmark = pytest.mark.slow  # every test here reads or loads a real GGUF


@pytest.fixture(scope="module")
def src() -> Path:
    return default_model_path(None)


def _answer(eng: LlamaEngine, text: str, max_tokens: int = 8):
    chunks = list(eng.stream(GenerationRequest([M("user", text)], max_tokens=max_tokens, temperature=0.0)))
    return chunks[-1].completion


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg and len(msg) < 400
    return msg


@pytest.mark.parametrize("trained", [256, 512, 1000])
def test_n_ctx_is_clamped_to_the_trained_context_and_said(src: Path, tmp_path: Path, trained: int) -> None:
    path = rewrite_metadata(src, tmp_path / "short.gguf", {"llama.context_length": trained})
    eng = LlamaEngine(path, n_ctx=4096, n_threads=2)
    try:
        assert eng.n_ctx == trained
        assert f"n_ctx clamped to the model's trained context {trained}" in " ".join(eng.notices)
        plan = plan_fit(read_gguf_info(path), 4096, free_ram_bytes=8 << 30, gpu=False)
        assert plan.n_ctx == trained and f"{trained} tokens of context (the model's trained context)" in plan.reason
        with pytest.raises(ContextOverflow) as e:  # a prompt the trained context cannot hold: one line
            _answer(eng, "word " * (trained + 168))
        assert f"{trained}-token context" in _one_line(e)
        assert _answer(eng, "Say hi.").usage.prompt_tokens < trained
    finally:
        eng.close()
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    os.link(path, models_dir / "short.gguf")
    paths = SimpleNamespace(models_dir=models_dir, cache_dir=tmp_path / "cache")
    settings = SimpleNamespace(engine=SimpleNamespace(n_ctx=4096), model_dirs=[])
    listed = [m for m in scan_models(paths, settings, home=tmp_path, env={}, gpu=False,
                                     free_ram_bytes=8 << 30).models if m.origin == "baton"]
    assert [(m.context_length, m.fit.n_ctx) for m in listed] == [(trained, trained)]


@pytest.mark.parametrize("arch", ["fooarch", "mamba9", "qwen7moe", "llama-next"])
def test_an_unknown_architecture_says_update_llama_cpp(src: Path, tmp_path: Path, arch: str) -> None:
    path = rewrite_metadata(src, tmp_path / "new.gguf", {"general.architecture": arch},
                            rename_prefix=("llama.", f"{arch}."))
    assert read_gguf_info(path).arch == arch  # intact: Baton's reader reads it
    eng = LlamaEngine(path, n_threads=2)
    try:
        with pytest.raises(UnsupportedModel) as e:
            eng.load()
    finally:
        eng.close()
    msg = _one_line(e)
    assert f"does not support architecture {arch}" in msg and "update llama-cpp-python" in msg
    assert "truncated" not in msg and "corrupt" not in msg


@pytest.mark.parametrize("name", [b"mod\xe8le.gguf", b"\xff\xfe-model.gguf", b"caf\xc3\xa9 model.gguf",
                                  b"mod\xe8le \xe9t\xe9.Q4.gguf"])
def test_a_file_name_that_is_not_utf8_loads_and_is_listed(src: Path, tmp_path: Path, name: bytes) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    raw = os.path.join(os.fsencode(folder), name)
    os.link(src, raw)
    path = Path(os.fsdecode(raw))
    eng = LlamaEngine(path, n_ctx=512, n_threads=2)
    try:
        assert eng.load() > 0
        assert _answer(eng, "Say hi.").text.strip()
        eng.model_id.encode("utf-8")  # printable, storable
    finally:
        eng.close()
    paths = SimpleNamespace(models_dir=folder, cache_dir=tmp_path / "cache")
    settings = SimpleNamespace(engine=SimpleNamespace(n_ctx=512), model_dirs=[])
    for _ in range(2):  # a fresh scan, then one from the header cache
        res = scan_models(paths, settings, home=tmp_path, env={}, gpu=False, free_ram_bytes=8 << 30)
        listed = [m for m in res.models if m.origin == "baton"]
        assert len(listed) == 1 and not [s for s in res.skipped if s.origin == "baton"]
        doc = json.dumps([m.to_dict() for m in listed], ensure_ascii=False)
        doc.encode("utf-8")  # prints on any UTF-8 terminal
        assert listed[0].arch == "llama" and Path(listed[0].path).is_file()


ODD_METADATA = {
    "key-of-70000-bytes": {"x" * 70_000: 1},
    "key-not-utf8": {b"odd\xe8key": 1},
    "unicode-key": {"ключ.🙂.name": "value"},
    "two-million-item-array": {"my.array": Typed(ARRAY, [0] * 2_000_000, UINT8)},
    "float64-and-int64": {"my.f": Typed(FLOAT64, 1.5), "my.i": Typed(INT64, -5)},
    "name-not-utf8": {"general.name": Typed(STRING, b"n\xe8me")},
    "context-length-as-string": {"my.context_length": "8192"},
    "hundred-thousand-strings": {"my.strings": [f"s{i}" for i in range(100_000)]},
}


@pytest.mark.parametrize("case", list(ODD_METADATA), ids=list(ODD_METADATA))
def test_metadata_llama_cpp_accepts_baton_reads(src: Path, tmp_path: Path, case: str) -> None:
    path = rewrite_metadata(src, tmp_path / "odd.gguf", ODD_METADATA[case])
    eng = LlamaEngine(path, n_ctx=256, n_threads=2)
    try:
        eng.load()  # llama.cpp accepts the file...
    finally:
        eng.close()
    info = read_gguf_info(path)  # ...so Baton's reader must too, with the facts right
    assert (info.arch, info.context_length, info.n_layers, info.unread) == ("llama", 8192, 30, "")
    assert info.params and 130e6 < info.params < 140e6


@pytest.mark.parametrize("extra", [{"zz.unknown": Typed(99, bytes(8))}, {"": 1},
                                   {"my.nested": Typed(ARRAY, [[1, 2], [3]], ARRAY)}],
                         ids=["unknown-value-type", "empty-key", "nested-array"])
def test_metadata_llama_cpp_refuses_is_never_called_corrupt(src: Path, tmp_path: Path, extra: dict) -> None:
    path = rewrite_metadata(src, tmp_path / "odd.gguf", extra)
    info = read_gguf_info(path)
    assert info.arch == "llama" and info.context_length == 8192
    eng = LlamaEngine(path, n_ctx=256, n_threads=2)
    try:
        with pytest.raises(ModelLoadFailed) as e:
            eng.load()
    finally:
        eng.close()
    msg = _one_line(e)
    assert "llama.cpp refused" in msg and "corrupt" not in msg and "truncated" not in msg


def test_a_big_endian_file_says_so(tmp_path: Path) -> None:
    w = llama_like()
    w.byte_order = ">"
    path = w.write(tmp_path / "be.gguf")
    eng = LlamaEngine(path, n_threads=2)
    try:
        with pytest.raises(UnsupportedModel) as e:
            eng.load()
    finally:
        eng.close()
    assert "big-endian" in _one_line(e)


def test_a_truncated_real_file_says_truncated(src: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.gguf"
    with open(src, "rb") as f:
        path.write_bytes(f.read(60_000_000))
    eng = LlamaEngine(path, n_threads=2)
    try:
        with pytest.raises(ModelError) as e:
            eng.load()
    finally:
        eng.close()
    assert "truncated" in _one_line(e)


@pytest.mark.parametrize(("n_ctx", "n_threads", "n_ctx_seen", "threads_seen"), [
    (1_000_000_000, 2, 8192, 2), (4096, 100_000, 4096, os.cpu_count()), (2**31 - 1, 10**9, 8192, os.cpu_count()),
    (0, 0, 8192, None)])
def test_settings_beyond_the_machine_are_clamped_and_said(src: Path, n_ctx: int, n_threads: int,
                                                          n_ctx_seen: int, threads_seen: int | None) -> None:
    eng = LlamaEngine(src, n_ctx=n_ctx, n_threads=n_threads)
    try:
        assert eng.n_ctx == n_ctx_seen
        if threads_seen:
            assert eng.n_threads == threads_seen
        if n_ctx != n_ctx_seen:
            assert any("engine.n_ctx" in n for n in eng.notices)
        if n_threads > (os.cpu_count() or 1):
            assert any("engine.n_threads" in n and f"{os.cpu_count()} CPUs" in n for n in eng.notices)
        assert _answer(eng, "Say hi.").text.strip()
    finally:
        eng.close()


@pytest.mark.parametrize(("kwargs", "setting"), [
    ({"n_ctx": -1}, "engine.n_ctx"), ({"n_threads": -4}, "engine.n_threads"),
    ({"n_ctx": 1_000_000_000, "drop_context": True}, "engine.n_ctx")])
def test_settings_no_machine_can_honour_are_refused_in_one_line(src: Path, tmp_path: Path, kwargs: dict,
                                                                setting: str) -> None:
    path = src
    if kwargs.pop("drop_context", False):
        path = rewrite_metadata(src, tmp_path / "noctx.gguf", drop_keys=("llama.context_length",))
    eng = LlamaEngine(path, **kwargs)
    try:
        with pytest.raises(ModelSettingError) as e:
            eng.load()
    finally:
        eng.close()
    assert setting in _one_line(e)
