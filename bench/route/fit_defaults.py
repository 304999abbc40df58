"""Fit the calibrations Baton ships (``desktop/baton/data/calibration.json``) from the cached, graded tier results.

    .venv/bin/python bench/route/fit_defaults.py [--cache-dir bench/route/cache]

- ``two_tier`` (the router without a ladder, and the ladder's first step): SmolLM2-135M -> Qwen2.5-Coder-0.5B on the
  arithmetic dev set (``bench/data/route-dev.jsonl``, the service prompt) and the code dev set together.
- ``ladder``: one calibration per step of SmolLM2-135M -> Qwen2.5-Coder-0.5B -> Qwen2.5-Coder-1.5B; step one is
  ``two_tier``, step two is fitted on the code dev set (the examples' verification among its features).

The shipped models are fitted on every item; `baton bench route` reports the same files out of fold, and its
``baton_shipped`` row says which share of the items the shipped models saw.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "desktop"))

import numpy as np  # noqa: E402

from baton.bench.collect import ResultCache, cache_file, load_items, prompt_format  # noqa: E402
from baton.bench.fixtures import LARGE, STRONG  # noqa: E402
from baton.bench.grade import Grader, grade_all  # noqa: E402
from baton.bench.ladder import CODE_MAX_TOKENS, load_code_items  # noqa: E402
from baton.bench.ladder_eval import LadderData, apply_line, choose_line, fit_steps, out_of_fold  # noqa: E402
from baton.bench.ladder_run import ladder_data  # noqa: E402
from baton.bench.route import id_digest  # noqa: E402
from baton.core.engine.defaults import DEFAULT_MODEL  # noqa: E402
from baton.core.router.scoring import Calibration  # noqa: E402

OUT = ROOT / "desktop" / "baton" / "data" / "calibration.json"


def _cached(cache_dir: Path, label: str, items: list, fmt, max_tokens: int) -> list:
    c = ResultCache(cache_file(cache_dir, label, fmt, max_tokens))
    return [c.get(it) for it in items]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arith", default=str(ROOT / "bench" / "data" / "route-dev.jsonl"))
    ap.add_argument("--code", default=str(ROOT / "bench" / "data" / "code-dev.jsonl"))
    ap.add_argument("--cache-dir", default=str(ROOT / "bench" / "route" / "cache"))
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    cache_dir = Path(args.cache_dir)
    fmt = prompt_format("service")
    # arithmetic: the two-tier benchmark's caches (strong tier served on loopback)
    arith = load_items(Path(args.arith))
    a_w = _cached(cache_dir, DEFAULT_MODEL.id, arith, fmt, 256)
    a_s = _cached(cache_dir, Path(STRONG.name).stem + "@loopback", arith, fmt, 256)
    a_keep = [i for i in range(len(arith)) if a_w[i] is not None and a_s[i] is not None]
    # code: the ladder's caches, graded by running the tests
    code = load_code_items(Path(args.code))
    labels = [DEFAULT_MODEL.id, Path(STRONG.name).stem, Path(LARGE.name).stem + "@loopback"]
    raw = [_cached(cache_dir, lab, code, fmt, CODE_MAX_TOKENS) for lab in labels]
    c_keep = [i for i in range(len(code)) if all(t[i] is not None for t in raw)]
    code = [code[i] for i in c_keep]
    results, checks = grade_all(Grader(cache_dir), labels, code, [[t[i] for i in c_keep] for t in raw])
    cd = ladder_data(code, results, checks, verify=True)
    arith = [arith[i] for i in a_keep]
    ad = ladder_data(arith, [[a_w[i] for i in a_keep], [a_s[i] for i in a_keep]], [[None] * len(arith)] * 2,
                     verify=True)
    # step one on both sets (same pair of models), step two on code only
    both = LadderData(np.concatenate([ad.correct, cd.correct[:2]], axis=1),
                      np.concatenate([ad.energy_j, cd.energy_j[:2]], axis=1),
                      [ad.rows[0] + cd.rows[0], ad.rows[1] + cd.rows[1]], ad.categories + cd.categories)
    step1 = fit_steps(both)[0]
    step2 = fit_steps(LadderData(cd.correct[1:], cd.energy_j[1:], cd.rows[1:], cd.categories))[0]
    ids = sorted(id_digest(it["id"]) for it in arith + code)
    step1.meta.update(fitted_ids=ids, pair=labels[:2], n_arith=len(arith), n_code=len(code), prompt_format=fmt.name,
                      prompt_key=fmt.key)
    step2.meta.update(fitted_ids=sorted(id_digest(it["id"]) for it in code), pair=labels[1:], n_code=len(code),
                      prompt_format=fmt.name, prompt_key=fmt.key)
    # the ladder's default line on the code items, the same for both steps (arithmetic keeps the pairwise
    # margins; the two-tier router keeps step one as fitted)
    line = choose_line(cd, out_of_fold(cd, walk_default=False))  # on out-of-fold scores, as the benchmark does
    ladder = [Calibration.from_dict(c.to_dict()) for c in (step1, step2)]
    apply_line(ladder, {"code"}, line)
    doc = {"about": "Fitted by bench/route/fit_defaults.py from bench/route/cache; do not edit by hand.",
           "two_tier": step1.to_dict(), "ladder": [c.to_dict() for c in ladder], "ladder_tiers": labels,
           "ladder_lines_code": [round(float(x), 6) for x in line]}
    Path(args.out).write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(arith)} arithmetic and {len(code)} code items; two-tier margin {step1.margin:.3f}, "
          f"ladder margins for code {ladder[0].margin_for('code'):.3f}, "
          f"{ladder[1].margin_for('code'):.3f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
