"""Collects every ladder tier's answers to the code tasks, item by item, into the committed route cache (resumable).

    .venv/bin/python bench/route/code/collect_code.py [--limit N] [--tiers A,B,C]

Default tiers: SmolLM2-135M (the default local model), Qwen2.5-Coder-0.5B (a second local model) and
Qwen2.5-Coder-1.5B served on loopback by llama-cpp-python's server (the remote tier). Hours on two cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "desktop"))

from baton.bench.fixtures import LARGE, STRONG  # noqa: E402
from baton.bench.ladder import LadderTiers, load_code_items  # noqa: E402
from baton.commands.context import Context  # noqa: E402

FIX = ROOT / ".venv" / "fixtures"
DEFAULT_TIERS = f"smollm2-135m-instruct-q4_1,{FIX / STRONG.name},loopback:{FIX / LARGE.name}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT / "bench" / "data" / "code-dev.jsonl"))
    ap.add_argument("--tiers", default=DEFAULT_TIERS)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--cache-dir", default=str(ROOT / "bench" / "route" / "cache"))
    args = ap.parse_args()
    items = load_code_items(Path(args.data), args.limit)
    ctx = Context.from_env()
    try:
        with LadderTiers(ctx.service(), Path(args.cache_dir), args.tiers.split(",")) as lt:
            lt.run_all(items)
    finally:
        ctx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
