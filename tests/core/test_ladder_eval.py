"""The ladder's scoring: walks, operating points, the curve's ends and the reference routers, on outcomes built
by hand so every number can be checked."""

from __future__ import annotations

import numpy as np
import pytest

from baton.bench.ladder_eval import LadderData, LadderScores, ladder_curve, ladder_point, reference_routers, walk


def _data() -> LadderData:
    # 4 items, 3 tiers. item 0: first right; 1: middle right; 2: only last right; 3: none right
    correct = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=bool)
    energy = np.array([[1.0] * 4, [3.0] * 4, [10.0] * 4])
    return LadderData(correct, energy, [[{}] * 4] * 3, ["code"] * 4)


def _scores(keep0: list[float], keep1: list[float], hopeless: list[bool] | None = None) -> LadderScores:
    n = len(keep0)
    return LadderScores(np.array([keep0, keep1]), np.zeros((2, n)), np.array(hopeless or [False] * n),
                        np.array(keep0), np.zeros((2, n)))


def test_walk_climbs_one_step_at_a_time_and_counts_every_tier_that_ran() -> None:
    d = _data()
    sc = _scores([0.5, -0.5, -0.5, -0.5], [0.5, 0.5, -0.5, -0.5])
    end, skip = walk(d, sc)
    assert end.tolist() == [0, 1, 2, 2] and not skip.any()
    p = ladder_point(d, end, skip)
    assert p.strong_share == pytest.approx(0.5)
    assert p.accuracy == pytest.approx(0.75)
    assert p.energy_j == pytest.approx(1 + (1 + 3) + 2 * (1 + 3 + 10))


def test_stage_one_skip_saves_the_first_tier() -> None:
    d = _data()
    sc = _scores([0.5, -0.5, -0.5, -0.5], [0.5, 0.5, 0.5, 0.5], hopeless=[False, True, False, False])
    end, skip = walk(d, sc)
    assert skip.tolist() == [False, True, False, False]
    assert end.tolist() == [0, 1, 1, 1]
    assert ladder_point(d, end, skip).energy_j == pytest.approx(1 + 3 + 2 * (1 + 3))


def test_curve_runs_from_first_tier_alone_to_every_item_at_the_last() -> None:
    d = _data()
    pts = ladder_curve(d, _scores([0.1, -0.2, -0.3, 0.4], [0.2, 0.1, -0.1, 0.3]))
    shares = [p.strong_share for p in pts]
    assert min(shares) == 0.0 and max(shares) == 1.0
    assert pts[0].accuracy == pytest.approx(0.25)  # never climbing: the first tier alone
    assert pts[-1].accuracy == pytest.approx(0.75)  # always climbing: the last tier alone


def test_reference_routers_ends_and_oracle() -> None:
    d = _data()
    refs = reference_routers(d, 0.5)
    assert refs["always_first"]["acc_at_default"] == pytest.approx(0.25)
    assert refs["always_last"]["acc_at_default"] == pytest.approx(0.75)
    assert refs["always_tier2"]["acc_at_default"] == pytest.approx(0.5)
    # the oracle gets item 2 right with one last-tier call (25%), items 0 and 1 below it
    assert refs["oracle"]["cpt80"] is not None and refs["oracle"]["cpt80"] <= 0.25 + 1e-9
    assert refs["random"]["acc_at_default"] == pytest.approx(0.5 * 0.25 + 0.5 * 0.75)


def test_default_point_is_the_most_accurate_walk_under_both_ends_per_correct_answer() -> None:
    from baton.bench.ladder_eval import choose_line

    # first right on item 0; middle on 0-2; last on all four, but at 100 J an item
    correct = np.array([[1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=bool)
    energy = np.array([[1.0] * 4, [1.0] * 4, [100.0] * 4])
    d = LadderData(correct, energy, [[{}] * 4] * 3, ["code"] * 4)
    sc = _scores([0.9, -0.1, -0.2, -0.3], [0.8, 0.5, 0.4, 0.3])
    end, skip = walk(d, sc, choose_line(d, sc))
    # climbing item 3 to the last tier would make it right but cost 100 J for one more answer
    assert end.tolist() == [0, 1, 1, 1]
    p = ladder_point(d, end, skip)
    assert p.accuracy == pytest.approx(0.75) and p.epca_j < 0.9 * 4.0
