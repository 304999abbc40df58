"""Read a GGUF file's header (metadata and tensor infos) without touching its weights.

The reader walks the header with bounded reads from a small sliding buffer: big arrays (tokenizer
tokens, scores, merges) are skipped by their lengths, never materialised, and every length read from
the file is checked against what the file can hold before anything is allocated or read. On the
98 MB default model this takes a few milliseconds; the ``gguf`` package's reader maps every tensor
and took seconds.

Whatever llama.cpp accepts, this reader must not call corrupt: big-endian files are read (and marked
``byte_order="big"``), keys and strings that are not UTF-8 are read with replacement characters, keys
longer than the spec's 64 KiB are skipped, and a value type this reader does not know stops the reading
there: what follows is shown as unknown (``unread`` says why), never as corruption.

Format (GGUF v2/v3, either byte order): magic ``GGUF``, u32 version, u64 tensor count, u64 key/value
count, the key/values, the tensor infos (name, n_dims, dims, ggml type, offset), padding to
``general.alignment``, then the tensor data.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from baton.core.engine.names import parse_size_label, printable
from baton.core.errors import ModelError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
HEADER_BYTES = 24  # magic + version + tensor count + kv count
CHUNK_BYTES = 1 << 20
MAX_KEY_BYTES = 1 << 16  # the spec caps keys at 65535 bytes
MAX_KEPT_STRING_BYTES = 4 << 20  # longer string values are skipped, not read
MAX_KEPT_ARRAY_LEN = 256  # numeric arrays up to this length are kept (per-layer head counts)
MAX_ARRAY_DEPTH = 4
MAX_DIMS = 4  # GGML_MAX_DIMS

# GGUF value types: id -> (struct format or None, byte size)
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4),
    6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8),
}
_T_STRING, _T_ARRAY = 8, 9
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

# ggml tensor types: id -> (name, elements per block, bytes per block)
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
}

# llama.cpp's llama_ftype (general.file_type) -> the name people use for the quantization
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 4: "Q4_1_SOME_F16", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS",
    24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS",
    31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
}
_FTYPE_GUESSED = 1024

KV_CACHE_ELEMENT_BYTES = 2  # f16 K and V, llama.cpp's default cache type


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a GGUF file: ``name``, ``dims`` (elements per dimension), the ggml ``type_id`` and its
    ``offset`` in the data section (Units: bytes)."""

    name: str
    dims: tuple[int, ...]
    type_id: int
    offset: int

    @property
    def n_elements(self) -> int:
        """The number of elements (the product of ``dims``)."""
        n = 1
        for d in self.dims:
            n *= d
        return n

    @property
    def type_name(self) -> str:
        """The ggml type's name (``q4_K``, ``f16``...), or ``type<N>`` for an unknown id."""
        return GGML_TYPES.get(self.type_id, (f"type{self.type_id}", 1, 0))[0]

    @property
    def size_bytes(self) -> int | None:
        """Bytes the tensor takes in the file (whole blocks of its type; Units: bytes), or ``None`` for an unknown
        type."""
        t = GGML_TYPES.get(self.type_id)
        if t is None:
            return None
        _, block, nbytes = t
        return -(-self.n_elements // block) * nbytes


@dataclass
class GGUFInfo:
    """What Baton reads from a GGUF header without loading the weights: file facts (``size_bytes``: Units: bytes,
    ``version``), the model's ``arch``, ``name``, ``params``, ``quant``, trained ``context_length`` (tokens), the
    shape numbers the fit planner needs, the chat template, ``kv_bytes_per_token`` (Units: bytes per token of
    context), counts, and the bytes of the repeating blocks and of the embeddings."""

    path: Path
    size_bytes: int
    version: int
    arch: str
    name: str
    params: int | None
    size_label: str
    quant: str
    file_type: int | None
    context_length: int
    n_layers: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    vocab_size: int
    has_chat_template: bool
    chat_template: str
    kv_bytes_per_token: int
    tensor_count: int
    kv_count: int
    tensor_data_bytes: int | None
    block_bytes: int = 0  # weights of the repeating blocks (blk.*), what GPU offload moves per layer
    embd_bytes: int = 0  # token embeddings, which llama.cpp keeps on the CPU
    expert_count: int = 0
    split_no: int = 0
    split_count: int = 1
    params_source: str = ""  # "tensors" (counted), "metadata" (general.parameter_count) or "label"
    byte_order: str = "little"  # "little" | "big" (llama.cpp on x86/ARM reads only little-endian files)
    data_offset: int = 0  # where the tensor data starts (0 when the header was not read to its end)
    unread: str = ""  # why part of the header was not read ("" when all of it was)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    tensors: list[TensorInfo] = field(default_factory=list, repr=False)

    def kv_cache_bytes(self, n_ctx: int) -> int:
        """K and V cache (f16) for ``n_ctx`` tokens."""
        return self.kv_bytes_per_token * max(0, n_ctx)

    def to_dict(self) -> dict[str, Any]:
        """Every scalar field, JSON-ready (no tensor list, metadata or template text)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_SCALAR}
        d["path"] = str(self.path)
        return d


_NOT_SCALAR = ("metadata", "tensors", "chat_template")


class _Truncated(Exception):
    """The file ends inside its header."""


class _Bad(Exception):
    """The header is malformed; the message says how."""


class _Unreadable(Exception):
    """A value this reader cannot size (an unknown type): the rest of the header is unknown, not corrupt."""


class _Cursor:
    """Bounded sequential reads over a file through a sliding buffer, in the file's byte order."""

    def __init__(self, f: Any, size: int) -> None:
        self.f, self.size = f, size
        self.order = "<"
        self.u32_st, self.u64_st = _U32, _U64
        self.buf = b""
        self.base = 0  # file offset of buf[0]
        self.pos = 0  # offset inside buf

    def tell(self) -> int:
        return self.base + self.pos

    def remaining(self) -> int:
        return self.size - self.tell()

    def _fill(self, n: int) -> None:
        if self.pos + n <= len(self.buf):
            return
        start = self.tell()
        if start + n > self.size:
            raise _Truncated
        self.f.seek(start)
        self.buf = self.f.read(max(n, CHUNK_BYTES))
        self.base, self.pos = start, 0
        if len(self.buf) < n:
            raise _Truncated

    def take(self, n: int) -> bytes:
        self._fill(n)
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, st: struct.Struct) -> Any:
        self._fill(st.size)
        (v,) = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return v

    def big_endian(self) -> None:
        self.order = ">"
        self.u32_st, self.u64_st = struct.Struct(">I"), struct.Struct(">Q")

    def u32(self) -> int:
        return self.unpack(self.u32_st)

    def u64(self) -> int:
        return self.unpack(self.u64_st)

    def skip(self, n: int) -> None:
        if n > self.remaining():
            raise _Truncated
        if self.pos + n <= len(self.buf):
            self.pos += n
        else:
            self.base, self.buf, self.pos = self.tell() + n, b"", 0

    def string(self, what: str, limit: int) -> str | None:
        """A GGUF string; None (skipped) when longer than ``limit``. Raises on absurd or bad bytes."""
        n = self.u64()
        if n > self.remaining():
            raise _Bad(f"{what} claims {n} bytes but only {self.remaining()} remain")
        if n > limit:
            self.skip(n)
            return None
        return self.take(n).decode("utf-8", "replace")  # llama.cpp does not check UTF-8 either

    def skip_strings(self, count: int) -> None:
        """Skip ``count`` length-prefixed strings without decoding them (the tokenizer's vocabulary).

        The hot loop lets ``unpack_from`` fail at the buffer's end instead of testing bounds on
        every item: half the time of a checked loop on Qwen's 150k-token vocabulary.
        """
        left = count
        unpack = self.u64_st.unpack_from
        while left:
            self._fill(8)
            buf, pos, done = self.buf, self.pos, 0
            try:
                for done in range(left):  # noqa: B007 - `done` is read after the loop
                    pos += 8 + unpack(buf, pos)[0]
                done = left
            except (struct.error, OverflowError):
                pass  # item `done` starts at `pos`, beyond what this buffer holds
            left -= done
            end = self.base + pos
            if end > self.size:
                raise _Truncated
            if pos <= len(buf) - 8:
                self.pos = pos
            else:
                self.base, self.buf, self.pos = end, b"", 0


def _min_bytes(vtype: int) -> int:
    if vtype in _SCALARS:
        return _SCALARS[vtype][1]
    if vtype in (_T_STRING, _T_ARRAY):
        return 8 if vtype == _T_STRING else 12
    raise _Unreadable(f"value type {vtype}")


def _read_value(cur: _Cursor, vtype: int, key: str, depth: int = 0) -> Any:
    if vtype in _SCALARS:
        fmt, size = _SCALARS[vtype]
        return struct.unpack(cur.order + fmt[1], cur.take(size))[0]
    if vtype == _T_STRING:
        return cur.string(f"value of {key}", MAX_KEPT_STRING_BYTES)
    if vtype != _T_ARRAY:
        raise _Unreadable(f"{key} has value type {vtype}, which this reader does not know")
    if depth >= MAX_ARRAY_DEPTH:
        raise _Bad(f"{key} nests arrays deeper than {MAX_ARRAY_DEPTH}")
    etype = cur.u32()
    n = cur.u64()
    if n * _min_bytes(etype) > cur.remaining():
        raise _Bad(f"array {key} claims {n} items, more than the file can hold")
    if etype in _SCALARS:
        fmt, size = _SCALARS[etype]
        if n <= MAX_KEPT_ARRAY_LEN:
            return list(struct.unpack(f"{cur.order}{n}{fmt[1]}", cur.take(n * size)))
        cur.skip(n * size)
        return _Skipped(n)
    if etype == _T_STRING:
        cur.skip_strings(n)
        return _Skipped(n)
    for _ in range(n):
        _read_value(cur, etype, key, depth + 1)
    return _Skipped(n)


@dataclass(frozen=True)
class _Skipped:
    """An array that was walked but not kept; only its length is known."""

    length: int


def read_gguf_info(path: str | os.PathLike[str], read_tensors: bool = True) -> GGUFInfo:
    """Metadata of a GGUF model from its header only. Raises ``ModelError`` with the fix."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file not found: {printable(path)}; check the path or run `baton models` to list models")
    if path.is_dir():
        raise ModelError(f"{printable(path)} is a directory, not a model file; point to a .gguf file inside it")
    try:
        with open(path, "rb") as f:
            return _parse(path, f, os.fstat(f.fileno()).st_size, read_tensors)
    except _Truncated:
        raise ModelError(f"{printable(path)} is truncated (the file ends inside its header); re-download it") from None
    except _Bad as e:
        raise ModelError(f"{printable(path)} has a corrupt GGUF header ({e}); re-download it or pick another file") from None
    except PermissionError:
        raise ModelError(f"cannot read {printable(path)}: permission denied; fix its permissions") from None
    except OSError as e:
        raise ModelError(f"cannot read {printable(path)} ({e.strerror or e}); check the disk and the path") from None


def _parse(path: Path, f: Any, size: int, read_tensors: bool) -> GGUFInfo:
    cur = _Cursor(f, size)
    if size < 4:
        raise ModelError(f"{printable(path)} is not a GGUF model (only {size} bytes); pick a .gguf file")
    magic = cur.take(4)
    if magic != GGUF_MAGIC:
        raise ModelError(
            f"{printable(path)} is not a GGUF model (it starts with {magic!r}, not b'GGUF'); "
            "pick a .gguf file, or convert the model with llama.cpp's convert_hf_to_gguf.py"
        )
    if size < HEADER_BYTES:
        raise _Truncated
    version = cur.u32()
    if version > 0xFFFF and struct.unpack(">I", struct.pack("<I", version))[0] in SUPPORTED_VERSIONS:
        cur.big_endian()
        version = struct.unpack(">I", struct.pack("<I", version))[0]
    if version not in SUPPORTED_VERSIONS:
        hint = "GGUF v1 files are no longer read by llama.cpp; convert it again with a current conversion" \
            if version == 1 else "a newer format than this Baton knows; update Baton, llama-cpp-python, or use a current conversion"
        raise ModelError(f"{printable(path)} is GGUF version {version}; {hint}")
    tensor_count, kv_count = cur.u64(), cur.u64()
    if kv_count * 13 > cur.remaining():  # key len (8) + >=1 key byte + type (4) + >=0 value
        raise _Bad(f"it claims {kv_count} metadata keys, more than its {size} bytes can hold; truncated?")
    if tensor_count * 24 > cur.remaining():  # name len + n_dims + type + offset, at least
        raise _Bad(f"it claims {tensor_count} tensors, more than its {size} bytes can hold; truncated?")

    meta: dict[str, Any] = {}
    unread = ""
    for i in range(kv_count):
        key = cur.string(f"key #{i}", MAX_KEY_BYTES)
        vtype = cur.u32()
        try:
            value = _read_value(cur, vtype, key or f"key #{i}")
        except _Unreadable as e:
            unread = f"metadata from key {key or i!r} on is unknown ({e})"
            break
        if key is not None:  # a key longer than the spec allows is skipped, not fatal
            meta[key] = value

    tensors: list[TensorInfo] = []
    data_offset = 0
    if read_tensors and not unread:
        for i in range(tensor_count):
            name = cur.string(f"tensor #{i} name", MAX_KEY_BYTES)
            if name is None:
                raise _Bad(f"tensor #{i} has a name longer than {MAX_KEY_BYTES} bytes")
            n_dims = cur.u32()
            if not 0 < n_dims <= MAX_DIMS:
                raise _Bad(f"tensor {name} has {n_dims} dimensions (at most {MAX_DIMS})")
            dims = tuple(struct.unpack(f"{cur.order}{n_dims}Q", cur.take(8 * n_dims)))
            type_id, offset = cur.u32(), cur.u64()
            t = TensorInfo(name, dims, type_id, offset)
            nbytes = t.size_bytes
            if offset > size or (nbytes is not None and nbytes > size):
                raise _Bad(f"tensor {name} claims {nbytes} bytes at offset {offset} in a {size}-byte file")
            tensors.append(t)
        align = meta.get("general.alignment")
        align = align if isinstance(align, int) and not isinstance(align, bool) and align > 0 else 32
        data_offset = cur.tell() + (-cur.tell() % align)
    info = _build_info(path, size, version, tensor_count, kv_count, meta, tensors)
    info.byte_order = "big" if cur.order == ">" else "little"
    info.data_offset, info.unread = data_offset, unread
    return info


def _int(v: Any, default: int = 0) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v):
        return int(max(v))  # per-layer values: the largest one
    return default


def _per_layer_sum(v: Any, n_layers: int) -> int:
    if isinstance(v, list) and v:
        return int(sum(v))
    return _int(v) * n_layers


def _build_info(
    path: Path, size: int, version: int, tensor_count: int, kv_count: int,
    meta: dict[str, Any], tensors: list[TensorInfo],
) -> GGUFInfo:
    arch = meta.get("general.architecture")
    arch = arch if isinstance(arch, str) else ""

    def a(key: str) -> Any:
        return meta.get(f"{arch}.{key}")

    n_layers = _int(a("block_count"))
    n_embd = _int(a("embedding_length"))
    n_ff = _int(a("feed_forward_length"))
    n_head = _int(a("attention.head_count"))
    head_kv_raw = a("attention.head_count_kv")
    n_head_kv = _int(head_kv_raw, n_head) if head_kv_raw is not None else n_head
    base_dim = n_embd // n_head if n_head else 0
    head_dim_k = _int(a("attention.key_length"), base_dim) or base_dim
    head_dim_v = _int(a("attention.value_length"), base_dim) or base_dim
    kv_heads_total = _per_layer_sum(head_kv_raw if head_kv_raw is not None else n_head, n_layers)
    kv_per_token = kv_heads_total * (head_dim_k + head_dim_v) * KV_CACHE_ELEMENT_BYTES

    tokens = meta.get("tokenizer.ggml.tokens")
    vocab = tokens.length if isinstance(tokens, _Skipped) else len(tokens) if isinstance(tokens, list) else 0
    vocab = vocab or _int(a("vocab_size"))

    template = meta.get("tokenizer.chat_template")
    template = template if isinstance(template, str) else ""

    data_bytes: int | None = None
    params: int | None = None
    type_bytes: Counter[str] = Counter()
    block_bytes = embd_bytes = 0
    if tensors:
        sizes = [t.size_bytes for t in tensors]
        data_bytes = None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)
        params = sum(t.n_elements for t in tensors)
        for t in tensors:
            if len(t.dims) >= 2:
                type_bytes[t.type_name] += t.size_bytes or 0
            if t.name.startswith("blk."):
                block_bytes += t.size_bytes or 0
            elif t.name == "token_embd.weight":
                embd_bytes += t.size_bytes or 0
    params_source = "tensors" if params is not None else ""
    declared = _int(meta.get("general.parameter_count"))
    if declared > 0 and (params is None or _int(meta.get("split.count")) > 1):
        params, params_source = declared, "metadata"  # a shard only holds part of the tensors
    size_label = meta.get("general.size_label")
    size_label = size_label if isinstance(size_label, str) else ""
    if params is None and size_label:
        params = parse_size_label(size_label)
        params_source = "label" if params else ""

    ftype_raw = meta.get("general.file_type")
    file_type = _int(ftype_raw) & ~_FTYPE_GUESSED if isinstance(ftype_raw, int) else None
    quant = FILE_TYPES.get(file_type, "") if file_type is not None else ""
    if not quant and type_bytes:
        quant = type_bytes.most_common(1)[0][0]

    name = meta.get("general.name")
    name = name if isinstance(name, str) and name.strip() else printable(path.stem)
    kept = {k: v for k, v in meta.items() if not isinstance(v, (_Skipped, list)) and k != "tokenizer.chat_template"}
    return GGUFInfo(
        path=path, size_bytes=size, version=version, arch=arch, name=name, params=params,
        size_label=size_label, quant=quant or "unknown", file_type=file_type,
        context_length=_int(a("context_length")), n_layers=n_layers, n_embd=n_embd, n_ff=n_ff, n_head=n_head,
        n_head_kv=n_head_kv, head_dim_k=head_dim_k, head_dim_v=head_dim_v, vocab_size=vocab,
        has_chat_template=bool(template.strip()), chat_template=template,
        kv_bytes_per_token=kv_per_token, tensor_count=tensor_count, kv_count=kv_count,
        tensor_data_bytes=data_bytes, block_bytes=block_bytes, embd_bytes=embd_bytes,
        expert_count=_int(a("expert_count")),
        split_no=_int(meta.get("split.no")), split_count=max(1, _int(meta.get("split.count"), 1)),
        params_source=params_source, metadata=kept, tensors=tensors,
    )
