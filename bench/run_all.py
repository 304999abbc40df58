"""`make bench`: run every benchmark and print its ratios. Each one measures its pair side by side in one run.

Timings on a shared machine are noisy; each benchmark interleaves what it compares and reports medians.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable


def _run(title: str, args: list[str]) -> dict | None:
    print(f"\n== {title}: {' '.join(args)}", file=sys.stderr, flush=True)
    proc = subprocess.run([PY, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"   failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    try:
        return json.loads(proc.stdout)
    except ValueError:
        print(proc.stdout)
        return None


def main() -> int:
    results = {
        "speed": _run("decode speed, Baton vs bare llama-cpp-python",
                      ["-m", "baton", "bench", "speed", "--json", "--tokens", "128", "--rounds", "6"]),
    }
    extra = [("sampler", "bench_sampler.py"), ("privacy", "bench_privacy.py"), ("gui_stall", "bench_gui_stall.py"),
             ("gui_memory", "bench_gui_memory.py")]
    for name, script in extra:
        if (HERE / script).exists():
            results[name] = _run(name, [str(HERE / script), "--json"])
    data = HERE / "data" / "route-dev.jsonl"
    if data.exists():
        results["route"] = _run("routing quality", ["-m", "baton", "bench", "route", "--data", str(data), "--json",
                                                     "--cache-dir", str(HERE / "route" / "cache")])
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0 if all(v is not None for v in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
