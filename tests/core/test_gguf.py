"""GGUF header reading on crafted files and on the real default model."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
from baton.core.engine import gguf
from baton.core.engine.gguf import read_gguf_info
from baton.core.engine.names import parse_size_label, printable
from baton.core.errors import ModelError

from tests.helpers.gguf_writer import (
    ARRAY,
    INT32,
    STRING,
    UINT16,
    UINT32,
    UINT64,
    GGUFWriter,
    Tensor,
    Typed,
    llama_like,
)


def _write(tmp_path: Path, w: GGUFWriter, name: str = "m.gguf") -> Path:
    return w.write(tmp_path / name)


def test_crafted_model_metadata(tmp_path: Path) -> None:
    w = llama_like(n_layers=3, n_embd=64, n_head=4, n_head_kv=2, n_vocab=40, context_length=4096)
    p = _write(tmp_path, w)
    info = read_gguf_info(p)
    assert info.path == p and info.size_bytes == p.stat().st_size
    assert (info.version, info.arch, info.name) == (3, "llama", "Tiny Test")
    assert info.params == sum(
        t.dims[0] * (t.dims[1] if len(t.dims) > 1 else 1) for t in w.tensors
    )
    assert info.quant == "Q4_K_M"  # general.file_type 15
    assert (info.context_length, info.n_layers, info.n_embd) == (4096, 3, 64)
    assert (info.n_head, info.n_head_kv, info.vocab_size) == (4, 2, 40)
    assert info.has_chat_template and "messages" in info.chat_template
    # K and V, f16, per layer: n_head_kv * head_dim each
    assert info.kv_bytes_per_token == 3 * 2 * (64 // 4) * 2 * 2
    assert info.kv_cache_bytes(1000) == 1000 * info.kv_bytes_per_token
    assert info.tensor_count == len(w.tensors)
    assert [t.name for t in info.tensors] == [t.name for t in w.tensors]
    assert info.tensor_data_bytes == sum(t.nbytes for t in w.tensors)
    assert info.metadata["general.name"] == "Tiny Test"
    assert "tokenizer.ggml.tokens" not in info.metadata  # big arrays are skipped, not kept


def test_version_2_reads(tmp_path: Path) -> None:
    w = llama_like()
    w.version = 2
    assert read_gguf_info(_write(tmp_path, w)).version == 2


def test_quant_falls_back_to_dominant_tensor_type(tmp_path: Path) -> None:
    info = read_gguf_info(_write(tmp_path, llama_like(file_type=None)))
    assert info.quant == "Q8_0"  # the block weights' type, by bytes


def test_no_chat_template(tmp_path: Path) -> None:
    info = read_gguf_info(_write(tmp_path, llama_like(chat_template=None)))
    assert not info.has_chat_template and info.chat_template == ""


def test_name_falls_back_to_file_stem(tmp_path: Path) -> None:
    info = read_gguf_info(_write(tmp_path, llama_like(name="  "), "my-model.Q4.gguf"))
    assert info.name == "my-model.Q4"


def test_per_layer_kv_heads_and_explicit_head_dims(tmp_path: Path) -> None:
    extra = {
        "llama.attention.head_count_kv": Typed(ARRAY, [1, 2, 4], INT32),
        "llama.attention.key_length": 32,
        "llama.attention.value_length": 16,
    }
    info = read_gguf_info(_write(tmp_path, llama_like(n_layers=3, extra=extra)))
    assert info.n_head_kv == 4
    assert info.kv_bytes_per_token == (1 + 2 + 4) * (32 + 16) * 2


def test_shard_uses_declared_parameter_count(tmp_path: Path) -> None:
    extra = {"split.no": Typed(UINT16, 0), "split.count": Typed(UINT16, 3),
             "general.parameter_count": Typed(UINT64, 7_000_000_000)}
    info = read_gguf_info(_write(tmp_path, llama_like(extra=extra), "m-00001-of-00003.gguf"))
    assert info.split_count == 3 and info.split_no == 0
    assert info.params == 7_000_000_000


def test_header_only_tensors_optional(tmp_path: Path) -> None:
    info = read_gguf_info(_write(tmp_path, llama_like(extra={"general.size_label": "135M"})), read_tensors=False)
    assert info.tensors == [] and info.params == 135_000_000


@pytest.mark.parametrize(
    ("label", "expected"),
    [("135M", 135_000_000), ("1.5B", 1_500_000_000), ("8x7B", 56_000_000_000), ("big", None), ("", None)],
)
def test_parse_size_label(label: str, expected: int | None) -> None:
    assert parse_size_label(label) == expected


# ---- bad input: every case is a ModelError with one line that says what to do ----------------


def _one_line(e: pytest.ExceptionInfo[ModelError]) -> str:
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400
    return msg


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as e:
        read_gguf_info(tmp_path / "nope.gguf")
    assert "not found" in _one_line(e)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as e:
        read_gguf_info(tmp_path)
    assert "directory" in _one_line(e)


@pytest.mark.parametrize("content", [b"", b"GG", b"PK\x03\x04 this is a zip" * 4, b"<html>404</html>" * 10])
def test_not_gguf(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "x.gguf"
    p.write_bytes(content)
    with pytest.raises(ModelError) as e:
        read_gguf_info(p)
    assert "not a GGUF" in _one_line(e)


@pytest.mark.parametrize(("version", "hint"), [(1, "current conversion"), (4, "current"), (99, "current")])
def test_unsupported_version(tmp_path: Path, version: int, hint: str) -> None:
    w = llama_like()
    w.version = version
    with pytest.raises(ModelError) as e:
        read_gguf_info(_write(tmp_path, w))
    msg = _one_line(e)
    assert f"version {version}" in msg and hint in msg


def test_big_endian_file_is_read_and_marked(tmp_path: Path) -> None:
    w = llama_like(n_layers=3, context_length=4096)
    w.byte_order = ">"
    info = read_gguf_info(_write(tmp_path, w))
    assert info.byte_order == "big" and info.version == 3
    assert (info.arch, info.context_length, info.n_layers, info.n_head_kv) == ("llama", 4096, 3, 2)
    assert [t.name for t in info.tensors] == [t.name for t in w.tensors]
    little = read_gguf_info(_write(tmp_path, llama_like(n_layers=3, context_length=4096), "le.gguf"))
    assert little.byte_order == "little" and little.params == info.params


def test_truncated_at_every_header_offset(tmp_path: Path) -> None:
    full = llama_like(n_vocab=8, n_layers=1).to_bytes()
    header_len = len(llama_like(n_vocab=8, n_layers=1).header())
    p = tmp_path / "t.gguf"
    for cut in range(4, header_len):
        p.write_bytes(full[:cut])
        with pytest.raises(ModelError) as e:
            read_gguf_info(p)
        msg = str(e.value)
        assert "truncated" in msg or "corrupt" in msg, (cut, msg)


def test_truncated_says_so(tmp_path: Path) -> None:
    full = llama_like().to_bytes()
    p = tmp_path / "t.gguf"
    p.write_bytes(full[:200])
    with pytest.raises(ModelError) as e:
        read_gguf_info(p)
    assert "truncated" in _one_line(e) and "re-download" in str(e.value)


@pytest.mark.parametrize("field", ["tensor_count", "kv_count"])
def test_absurd_counts(tmp_path: Path, field: str) -> None:
    w = llama_like()
    setattr(w, field, 2**62)
    with pytest.raises(ModelError) as e:
        read_gguf_info(_write(tmp_path, w))
    assert "more than" in _one_line(e)


def test_absurd_array_length(tmp_path: Path) -> None:
    w = GGUFWriter({"general.architecture": "llama", "x": Typed(ARRAY, [1, 2, 3], UINT32)})
    raw = bytearray(w.to_bytes())
    pos = raw.index(struct.pack("<IQ", UINT32, 3))
    raw[pos + 4 : pos + 12] = struct.pack("<Q", 2**60)
    p = tmp_path / "a.gguf"
    p.write_bytes(bytes(raw))
    with pytest.raises(ModelError) as e:
        read_gguf_info(p)
    assert "claims" in _one_line(e) and "items" in str(e.value)


def test_absurd_string_length(tmp_path: Path) -> None:
    w = GGUFWriter({"general.architecture": "llama", "general.name": "abc"})
    raw = bytearray(w.to_bytes())
    pos = raw.index(struct.pack("<Q", 3) + b"abc")
    raw[pos : pos + 8] = struct.pack("<Q", 2**63)
    p = tmp_path / "s.gguf"
    p.write_bytes(bytes(raw))
    with pytest.raises(ModelError) as e:
        read_gguf_info(p)
    assert "claims" in _one_line(e)


@pytest.mark.parametrize("where", ["key", "value"])
def test_non_utf8_is_read_not_refused(tmp_path: Path, where: str) -> None:
    """llama.cpp does not check UTF-8 in keys or strings; neither does Baton: the bytes show as U+FFFD."""
    md = {"general.architecture": "llama"}
    md.update({b"bad\xff\xfekey": "x"} if where == "key" else {"general.name": Typed(STRING, b"\xff\xfe\xfd")})  # type: ignore[dict-item]
    info = read_gguf_info(_write(tmp_path, GGUFWriter(md)))  # type: ignore[arg-type]
    assert info.arch == "llama"
    if where == "key":
        assert info.metadata["bad\ufffd\ufffdkey"] == "x"
    else:
        assert info.name == "\ufffd\ufffd\ufffd"


def test_too_many_dims(tmp_path: Path) -> None:
    w = GGUFWriter({"general.architecture": "llama"}, [Tensor("t", (1, 1, 1, 1, 1), 0)])
    with pytest.raises(ModelError) as e:
        read_gguf_info(_write(tmp_path, w))
    assert "dimensions" in _one_line(e)


def test_random_corruption_never_escapes_as_another_error(tmp_path: Path) -> None:
    base = llama_like(n_vocab=16).to_bytes()
    header_len = len(llama_like(n_vocab=16).header())
    rng = random.Random(1234)
    p = tmp_path / "c.gguf"
    errors = 0
    for _ in range(300):
        raw = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(4, header_len)] = rng.randrange(256)
        p.write_bytes(bytes(raw))
        try:
            read_gguf_info(p)
        except ModelError as e:
            assert "\n" not in str(e)
            errors += 1
    assert errors > 0  # flips in lengths and types are caught


# ---- the real default model -------------------------------------------------------------------


def test_default_model(default_model_path: Path) -> None:
    info = read_gguf_info(default_model_path)
    assert info.arch == "llama"
    assert info.quant == "Q4_1"
    assert info.size_bytes == 98_362_432
    assert info.context_length == 8192 and info.n_layers == 30
    assert (info.n_embd, info.n_head, info.n_head_kv) == (576, 9, 3)
    assert info.vocab_size == 49152
    assert info.has_chat_template and "im_start" in info.chat_template
    assert 130_000_000 < (info.params or 0) < 140_000_000
    assert info.size_label == "135M"
    assert info.kv_bytes_per_token == 30 * 3 * 64 * 2 * 2
    assert info.tensor_data_bytes is not None and info.tensor_data_bytes < info.size_bytes


def test_default_model_reads_only_the_header(default_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read_total = [0]
    real_open = open

    class Counting:
        def __init__(self, f: object) -> None:
            self.f = f

        def read(self, n: int = -1) -> bytes:
            data = self.f.read(n)  # type: ignore[attr-defined]
            read_total[0] += len(data)
            return data

        def __getattr__(self, name: str) -> object:
            return getattr(self.f, name)

        def __enter__(self) -> "Counting":
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()  # type: ignore[attr-defined]

    monkeypatch.setattr(gguf, "open", lambda p, mode="r": Counting(real_open(p, mode)), raising=False)
    info = read_gguf_info(default_model_path)
    assert info.n_layers == 30
    assert 0 < read_total[0] < 4 << 20  # a few MB of header out of 98 MB


# ---- metadata this reader cannot size or that the spec frowns on: unknown, never corrupt --------


def test_an_unknown_value_type_leaves_the_rest_unknown(tmp_path: Path) -> None:
    w = llama_like(context_length=4096)
    w.metadata["zz.future"] = Typed(99, bytes(16))
    w.metadata["llama.rope.freq_base"] = 10000.0  # after the unknown value: not reachable
    info = read_gguf_info(_write(tmp_path, w))
    assert (info.arch, info.context_length, info.n_layers) == ("llama", 4096, 2)
    assert "zz.future" in info.unread and "value type 99" in info.unread
    assert info.tensors == [] and "llama.rope.freq_base" not in info.metadata


@pytest.mark.parametrize("key", ["x" * 70_000, "", "ключ.🙂", "a key with spaces", "general.name.extra.deep"])
def test_odd_keys_are_read(tmp_path: Path, key: str) -> None:
    w = llama_like(context_length=2048)
    w.metadata[key] = 7
    info = read_gguf_info(_write(tmp_path, w))
    assert info.context_length == 2048 and info.unread == "" and len(info.tensors) == len(w.tensors)
    if len(key) < 65_536:
        assert info.metadata[key] == 7


def test_a_huge_array_is_skipped_by_length(tmp_path: Path) -> None:
    w = llama_like()
    w.metadata["my.big"] = Typed(ARRAY, [1] * 3_000_000, UINT16)
    w.metadata["my.nested"] = Typed(ARRAY, [[1, 2], [3, 4, 5]], ARRAY)
    info = read_gguf_info(_write(tmp_path, w))
    assert info.arch == "llama" and "my.big" not in info.metadata and info.unread == ""


def test_printable_names() -> None:
    import os

    assert printable(os.fsdecode(b"mod\xe8le.gguf")) == "mod\ufffdle.gguf"
    assert printable(Path("caf\u00e9.gguf")) == "caf\u00e9.gguf"
