"""The shipped calibration, and the product's Router deciding exactly as `baton bench route` scores it.

Runs the committed route-dev results (bench/route/cache) through ``Router.before`` / ``Router.after``, the
path the service takes, and compares with the benchmark's batch scoring of the same calibration.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baton.bench.collect import ResultCache, cache_file, load_items, prompt_format
from baton.bench.evaluate import cascade_decisions
from baton.bench.fixtures import STRONG_FIXTURE_NAME
from baton.bench.route import cascade_scores, item_features, outcomes_of
from baton.config import Endpoint, RoutingSettings
from baton.core.engine.defaults import DEFAULT_MODEL
from baton.core.router.features import prompt_vector
from baton.core.router.policy import Router
from baton.core.router.shipped import shipped_calibration
from baton.core.types import Completion, LocalInfo, Timing, TokenSignals, Usage

ROOT = Path(__file__).resolve().parents[2]
STRONG = Endpoint("strong", "http://127.0.0.1:8080/v1", "strong")


@pytest.fixture(scope="module")
def route_dev():
    items = load_items(ROOT / "bench" / "data" / "route-dev.jsonl")
    cache = ROOT / "bench" / "route" / "cache"
    fmt = prompt_format(shipped_calibration().meta["prompt_format"])
    weak = ResultCache(cache_file(cache, DEFAULT_MODEL.id, fmt))
    strong = ResultCache(cache_file(cache, Path(STRONG_FIXTURE_NAME).stem + "@loopback", fmt))
    rows = [(it, weak.get(it), strong.get(it)) for it in items]
    assert all(w is not None and s is not None for _, w, s in rows), "the committed cache must cover route-dev"
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], fmt


def test_shipped_calibration_is_sane():
    cal = shipped_calibration()
    assert cal.covers("arithmetic") and cal.covers("word_problem") and cal.covers("code")
    assert 0.0 < cal.margin < 1.0 and 0.0 < cal.skip_below <= 0.5
    assert cal.meta["n_arith"] >= 500 and cal.meta["n_code"] >= 30
    assert len(cal.meta["fitted_ids"]) == cal.meta["n_arith"] + cal.meta["n_code"]
    small, big = prompt_vector("What is 2 + 3?"), prompt_vector("What is 123456 / 789?")
    assert cal.p_prompt(small, "arithmetic") > cal.p_prompt(big, "arithmetic")
    assert cal.p_strong(small, "arithmetic") > cal.p_strong(big, "arithmetic")


def test_router_decides_like_the_benchmark(route_dev):
    items, weak, strong, fmt = route_dev
    cal = shipped_calibration()
    router = Router(RoutingSettings(), endpoints=[STRONG], calibration=cal)
    routed, skipped = [], []
    for item, w in zip(items, weak):
        msgs = fmt.messages(item["question"])
        d = router.before(msgs, LocalInfo(4096, w.prompt_tokens, 256, True, "weak"))
        if d.tier == "cloud":
            routed.append(True)
            skipped.append(True)
            continue
        c = Completion(w.text, "weak", w.finish_reason, Usage(w.prompt_tokens, w.completion_tokens), Timing(),
                       TokenSignals(**w.signals))
        routed.append(router.after(c, msgs, d).escalate)
        skipped.append(False)
    rows, cats = item_features(items, weak)
    p1, p2, ps = cal.batch(rows, cats)
    s = cascade_scores(p1, p2, ps, cal.margin, cal.skip_below)
    esc, skip = cascade_decisions(s["keep_prompt"], s["keep_answer"], s["threshold"], s["hopeless"])
    assert np.array_equal(esc, np.array(routed)) and np.array_equal(skip, np.array(skipped))
    o = outcomes_of(weak, strong)
    acc = np.where(esc, o.strong_correct, o.weak_correct).mean()
    # the shipped router (fitted on these very items, so in-sample) keeps most of the strong tier's accuracy
    # while sending only part of the items there
    assert acc > o.acc_weak + 0.8 * (o.acc_strong - o.acc_weak) and esc.mean() < 0.9
