"""How much the benchmark's prompt format saves: the weak tier over the same items with three formats.

    .venv/bin/python bench/route/prompt_format.py [--per-tag 20] [--threads 1] [--json]

Formats: the service's default system prompt; "final number only"; and the benchmark's format (a short
answer that ends with the number, two worked examples). The formats run interleaved item by item, so a
busy machine slows all three alike. Reports accuracy, answer tokens and joules (Baton's meter) per item.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "desktop"))

from baton.bench.collect import FEWSHOT, PromptFormat, load_items, local_runner, prompt_format  # noqa: E402
from baton.core.engine.defaults import default_model_path  # noqa: E402
from baton.core.engine.llama import LlamaEngine  # noqa: E402
from baton.core.telemetry.meter import EnergyMeter  # noqa: E402

FORMATS = {
    "service_default": prompt_format("service"),
    "number_only": PromptFormat("number_only", "Answer with the final number only."),
    "fewshot": FEWSHOT,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "bench" / "data" / "route-dev.jsonl"))
    ap.add_argument("--per-tag", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    by_tag: dict[str, list] = defaultdict(list)
    for it in load_items(Path(args.data)):
        by_tag[it["tag"]].append(it)
    rng = random.Random(0)
    items = [it for tag in sorted(by_tag) for it in rng.sample(by_tag[tag], min(args.per_tag, len(by_tag[tag])))]
    engine = LlamaEngine(default_model_path(None), n_ctx=2048, n_threads=args.threads)
    meter = EnergyMeter.for_machine(None, use_nvml=False)
    runners = {name: local_runner(engine, meter, fmt=fmt) for name, fmt in FORMATS.items()}
    stats: dict[str, dict[str, list[float]]] = {n: defaultdict(list) for n in FORMATS}
    try:
        for i, it in enumerate(items):
            for name, run in runners.items():
                r = run(it)
                for key in ("all", it["tag"]):
                    stats[name][key].append((r.correct, r.completion_tokens, r.energy_j))
            print(f"prompt formats: {i + 1}/{len(items)}", file=sys.stderr, flush=True)
    finally:
        engine.close()
        meter.close()
    out = {name: {key: {"n": len(v), "accuracy": round(sum(x[0] for x in v) / len(v), 3),
                        "tokens": round(sum(x[1] for x in v) / len(v), 1),
                        "energy_j": round(sum(x[2] for x in v) / len(v), 3)} for key, v in sorted(s.items())}
           for name, s in stats.items()}
    base = out["service_default"]["all"]
    out["ratios_vs_service_default"] = {name: {"tokens": round(v["all"]["tokens"] / base["tokens"], 3),
                                               "energy_j": round(v["all"]["energy_j"] / base["energy_j"], 3)}
                                        for name, v in out.items() if name in FORMATS}
    print(json.dumps(out, indent=2 if args.json else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
