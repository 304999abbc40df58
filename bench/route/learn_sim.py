"""Does learning from the user pay? A replay of cached route-dev results through the real Router.

The calibration is fitted on the arithmetic items only, so word problems are a category it has never
seen. The word problems are then replayed in a fixed shuffled order, each through ``Router.before`` and
``Router.after`` exactly as the service calls them, and a simulated user judges the answer it was
shown (accept when right, escalate by hand when wrong). Every item is routed BEFORE its own feedback is
recorded, so the learned parts never see the item they are scored on. The same replay without feedback
is the baseline.

    .venv/bin/python bench/route/learn_sim.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "desktop"))
sys.path.insert(0, str(ROOT))  # tests.helpers.fakes: the in-memory key-value store

from baton.bench.collect import PROMPT_FORMATS, ResultCache, cache_file, load_items, prompt_format  # noqa: E402
from baton.bench.fixtures import STRONG_FIXTURE_NAME  # noqa: E402
from baton.bench.route import fit_all  # noqa: E402
from baton.config import Endpoint, RoutingSettings  # noqa: E402
from baton.core.engine.defaults import DEFAULT_MODEL  # noqa: E402
from baton.core.router.categorize import categorize  # noqa: E402
from baton.core.router.policy import Router  # noqa: E402
from baton.core.types import Completion, LocalInfo, Timing, TokenSignals, Usage  # noqa: E402
from tests.helpers.fakes import MemoryKV  # noqa: E402

STRONG = Endpoint("strong", "http://127.0.0.1:1/v1", "strong")


def replay(router: Router, stream: list[tuple[dict, Any, Any]], learn: bool, fmt: Any) -> dict[str, float]:
    correct = energy = strong_calls = skipped = 0.0
    for item, w, s in stream:
        msgs = fmt.messages(item["question"])
        d = router.before(msgs, LocalInfo(4096, w.prompt_tokens, 256, True, "weak"))
        if d.tier == "cloud":
            skipped += 1
            shown, tier, spent = s, "cloud", s.energy_j
        else:
            c = Completion(w.text, "weak", w.finish_reason, Usage(w.prompt_tokens, w.completion_tokens), Timing(),
                           TokenSignals(**w.signals))
            v = router.after(c, msgs, d)
            if v.escalate:
                shown, tier, spent = s, "cloud", w.energy_j + s.energy_j
                d.signals.update(v.signals)
            else:
                shown, tier, spent = w, "local", w.energy_j
                d.signals.update(v.signals)
        strong_calls += tier == "cloud"
        correct += shown.correct
        energy += spent
        if learn:
            router.record_feedback(d.signals, "accept" if shown.correct else "escalate", tier=tier)
    n = max(len(stream), 1)
    return {"n": len(stream), "accuracy": round(correct / n, 4), "strong_share": round(strong_calls / n, 4),
            "skipped_local": round(skipped / n, 4), "energy_j": round(energy, 1),
            "epca_j": round(energy / correct, 2) if correct else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "bench" / "data" / "route-dev.jsonl"))
    ap.add_argument("--cache-dir", default=str(ROOT / "bench" / "route" / "cache"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompt", choices=PROMPT_FORMATS, default="service")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    items = load_items(Path(args.data))
    fmt = prompt_format(args.prompt)
    wc = ResultCache(cache_file(Path(args.cache_dir), DEFAULT_MODEL.id, fmt))
    sc = ResultCache(cache_file(Path(args.cache_dir), Path(STRONG_FIXTURE_NAME).stem + "@loopback", fmt))
    rows = [(it, wc.get(it), sc.get(it)) for it in items]
    rows = [r for r in rows if r[1] is not None and r[2] is not None]
    train = [r for r in rows if categorize(r[0]["question"]) == "arithmetic"]
    stream = [r for r in rows if categorize(r[0]["question"]) == "word_problem"]
    np.random.default_rng(args.seed).shuffle(stream)
    cal = fit_all([r[0] for r in train], [r[1] for r in train], [r[2] for r in train])
    out: dict[str, Any] = {"trained_on": len(train), "replayed": len(stream)}
    for name, learn in (("no_feedback", False), ("with_feedback", True)):
        router = Router(RoutingSettings(), store=MemoryKV(), endpoints=[STRONG], calibration=cal)
        half = len(stream) // 2
        first = replay(router, stream[:half], learn, fmt)
        second = replay(router, stream[half:], learn, fmt)
        out[name] = {"first_half": first, "second_half": second}
    out["always_local"] = {"accuracy": round(float(np.mean([w.correct for _, w, _ in stream])), 4)}
    out["always_strong"] = {"accuracy": round(float(np.mean([s.correct for _, _, s in stream])), 4)}
    print(json.dumps(out, indent=2) if args.json else json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
