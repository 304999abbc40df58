"""The product's ladder decides exactly as `baton bench route --tiers` scores it.

Runs the committed code-ladder results (bench/route/cache: every tier's answer, graded, with the examples'
verification) through ``Router.ladder_start`` / ``Router.ladder_after``, the calls the service makes, and compares
each item's walk with the benchmark's batch scoring of the shipped calibrations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baton.bench.collect import ResultCache, cache_file, prompt_format
from baton.bench.grade import GradeCache, _key, verification_of
from baton.bench.ladder import CODE_MAX_TOKENS, load_code_items
from baton.bench.ladder_eval import scores_from, walk
from baton.bench.ladder_run import ladder_data
from baton.config import RoutingSettings
from baton.core.router.policy import Router
from baton.core.router.shipped import shipped_ladder, shipped_ladder_tiers
from baton.core.types import Completion, Timing, TokenSignals, Usage
from baton.core.verify import Verification

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "bench" / "route" / "cache"


@pytest.fixture(scope="module")
def ladder_results():
    fmt = prompt_format("service")
    items = load_code_items(ROOT / "bench" / "data" / "code-dev.jsonl")
    labels = shipped_ladder_tiers()
    assert len(labels) == 3, "the shipped calibration names the ladder it was fitted on"
    caches = [ResultCache(cache_file(CACHE, lab, fmt, CODE_MAX_TOKENS)) for lab in labels]
    grades = GradeCache(CACHE / "grades.jsonl")
    rows = []
    for it in items:
        results = [c.get(it) for c in caches]
        if any(r is None for r in results):
            continue
        g = [grades.rows.get(_key(lab, it["id"], r.text)) for lab, r in zip(labels, results)]
        if any(x is None for x in g):
            continue
        from dataclasses import replace

        rows.append((it, [replace(r, correct=x["correct"]) for r, x in zip(results, g)],
                     [x["verification"] for x in g]))
    assert len(rows) >= 30, "the committed cache must hold graded results of every ladder tier"
    return rows, fmt


def _completion(r) -> Completion:
    return Completion(r.text, "m", r.finish_reason, Usage(r.prompt_tokens, r.completion_tokens), Timing(),
                      TokenSignals(**r.signals))


def test_router_walks_the_ladder_like_the_benchmark(ladder_results):
    rows, fmt = ladder_results
    cals = shipped_ladder()
    router = Router(RoutingSettings(), ladder_calibrations=cals)
    ends, skips = [], []
    for item, results, checks in rows:
        msgs = fmt.messages(item["question"])
        step, _ = router.ladder_start(msgs, 3)
        skips.append(step == 1)
        while True:
            v = router.ladder_after(step, 3, _completion(results[step]), msgs, verification_of(checks[step]))
            if not v.escalate:
                break
            step += 1
        ends.append(step)
    items = [r[0] for r in rows]
    d = ladder_data(items, [[r[1][s] for r in rows] for s in range(3)], [[r[2][s] for r in rows] for s in range(3)],
                    verify=True)
    end, skip = walk(d, scores_from(cals, d))
    assert np.array_equal(end, np.array(ends)) and np.array_equal(skip, np.array(skips))
    # the walk is worth having: more right answers than the first tier alone, fewer last-tier calls than always-last
    acc = d.correct[end, np.arange(d.n)].mean()
    assert acc > d.correct[0].mean() + 0.5 * (d.correct[-1].mean() - d.correct[0].mean())
    assert (end == 2).mean() < 1.0


def test_last_tier_and_cancelled_answers_never_climb(ladder_results):
    rows, fmt = ladder_results
    router = Router(RoutingSettings(), ladder_calibrations=shipped_ladder())
    item, results, _ = rows[0]
    msgs = fmt.messages(item["question"])
    assert not router.ladder_after(2, 3, _completion(results[2]), msgs).escalate
    c = _completion(results[0])
    c.finish_reason = "cancelled"
    assert not router.ladder_after(0, 3, c, msgs).escalate


def test_failed_examples_push_towards_climbing(ladder_results):
    rows, fmt = ladder_results
    router = Router(RoutingSettings(), ladder_calibrations=shipped_ladder())
    item, results, _ = next(r for r in rows if "assert" in r[0]["question"])
    msgs = fmt.messages(item["question"])
    c = _completion(results[1])
    ok = router.ladder_after(1, 3, c, msgs, Verification("passed", 1, 1, ""))
    bad = router.ladder_after(1, 3, c, msgs, Verification("failed", 0, 1, ""))
    assert bad.score < ok.score
    assert "0 of 1" in bad.reason


def test_the_ladders_default_for_code_leaves_other_questions_their_own_margin():
    from baton.core.router.scoring import Calibration
    from baton.core.router.shipped import shipped_calibration

    two_tier, ladder = shipped_calibration(), shipped_ladder()
    assert ladder[0].margin_for("arithmetic") == ladder[0].margin == two_tier.margin
    assert "code" in ladder[0].category_margins and "code" in ladder[1].category_margins
    back = Calibration.from_dict(ladder[1].to_dict())
    assert back.margin_for("code") == pytest.approx(ladder[1].margin_for("code"))


def test_stage_one_skips_a_first_tier_hopeless_on_this_kind_of_question():
    router = Router(RoutingSettings(), ladder_calibrations=shipped_ladder())
    code = [{"role": "user", "content": "Write a python function to reverse a list.\nassert rev([1, 2]) == [2, 1]"}]
    start, why = router.ladder_start(code, 3)
    assert start == 1 and "hopeless on code questions like this" in why
    from baton.core.router.ladder import HOPELESS_RATE, hopeless_kind

    cal = shipped_ladder()[0]
    assert hopeless_kind(cal, "code", HOPELESS_RATE / 2) and not hopeless_kind(cal, "code", HOPELESS_RATE * 2)
    assert not hopeless_kind(cal, "code", None)  # no fitted basis, no skip
