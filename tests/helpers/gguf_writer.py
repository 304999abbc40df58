"""A small GGUF v3 writer for tests: real, valid files with chosen metadata and tensors.

Values are typed from Python (bool, int, float, str, list) or given explicitly with ``Typed``.
Corrupt files are made by passing header overrides or by editing the returned bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_FMT = {UINT8: "B", INT8: "b", UINT16: "H", INT16: "h", UINT32: "I", INT32: "i", FLOAT32: "f",
        BOOL: "?", UINT64: "Q", INT64: "q", FLOAT64: "d"}
# ggml type id -> (elements per block, bytes per block), for the few types tests use
_BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 8: (32, 34), 12: (256, 144), 14: (256, 210)}


@dataclass(frozen=True)
class Typed:
    type_id: int
    value: Any
    element_type: int | None = None  # for ARRAY


@dataclass
class Tensor:
    name: str
    dims: tuple[int, ...]
    type_id: int = 0  # F32

    @property
    def nbytes(self) -> int:
        block, size = _BLOCKS[self.type_id]
        n = 1
        for d in self.dims:
            n *= d
        return -(-n // block) * size


def _s(text: str | bytes, o: str = "<") -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack(o + "Q", len(raw)) + raw


def _infer(value: Any) -> int:
    if isinstance(value, Typed):
        return value.type_id
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT32 if value < 0 else UINT32 if value < 2**32 else UINT64
    if isinstance(value, float):
        return FLOAT32
    if isinstance(value, (str, bytes)):
        return STRING
    if isinstance(value, list):
        return ARRAY
    raise TypeError(f"cannot write {value!r}")


def _value(type_id: int, value: Any, element_type: int | None = None, o: str = "<") -> bytes:
    if isinstance(value, Typed):
        if value.type_id not in _FMT and value.type_id not in (STRING, ARRAY):
            return bytes(value.value)  # an unknown type: raw bytes as given
        return _value(value.type_id, value.value, value.element_type, o)
    if type_id == STRING:
        return _s(value, o)
    if type_id == ARRAY:
        et = element_type if element_type is not None else (_infer(value[0]) if value else UINT32)
        return struct.pack(o + "IQ", et, len(value)) + b"".join(_value(et, v, None, o) for v in value)
    return struct.pack(o + _FMT[type_id], value)


@dataclass
class GGUFWriter:
    metadata: dict[str, Any] = field(default_factory=dict)
    tensors: list[Tensor] = field(default_factory=list)
    version: int = 3
    magic: bytes = b"GGUF"
    tensor_count: int | None = None  # override the header's counts to make absurd files
    kv_count: int | None = None
    alignment: int = 32
    byte_order: str = "<"  # ">" writes a big-endian GGUF (as s390x builds use)

    def header(self) -> bytes:
        o = self.byte_order
        out = [self.magic, struct.pack(o + "I", self.version),
               struct.pack(o + "QQ", len(self.tensors) if self.tensor_count is None else self.tensor_count,
                           len(self.metadata) if self.kv_count is None else self.kv_count)]
        for key, value in self.metadata.items():
            t = _infer(value)
            raw_key = key if isinstance(key, bytes) else key.encode("utf-8")
            out.append(_s(raw_key, o) + struct.pack(o + "I", t) + _value(t, value, None, o))
        offset = 0
        for t in self.tensors:
            out.append(_s(t.name, o) + struct.pack(o + "I", len(t.dims)) + struct.pack(f"{o}{len(t.dims)}Q", *t.dims)
                       + struct.pack(o + "IQ", t.type_id, offset))
            offset += -(-t.nbytes // self.alignment) * self.alignment
        return b"".join(out)

    def to_bytes(self) -> bytes:
        head = self.header()
        pad = -len(head) % self.alignment
        body = []
        for t in self.tensors:
            body.append(bytes(t.nbytes) + bytes(-t.nbytes % self.alignment))
        return head + bytes(pad) + b"".join(body)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.to_bytes())
        return path


def llama_like(
    arch: str = "llama", n_layers: int = 2, n_embd: int = 64, n_head: int = 4, n_head_kv: int = 2,
    n_vocab: int = 32, context_length: int = 2048, file_type: int | None = 15,
    chat_template: str | None = "{% for m in messages %}{{ m.content }}{% endfor %}",
    name: str = "Tiny Test", extra: dict[str, Any] | None = None, ff: int = 128,
) -> GGUFWriter:
    """A small but complete llama-shaped GGUF (metadata, tokenizer arrays, tensors)."""
    md: dict[str, Any] = {
        "general.architecture": arch,
        "general.name": name,
        "general.alignment": Typed(UINT32, 32),
        f"{arch}.context_length": context_length,
        f"{arch}.embedding_length": n_embd,
        f"{arch}.block_count": n_layers,
        f"{arch}.feed_forward_length": ff,
        f"{arch}.attention.head_count": n_head,
        f"{arch}.attention.head_count_kv": n_head_kv,
        f"{arch}.attention.layer_norm_rms_epsilon": 1e-5,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": [f"tok{i}" for i in range(n_vocab)],
        "tokenizer.ggml.scores": Typed(ARRAY, [0.0] * n_vocab, FLOAT32),
        "tokenizer.ggml.token_type": Typed(ARRAY, [1] * n_vocab, INT32),
        "tokenizer.ggml.merges": [f"t o{i}" for i in range(n_vocab // 2)],
    }
    if file_type is not None:
        md["general.file_type"] = file_type
    if chat_template is not None:
        md["tokenizer.chat_template"] = chat_template
    md.update(extra or {})
    tensors = [Tensor("token_embd.weight", (n_embd, n_vocab), 1)]
    kv_dim = n_embd // n_head * n_head_kv
    for i in range(n_layers):
        tensors += [
            Tensor(f"blk.{i}.attn_norm.weight", (n_embd,), 0),
            Tensor(f"blk.{i}.attn_q.weight", (n_embd, n_embd), 8),
            Tensor(f"blk.{i}.attn_k.weight", (n_embd, kv_dim), 8),
            Tensor(f"blk.{i}.attn_v.weight", (n_embd, kv_dim), 8),
            Tensor(f"blk.{i}.attn_output.weight", (n_embd, n_embd), 8),
            Tensor(f"blk.{i}.ffn_norm.weight", (n_embd,), 0),
            Tensor(f"blk.{i}.ffn_up.weight", (n_embd, ff), 8),
            Tensor(f"blk.{i}.ffn_gate.weight", (n_embd, ff), 8),
            Tensor(f"blk.{i}.ffn_down.weight", (ff, n_embd), 8),
        ]
    tensors += [Tensor("output_norm.weight", (n_embd,), 0), Tensor("output.weight", (n_embd, n_vocab), 1)]
    return GGUFWriter(md, tensors)


# ---- copies of real models with metadata rewritten ----------------------------------------------

_SCALAR_SIZES = {UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, UINT32: 4, INT32: 4, FLOAT32: 4, BOOL: 1,
                 UINT64: 8, INT64: 8, FLOAT64: 8}


def _skip_value(buf: bytes, pos: int, type_id: int) -> int:
    if type_id in _SCALAR_SIZES:
        return pos + _SCALAR_SIZES[type_id]
    if type_id == STRING:
        (n,) = struct.unpack_from("<Q", buf, pos)
        return pos + 8 + n
    et, n = struct.unpack_from("<IQ", buf, pos)
    pos += 12
    if et in _SCALAR_SIZES:
        return pos + n * _SCALAR_SIZES[et]
    for _ in range(n):
        pos = _skip_value(buf, pos, et)
    return pos


def rewrite_metadata(src: Path, dst: Path, set_keys: dict[str, Any] | None = None,
                     drop_keys: tuple[str, ...] = (), rename_prefix: tuple[str, str] | None = None) -> Path:
    """Copy the real GGUF ``src`` to ``dst`` with metadata changed: ``set_keys`` replaced or added (typed as
    ``GGUFWriter`` types them), ``drop_keys`` removed, ``rename_prefix=(old, new)`` renames keys that start with
    ``old``. Tensor infos and tensor data are copied byte for byte (offsets are relative to the data start)."""
    set_keys = dict(set_keys or {})
    size = src.stat().st_size
    with open(src, "rb") as f:
        head = f.read(min(size, 64 << 20))
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", head, 0)
    assert magic == b"GGUF", "not a GGUF file"
    pos = 24
    kept: list[bytes] = []
    alignment = 32
    for _ in range(n_kv):
        start = pos
        (klen,) = struct.unpack_from("<Q", head, pos)
        key = head[pos + 8: pos + 8 + klen].decode("utf-8")
        pos += 8 + klen
        (vtype,) = struct.unpack_from("<I", head, pos)
        pos = _skip_value(head, pos + 4, vtype)
        if key == "general.alignment":
            (alignment,) = struct.unpack_from("<I", head, pos - 4)
        raw = head[start:pos]
        if rename_prefix and key.startswith(rename_prefix[0]):
            new_key = rename_prefix[1] + key[len(rename_prefix[0]):]
            raw = _s(new_key) + head[start + 8 + klen: pos]
            key = new_key
        if key in drop_keys or key in set_keys:
            continue
        kept.append(raw)
    tensor_start = pos
    for _ in range(n_tensors):
        (nlen,) = struct.unpack_from("<Q", head, pos)
        pos += 8 + nlen
        (n_dims,) = struct.unpack_from("<I", head, pos)
        pos += 4 + 8 * n_dims + 4 + 8
    tensor_infos = head[tensor_start:pos]
    data_start = pos + (-pos % alignment)
    for key, value in set_keys.items():
        t = _infer(value)
        kept.append(_s(key) + struct.pack("<I", t) + _value(t, value))
    new_head = struct.pack("<4sIQQ", magic, version, n_tensors, len(kept)) + b"".join(kept) + tensor_infos
    new_head += bytes(-len(new_head) % alignment)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fout.write(new_head)
        fin.seek(data_start)
        while block := fin.read(16 << 20):
            fout.write(block)
    return dst
