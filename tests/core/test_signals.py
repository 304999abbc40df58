import math

import numpy as np

from baton.core.engine.signals import ConfidenceTracker, LoopDetector


def _reference(logits: np.ndarray) -> tuple[float, float]:
    x = logits.astype(np.float64)
    lp = x - x.max() - math.log(np.exp(x - x.max()).sum())
    return float(lp.max()), float(-(np.exp(lp) * lp).sum())


def test_confidence_matches_a_plain_log_softmax():
    rng = np.random.default_rng(0)
    t = ConfidenceTracker()
    refs = []
    for _ in range(5):
        logits = (rng.standard_normal(5000) * 4).astype(np.float32)
        t.observe(logits)
        refs.append(_reference(logits))
    s = t.signals()
    assert s.n_tokens == 5
    assert math.isclose(s.first_top1_logprob, refs[0][0], rel_tol=1e-4)
    assert math.isclose(s.mean_top1_logprob, sum(r[0] for r in refs) / 5, rel_tol=1e-4)
    assert math.isclose(s.min_top1_logprob, min(r[0] for r in refs), rel_tol=1e-4)
    assert math.isclose(s.mean_entropy, sum(r[1] for r in refs) / 5, rel_tol=1e-4)
    assert math.isclose(s.max_entropy, max(r[1] for r in refs), rel_tol=1e-4)


def test_a_peaked_distribution_is_confident_and_a_flat_one_is_not():
    peaked, flat = ConfidenceTracker(), ConfidenceTracker()
    logits = np.zeros(1000, dtype=np.float32)
    logits[7] = 30.0
    peaked.observe(logits)
    flat.observe(np.zeros(1000, dtype=np.float32))
    assert peaked.signals().mean_top1_logprob > -1e-6
    assert math.isclose(flat.signals().mean_entropy, math.log(1000), rel_tol=1e-5)


def test_non_finite_logits_are_ignored_not_fatal():
    t = ConfidenceTracker()
    t.observe(np.array([np.nan, 1.0, 2.0], dtype=np.float32))
    assert t.signals().n_tokens == 0


def test_loop_detector_finds_a_repeating_span():
    d = LoopDetector(max_period=16, min_run=20)
    span = [5, 9, 11, 3, 7]
    hits = [d.push(t) for t in span * 10]
    assert d.detected and d.span == 5
    # detected once the span has repeated for max(2 * 5, 20) tokens after the first copy
    assert hits.index(True) == 5 + 20 - 1


def test_loop_detector_ignores_varied_text():
    d = LoopDetector()
    rng = np.random.default_rng(1)
    for t in rng.integers(0, 30000, 2000):
        d.push(int(t))
    assert not d.detected


def test_loop_detector_tolerates_short_repeats():
    d = LoopDetector(min_run=64)
    for t in [1, 2, 3] * 10 + list(range(100, 140)):
        d.push(t)
    assert not d.detected
