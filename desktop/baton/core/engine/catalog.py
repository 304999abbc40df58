"""The curated model catalog (``models/catalog.toml``) and what fits this machine.

One source of truth: ``models/catalog.toml`` at the repository root. The package reaches it as
``baton/data/catalog.toml``: a link to that file in a source checkout, a copy in a wheel or in the
PyInstaller bundle (``packaging/baton.spec`` puts it there). Where links are not supported (a
Windows checkout), the loader falls back to the repository file.
"""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from baton.core.engine.fit import FitPlan, GpuInfo, plan_fit
from baton.core.engine.gguf import KV_CACHE_ELEMENT_BYTES, GGUFInfo
from baton.core.errors import UsageError

PLAN_CTX = 4096  # the context the catalog's ram_bytes / vram_bytes are stated for
# Bits per weight of the token embeddings in a typical Q4_K_M file (Qwen2.5-Coder-0.5B: 5.5), which
# llama.cpp keeps on the CPU: the planner needs it for the RAM side of a GPU load.
_EMBD_BITS = 5.5


@dataclass(frozen=True)
class CatalogModel:
    """One curated model of ``models/catalog.toml``: where to download it (``url``, ``sha256``, ``size_bytes``:
    Units: bytes, the server's Content-Length decides unless the hash is set), ``quant``, ``license``, ``params``,
    its trained ``context_length`` (tokens), the planned ``ram_bytes``/``vram_bytes`` at ``PLAN_CTX`` tokens
    (Units: bytes), ``kind`` (``general`` or ``coding``) and the architecture numbers the fit planner needs."""

    id: str
    name: str
    url: str
    size_bytes: int  # approximate unless sha256 is set: the server's Content-Length is authoritative
    sha256: str
    quant: str
    license: str
    params: int
    context_length: int
    ram_bytes: int  # CPU only, PLAN_CTX tokens of context: weights + KV cache + buffers
    vram_bytes: int  # everything offloaded, PLAN_CTX tokens
    kind: str  # "general" | "coding"
    arch: str
    n_layers: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    vocab_size: int
    tied_embeddings: bool = False
    notes: str = ""

    @property
    def filename(self) -> str:
        """The file name at the end of ``url`` (query string dropped; "" without a url)."""
        return self.url.rsplit("/", 1)[-1].split("?")[0] if self.url else ""

    def as_info(self) -> GGUFInfo:
        """A GGUFInfo built from the catalog's numbers, so the same planner can judge the fit."""
        embd = int(self.vocab_size * self.n_embd * _EMBD_BITS / 8)
        blocks = max(self.size_bytes - embd * (1 if self.tied_embeddings else 2), self.size_bytes // 2)
        return GGUFInfo(
            path=Path(self.filename or self.id), size_bytes=self.size_bytes, version=3, arch=self.arch,
            name=self.name, params=self.params, size_label="", quant=self.quant, file_type=None,
            context_length=self.context_length, n_layers=self.n_layers, n_embd=self.n_embd, n_ff=self.n_ff,
            n_head=self.n_head, n_head_kv=self.n_head_kv, head_dim_k=self.head_dim, head_dim_v=self.head_dim,
            vocab_size=self.vocab_size, has_chat_template=True, chat_template="",
            kv_bytes_per_token=self.n_layers * self.n_head_kv * self.head_dim * 2 * KV_CACHE_ELEMENT_BYTES,
            tensor_count=0, kv_count=0, tensor_data_bytes=self.size_bytes, block_bytes=blocks, embd_bytes=embd,
        )

    def plan(self, n_ctx: int, free_ram_bytes: int | None = None, gpu: GpuInfo | None | bool = None) -> FitPlan:
        """The fit planner's plan for this model at ``n_ctx`` tokens of context, from the catalog's architecture
        numbers (no download needed); ``free_ram_bytes`` and ``gpu`` as ``plan_fit`` takes them."""
        return plan_fit(self.as_info(), n_ctx, free_ram_bytes=free_ram_bytes, gpu=gpu)

    def to_dict(self) -> dict[str, Any]:
        """Every field as a plain dict (the ``baton models catalog --json`` item)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def catalog_path() -> Path:
    """The catalog shipped with the package, or the repository's copy."""
    package_dir = Path(__file__).resolve().parents[2]  # .../baton
    bundled = package_dir / "data" / "catalog.toml"
    if bundled.is_file() and bundled.read_bytes()[:1] in (b"#", b"[", b"\n"):
        return bundled
    repo = package_dir.parents[1] / "models" / "catalog.toml"
    if repo.is_file():
        return repo
    raise UsageError("the model catalog is missing from this installation; reinstall Baton")


def load_catalog(path: Path | None = None) -> list[CatalogModel]:
    """The curated models listed in ``path`` (default: ``catalog_path()``). Raises ``UsageError`` when the file
    cannot be read or parsed, an entry lacks a required field, or two entries share an id."""
    path = path or catalog_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"the model catalog {path} cannot be read ({e}); reinstall Baton") from None
    known = {f.name for f in fields(CatalogModel)}
    out: list[CatalogModel] = []
    for item in raw.get("model", []):
        missing = {f.name for f in fields(CatalogModel) if f.default is MISSING} - set(item)
        if missing:
            raise UsageError(f"catalog entry {item.get('id', '?')} lacks {', '.join(sorted(missing))}")
        out.append(CatalogModel(**{k: v for k, v in item.items() if k in known}))
    ids = [m.id for m in out]
    if len(set(ids)) != len(ids):
        raise UsageError("the model catalog has duplicate ids; fix models/catalog.toml")
    return out


def find(catalog: list[CatalogModel], ident: str) -> CatalogModel:
    """The catalog model whose id is ``ident``. Raises ``UsageError`` naming up to three close ids (or pointing to
    ``baton models catalog``)."""
    for m in catalog:
        if m.id == ident:
            return m
    close = [m.id for m in catalog if ident.lower() in m.id]
    hint = f"did you mean {', '.join(close[:3])}?" if close else "see `baton models catalog`"
    raise UsageError(f"no catalog model '{ident}'; {hint}")
