"""Privacy gate: catch rate on fake secrets, false-positive rate on ordinary code and prose, and
findings per MB on real source code (this Python's own standard library, tests excluded).

    .venv/bin/python bench/bench_privacy.py [--json]
"""

from __future__ import annotations

import json
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from baton.core.router import privacy  # noqa: E402
from tests.helpers.privacy_corpus import NEGATIVE_CORPUS, secret_corpus  # noqa: E402


def main(argv: list[str]) -> int:
    secrets = secret_corpus()
    caught = 0
    for _, text, needle in secrets:
        i = text.index(needle)
        caught += any(f.start <= i and f.end >= i + len(needle) for f in privacy.scan(text))
    flagged = sum(bool(privacy.scan(t)) for t in NEGATIVE_CORPUS)

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in sorted(stdlib.rglob("*.py")) if not any("test" in part for part in p.parts) and "site-packages" not in p.parts]
    size_bytes = 0
    findings = 0
    t0 = time.perf_counter()
    for p in files:
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        size_bytes += len(text.encode())
        findings += len(privacy.scan(text))
    elapsed_s = time.perf_counter() - t0
    out = {
        "secret_shapes": len(secrets), "secrets_caught": caught, "catch_rate": caught / len(secrets),
        "ordinary_snippets": len(NEGATIVE_CORPUS), "ordinary_flagged": flagged,
        "false_positive_rate": flagged / len(NEGATIVE_CORPUS),
        "stdlib_files": len(files), "stdlib_mb": size_bytes / 1e6, "stdlib_findings": findings,
        "stdlib_findings_per_mb": findings / max(size_bytes / 1e6, 1e-9),
        "scan_mb_per_s": size_bytes / 1e6 / elapsed_s,
    }
    if "--json" in argv:
        print(json.dumps(out))
    else:
        print(f"catch rate   {caught}/{len(secrets)} = {out['catch_rate']:.1%}")
        print(f"false pos.   {flagged}/{len(NEGATIVE_CORPUS)} = {out['false_positive_rate']:.1%}")
        print(f"stdlib       {findings} findings in {out['stdlib_mb']:.1f} MB "
              f"({out['stdlib_findings_per_mb']:.2f}/MB), scanned at {out['scan_mb_per_s']:.2f} MB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
