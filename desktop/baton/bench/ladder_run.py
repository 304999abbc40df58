"""`baton bench route --tiers A,B,C`: run a ladder over a benchmark file, grade, score (CONTRACT.md).

Code tasks (lines with ``tests``) are graded by running every test in the sandbox; the router sees only what the
question shows, and its features include the question's examples run against each answer (verification). The
document scores Baton with verification on (``routers``) and off (``without_verification``), out of fold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from baton.bench.collect import ItemResult, load_items, prompt_format
from baton.bench.ladder import CODE_MAX_TOKENS, LadderTiers, load_code_items
from baton.bench.ladder_eval import LadderData, ladder_document
from baton.core.errors import UsageError
from baton.core.router.categorize import categorize
from baton.core.router.features import answer_features, prompt_vector


def is_code_file(path: Path) -> bool:
    """True when the file's first non-blank line carries ``tests`` (the code data)."""
    if not path.is_file():
        raise UsageError(f"no benchmark file at {path}; pass --data FILE.jsonl")
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    return "tests" in json.loads(line)
                except json.JSONDecodeError:
                    return False
    return False


def ladder_data(items: list[dict[str, Any]], results: list[list[ItemResult]],
                checks: list[list[dict[str, Any] | None]], verify: bool) -> LadderData:
    """Features of every tier's answer (with or without the examples' verification) and the outcomes."""
    from baton.bench.grade import verification_of

    cats = [categorize(it["question"]) for it in items]
    rows = []
    for s, tier in enumerate(results):
        tier_rows = []
        for it, r, v in zip(items, tier, checks[s]):
            f = prompt_vector(it["question"])
            f.update(answer_features(it["question"], r.text, r.finish_reason, r.signals,
                                     verification_of(v) if verify else None))
            tier_rows.append(f)
        rows.append(tier_rows)
    correct = np.array([[r.correct for r in tier] for tier in results], dtype=bool)
    energy = np.array([[r.energy_j for r in tier] for tier in results], dtype=float)
    return LadderData(correct, energy, rows, cats)


def run_ladder(args: Any, ctx: Any) -> dict[str, Any]:
    """Run (or read from the cache) every tier on every item, grade code answers, and score. Raises ``UsageError``
    for a bad file or too few results, ``BatonError`` when code must be graded and there is no sandbox."""
    from baton.core.router.shipped import shipped_ladder

    data = Path(args.data)
    code = is_code_file(data)
    items = load_code_items(data, args.limit) if code else load_items(data, args.limit)
    cache_dir = Path(args.cache_dir) if args.cache_dir else ctx.paths.cache_dir / "bench-route"
    fmt = prompt_format(args.prompt)
    specs = [s for s in args.tiers.split(",") if s.strip()]
    with LadderTiers(ctx.service(), cache_dir, specs, CODE_MAX_TOKENS if code else 256, fmt) as lt:
        raw = lt.run_all(items, run=not args.no_run)
        labels = lt.labels
    keep = [i for i in range(len(items)) if all(tier[i] is not None for tier in raw)]
    if len(keep) < 2 * args.folds:
        raise UsageError(f"only {len(keep)} items have results for every tier; run without --no-run first")
    items = [items[i] for i in keep]
    results: list[list[ItemResult]] = [[tier[i] for i in keep] for tier in raw]  # type: ignore[misc]
    checks: list[list[dict[str, Any] | None]] = [[None] * len(items) for _ in results]
    if code:
        from baton.bench.grade import Grader, grade_all

        results, checks = grade_all(Grader(cache_dir), labels, items, results)  # type: ignore[assignment]
    shipped = shipped_ladder()
    fitted = set(shipped[0].meta.get("fitted_ids", []))
    from baton.bench.route import id_digest

    share = float(np.mean([id_digest(it["id"]) in fitted for it in items])) if fitted else None
    doc = ladder_document(ladder_data(items, results, checks, verify=True), labels, args.folds,
                          shipped=shipped if fitted else None, in_sample_share=share)
    if code:
        off = ladder_document(ladder_data(items, results, checks, verify=False), labels, args.folds)
        doc["without_verification"] = {"routers": {"baton": off["routers"]["baton"]},
                                       "calibration": off["calibration"]}
    doc["tier_models"] = labels
    doc["weak_model"], doc["strong_model"] = labels[0], labels[-1]
    doc["prompt_format"] = fmt.key
    return doc
