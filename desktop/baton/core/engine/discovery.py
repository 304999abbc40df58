"""Find every GGUF Baton can use, by reference: nothing is copied or moved.

Origins: Baton's own models dir, the packaged default model, Ollama (manifests resolved to blobs,
named as Ollama names them), LM Studio, GPT4All, Jan, the Hugging Face hub cache (snapshot links into
blobs) and folders the user adds (``settings.model_dirs``). The same file found twice (a link, a
hard link) is listed once, under the origin with the nicer name. Headers are read once and cached
in ``paths.cache_dir`` keyed by path, size and mtime, so a rescan only stats files. A broken file
becomes a note, never a failed listing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from baton.core.engine.fit import FitPlan, GpuInfo, detect_gpu, free_ram, plan_fit
from baton.core.engine.gguf import GGUFInfo, read_gguf_info
from baton.core.engine.names import printable
from baton.core.errors import ModelError

ORIGINS = ("package", "baton", "ollama", "lmstudio", "gpt4all", "jan", "hf-cache", "folder")
# When one file is found under several origins, the first here names it.
_PREFERENCE = ("ollama", "hf-cache", "lmstudio", "gpt4all", "jan", "baton", "folder", "package")
CACHE_FILE = "gguf-headers.json"
CACHE_VERSION = 2  # 2: headers the reader once refused (odd keys, big-endian) are read again
MAX_DEPTH = 6
_SPLIT = re.compile(r"^(?P<base>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
_NOT_CHAT_ARCHS = {"clip": "a vision projector (mmproj), used beside a chat model"}


@dataclass
class ModelEntry:
    """One model file found on this computer: a stable ``id``, ``path`` and ``origin`` (the app or folder it was
    found in), header facts (``name``, ``arch``, ``params``, ``quant``, ``size_bytes``: Units: bytes,
    ``context_length``: tokens, whether it has a ``chat_template``), the fit plan, the number of ``shards`` and
    the other places the same file was seen (``also_at``)."""

    id: str
    path: str
    origin: str
    name: str
    arch: str
    params: int | None
    quant: str
    size_bytes: int
    context_length: int
    chat_template: bool
    fit: FitPlan | None = None
    shards: int = 1
    also_at: list[dict[str, str]] = field(default_factory=list)
    info: GGUFInfo | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The CONTRACT ``baton models --json`` item."""
        fit = self.fit
        return {
            "id": self.id, "path": printable(self.path), "origin": self.origin, "name": self.name, "arch": self.arch,
            "params": self.params, "quant": self.quant, "size_bytes": self.size_bytes,
            "context_length": self.context_length, "chat_template": self.chat_template,
            "fit": None if fit is None else {
                "device": fit.device, "n_gpu_layers": fit.n_gpu_layers, "ram_bytes": fit.ram_bytes,
                "vram_bytes": fit.vram_bytes, "reason": fit.reason,
            },
            "shards": self.shards, "also_at": list(self.also_at),
        }


@dataclass(frozen=True)
class SkippedFile:
    """A file that looked like a model but was not listed, with its ``origin`` and the one-line ``reason``."""

    path: str
    origin: str
    reason: str


@dataclass
class ScanResult:
    """What a scan found: the usable ``models`` and the ``skipped`` files."""

    models: list[ModelEntry]
    skipped: list[SkippedFile]


@dataclass
class _Candidate:
    path: Path
    origin: str
    name: str
    id: str = ""  # a fixed id (the default model's); otherwise made from the name


# ---- where each app keeps its models --------------------------------------------------------


def _walk_gguf(root: Path, max_depth: int = MAX_DEPTH) -> list[Path]:
    """``*.gguf`` files under ``root`` (links to files included, hidden folders and loops skipped)."""
    out: list[Path] = []
    if not root.is_dir():
        return out
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, onerror=lambda _e: None):
        here = Path(dirpath)
        if len(here.parts) - base_depth >= max_depth:
            dirnames[:] = []
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [here / f for f in sorted(filenames) if f.lower().endswith(".gguf") and not f.startswith(".")]
    return out


def _files(roots: list[Path], origin: str) -> list[_Candidate]:
    return [_Candidate(p, origin, printable(p.stem)) for root in roots for p in _walk_gguf(root)]


def _ollama_roots(home: Path, env: dict[str, str], system: bool) -> list[Path]:
    if env.get("OLLAMA_MODELS"):
        return [Path(env["OLLAMA_MODELS"]).expanduser()]
    roots = [home / ".ollama" / "models"]
    if system:  # the Linux service's store
        roots += [Path("/usr/share/ollama/.ollama/models"), Path("/var/lib/ollama/.ollama/models")]
    return roots


def _ollama(roots: list[Path], skipped: list[SkippedFile]) -> list[_Candidate]:
    out: list[_Candidate] = []
    for root in roots:
        manifests = root / "manifests"
        if not manifests.is_dir():
            continue
        for manifest in _walk_all(manifests):
            rel = manifest.relative_to(manifests).parts
            if len(rel) != 4:
                continue
            host, namespace, model, tag = rel
            if host == "registry.ollama.ai":
                name = f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
            else:
                name = f"{host}/{namespace}/{model}:{tag}"
            try:
                layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
                digests = [ly["digest"] for ly in layers if ly.get("mediaType") == "application/vnd.ollama.image.model"]
            except (OSError, ValueError, AttributeError, KeyError, TypeError):
                skipped.append(SkippedFile(printable(manifest), "ollama", f"unreadable Ollama manifest for {name}"))
                continue
            for digest in digests[:1]:
                blob = root / "blobs" / str(digest).replace(":", "-")
                if not blob.is_file():
                    skipped.append(SkippedFile(printable(blob), "ollama", f"{name}: its blob is missing; `ollama pull` it"))
                    continue
                out.append(_Candidate(blob, "ollama", name))
    return out


def _walk_all(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(root, onerror=lambda _e: None) for f in sorted(files)]


def _hf_roots(home: Path, env: dict[str, str]) -> list[Path]:
    if env.get("HF_HUB_CACHE"):
        return [Path(env["HF_HUB_CACHE"]).expanduser()]
    if env.get("HF_HOME"):
        return [Path(env["HF_HOME"]).expanduser() / "hub"]
    return [home / ".cache" / "huggingface" / "hub"]


def _hf_cache(roots: list[Path]) -> list[_Candidate]:
    out: list[_Candidate] = []
    for root in roots:
        if not root.is_dir():
            continue
        for repo in sorted(root.glob("models--*")):
            repo_name = repo.name[len("models--"):].replace("--", "/")
            for snapshot in sorted((repo / "snapshots").glob("*")):
                for p in _walk_gguf(snapshot):
                    out.append(_Candidate(p, "hf-cache", printable(f"{repo_name}/{p.stem}")))
    return out


def candidates(
    paths: Any, settings: Any, home: Path | None = None, env: dict[str, str] | None = None,
    skipped: list[SkippedFile] | None = None,
) -> list[_Candidate]:
    """Every GGUF path each origin offers, before reading or deduplicating."""
    system = home is None
    home = Path.home() if home is None else Path(home)
    env = dict(os.environ) if env is None else env
    skipped = [] if skipped is None else skipped
    out: list[_Candidate] = []
    try:
        from baton.core.engine.defaults import DEFAULT_MODEL, default_model_path

        path = default_model_path(paths.cache_dir, verify=False)
        out.append(_Candidate(path, "package", path.stem, DEFAULT_MODEL.id))
    except ModelError as e:
        skipped.append(SkippedFile("", "package", str(e)))
    out += _files([Path(paths.models_dir)], "baton")
    out += _ollama(_ollama_roots(home, env, system), skipped)
    out += _files([home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"], "lmstudio")
    # Linux, macOS and Windows locations (the ones that do not exist cost one stat each)
    mac = home / "Library" / "Application Support"
    local, roaming = home / "AppData" / "Local", home / "AppData" / "Roaming"
    out += _files([home / ".local" / "share" / "nomic.ai" / "GPT4All", mac / "nomic.ai" / "GPT4All",
                   local / "nomic.ai" / "GPT4All"], "gpt4all")
    jan_data = [home / ".local" / "share" / "Jan" / "data", mac / "Jan" / "data", roaming / "Jan" / "data"]
    out += _files([home / "jan" / "models"] + [d / sub for d in jan_data for sub in ("models", "llamacpp/models")],
                  "jan")
    out += _hf_cache(_hf_roots(home, env))
    out += _files([Path(d).expanduser() for d in getattr(settings, "model_dirs", []) or []], "folder")
    return out


# ---- the header cache ---------------------------------------------------------------------------

class HeaderCache:
    """Header results keyed by resolved path + size + mtime, stored as JSON in the cache dir."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.file = Path(cache_dir) / CACHE_FILE if cache_dir else None
        self.old: dict[str, Any] = {}
        self.new: dict[str, Any] = {}
        self.reads = 0
        if self.file and self.file.is_file():
            try:
                raw = json.loads(self.file.read_text(encoding="utf-8"))
                if raw.get("version") == CACHE_VERSION:
                    self.old = raw.get("entries", {})
            except (OSError, ValueError, AttributeError):
                self.old = {}

    def info(self, path: Path, st: os.stat_result) -> GGUFInfo:
        """The header of ``path`` (stat result ``st``), from the cache when its size and mtime are unchanged, else
        read and remembered. Raises ``ModelError`` for a file that is not a readable GGUF (that verdict is cached
        too)."""
        key = str(path)
        stamp = [st.st_size, st.st_mtime_ns]
        hit = self.old.get(key)
        if hit and hit.get("stamp") == stamp:
            self.new[key] = hit
            if "error" in hit:
                raise ModelError(hit["error"])
            return _info_from_json(hit["info"], path)
        self.reads += 1
        try:
            info = read_gguf_info(path)
        except ModelError as e:
            self.new[key] = {"stamp": stamp, "error": str(e)}
            raise
        self.new[key] = {"stamp": stamp, "info": info.to_dict()}
        return info

    def save(self) -> None:
        """Write the entries seen in this scan back to the cache file (atomically) when they changed; a cache that
        cannot be written is skipped silently (it only costs a rescan)."""
        if not self.file or self.new == self.old:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "entries": self.new}), encoding="utf-8")
            os.replace(tmp, self.file)
        except OSError:
            pass  # a cache that cannot be written only costs a rescan


def _info_from_json(d: dict[str, Any], path: Path) -> GGUFInfo:
    known = {f.name for f in fields(GGUFInfo)}
    kwargs = {k: v for k, v in d.items() if k in known}
    kwargs.update(path=path, chat_template="", metadata={}, tensors=[])
    return GGUFInfo(**kwargs)


# ---- the scan -----------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._:/-]+", "-", text.lower()).strip("-") or "model"


def _shards_of(c: _Candidate) -> list[Path] | None:
    """All parts of a split GGUF when ``c`` is its first part; [] for a later part; None if not split."""
    m = _SPLIT.match(c.path.name)
    if not m:
        return None
    if int(m["no"]) != 1:
        return []
    count = int(m["count"])
    return [c.path.with_name(f"{m['base']}-{i:05d}-of-{m['count']}.gguf") for i in range(1, count + 1)]


def scan_models(
    paths: Any, settings: Any, home: Path | None = None, env: dict[str, str] | None = None,
    gpu: GpuInfo | None | bool = None, free_ram_bytes: int | None = None, with_fit: bool = True,
) -> ScanResult:
    """Models and the files that were skipped (with why). ``gpu``: None = ask NVML, False = none."""
    skipped: list[SkippedFile] = []
    cache = HeaderCache(getattr(paths, "cache_dir", None))
    found: dict[tuple[int, int], tuple[_Candidate, GGUFInfo, int]] = {}
    aliases: dict[tuple[int, int], list[_Candidate]] = {}
    for c in candidates(paths, settings, home, env, skipped):
        shards = _shards_of(c)
        if shards == []:
            continue  # listed through its first part
        try:
            st = c.path.stat()
        except OSError:
            skipped.append(SkippedFile(printable(c.path), c.origin, "broken link or unreadable file"))
            continue
        key = (st.st_dev, st.st_ino)
        if key in found:
            aliases.setdefault(key, []).append(c)
            continue
        try:
            info = cache.info(c.path, st)
            total = st.st_size
            if shards:
                info, total = _join_shards(info, shards, cache)
        except ModelError as e:
            skipped.append(SkippedFile(printable(c.path), c.origin, str(e)))
            continue
        if info.arch in _NOT_CHAT_ARCHS:
            skipped.append(SkippedFile(printable(c.path), c.origin, _NOT_CHAT_ARCHS[info.arch]))
            continue
        found[key] = (c, info, total)
    cache.save()

    if with_fit:
        ram = free_ram() if free_ram_bytes is None else free_ram_bytes
        dev: GpuInfo | None | bool = detect_gpu() if gpu is None else gpu
    entries: list[ModelEntry] = []
    for key, (first, info, total) in found.items():
        group = [first, *aliases.get(key, [])]
        best = min(group, key=lambda c: _PREFERENCE.index(c.origin))
        entry = ModelEntry(
            id=best.id, path=str(best.path), origin=best.origin, name=best.name, arch=info.arch, params=info.params,
            quant=info.quant, size_bytes=total, context_length=info.context_length,
            chat_template=info.has_chat_template, shards=info.split_count,
            also_at=[{"origin": c.origin, "path": str(c.path)} for c in group if c is not best], info=info,
        )
        if with_fit:
            entry.fit = plan_fit(info, settings.engine.n_ctx, free_ram_bytes=ram, gpu=dev or False,
                                 parallel=getattr(settings.engine, "parallel", 1))
        entries.append(entry)
    entries.sort(key=lambda e: (ORIGINS.index(e.origin), e.name.lower()))
    _assign_ids(entries)
    return ScanResult(entries, skipped)


def _join_shards(first: GGUFInfo, shards: list[Path], cache: HeaderCache) -> tuple[GGUFInfo, int]:
    missing = [p.name for p in shards if not p.is_file()]
    if missing:
        raise ModelError(f"split model is missing {len(missing)} of {len(shards)} parts ({missing[0]}...); "
                         "download the missing parts")
    infos = [first] + [cache.info(p, p.stat()) for p in shards[1:]]
    total = sum(p.stat().st_size for p in shards)
    params = first.params
    if first.params_source == "tensors" and all(i.params_source == "tensors" for i in infos):
        params = sum(i.params or 0 for i in infos)
    joined = replace(
        first, size_bytes=total, params=params,
        tensor_data_bytes=sum(i.tensor_data_bytes or 0 for i in infos) or None,
        block_bytes=sum(i.block_bytes for i in infos), embd_bytes=sum(i.embd_bytes for i in infos),
        split_count=len(shards),
    )
    return joined, total


def _assign_ids(entries: list[ModelEntry]) -> None:
    seen: set[str] = set()
    for e in entries:
        base = e.id or (e.name if e.origin == "ollama" else _slug(Path(e.name).name))
        ident = base if base not in seen else f"{base}@{e.origin}"
        n = 2
        while ident in seen:
            ident, n = f"{base}@{e.origin}-{n}", n + 1
        seen.add(ident)
        e.id = ident


def discover_models(
    paths: Any, settings: Any, home: Path | None = None, env: dict[str, str] | None = None,
    gpu: GpuInfo | None | bool = None, free_ram_bytes: int | None = None, with_fit: bool = True,
) -> list[ModelEntry]:
    """Every usable GGUF (CONTRACT ``baton models``), deduplicated, with a fit plan each."""
    return scan_models(paths, settings, home, env, gpu, free_ram_bytes, with_fit).models

