"""The routing metrics on small synthetic cases whose right values are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from baton.bench.evaluate import (Outcomes, cascade_point, oracle_point, random_point, routed_point,
                                        score_cascade, score_reference_routers)

# 4 items: only item 0 is right on the weak tier; items 0-2 are right on the strong tier.
# acc_weak 0.25, acc_strong 0.75, gap 0.5; items 1 and 2 are the ones only strong gets right.
O = Outcomes(weak_correct=[1, 0, 0, 0], strong_correct=[1, 1, 1, 0],
             weak_energy_j=[1.0, 1.0, 1.0, 1.0], strong_energy_j=[10.0, 10.0, 10.0, 10.0])
NO_SKIP = np.ones(4)  # keep-local scores from the prompt; nothing is hopeless by default


def test_accuracies():
    assert O.acc_weak == 0.25 and O.acc_strong == 0.75 and O.acc_oracle == 0.75


def test_perfect_ranking_matches_the_oracle():
    # worked by hand: PGR at shares 0, .25, .5, .75, 1 is 0, .5, 1, 1, 1
    # area = .25*.25 + .25*.75 + .5*1 = .75; CPT50 = .25; CPT80 = .25 + (.3/.5)*.25 = .40
    m = score_cascade(O, NO_SKIP, np.array([0.9, 0.1, 0.2, 0.3]), threshold=0.25)
    assert m["apgr"] == pytest.approx(0.75)
    assert m["cpt50"] == pytest.approx(0.25)
    assert m["cpt80"] == pytest.approx(0.40)
    ref = score_reference_routers(O, share=0.5)
    assert ref["oracle"]["apgr"] == pytest.approx(0.75)
    assert ref["oracle"]["cpt80"] == pytest.approx(0.40)


def test_reversed_ranking_is_worse_than_random():
    # escalation order 0, 3, 2, 1: PGR 0, 0, 0, .5, 1 -> area .25*.25 + .25*.75 = .25
    m = score_cascade(O, NO_SKIP, np.array([0.1, 0.9, 0.8, 0.7]), threshold=0.5)
    assert m["apgr"] == pytest.approx(0.25)
    assert m["cpt50"] == pytest.approx(0.75)
    assert m["cpt80"] == pytest.approx(0.90)


def test_all_ties_give_the_random_line():
    m = score_cascade(O, NO_SKIP, np.full(4, 0.4), threshold=0.3)
    assert m["apgr"] == pytest.approx(0.5)
    assert m["cpt50"] == pytest.approx(0.5)
    assert m["strong_calls_at_default"] == 0.0


def test_random_router_is_the_expected_value():
    ref = score_reference_routers(O, share=0.5)["random"]
    assert ref["apgr"] == 0.5 and ref["cpt50"] == 0.5 and ref["cpt80"] == 0.8
    # expected energy .5*4 + .5*40 = 22 J, expected correct .5*1 + .5*3 = 2 -> 11 J per correct answer
    assert ref["epca_j"] == pytest.approx(11.0)
    assert ref["acc_at_default"] == pytest.approx(0.5)
    p = random_point(O, 0.25)
    assert p.correct == pytest.approx(1.5) and p.energy_j == pytest.approx(13.0)


def test_cascade_pays_both_tiers_for_an_escalated_item():
    # escalate items 1 and 2: weak ran on all 4 (4 J) + strong on 2 (20 J) = 24 J, 3 correct
    p = cascade_point(O, np.array([0, 1, 1, 0], dtype=bool))
    assert p.energy_j == pytest.approx(24.0) and p.correct == 3 and p.strong_share == 0.5
    assert p.epca_j == pytest.approx(8.0)


def test_stage_one_skip_saves_the_weak_run():
    p_prompt = np.array([0.9, 0.05, 0.05, 0.9])
    m = score_cascade(O, p_prompt, np.array([0.9, 0.1, 0.2, 0.3]), threshold=0.25, hopeless=p_prompt < 0.1)
    # items 1, 2 skipped: weak on 0 and 3 (2 J) + strong on 1 and 2 (20 J) = 22 J over 3 correct
    assert m["epca_j"] == pytest.approx(22.0 / 3)
    assert m["skipped_local_at_default"] == pytest.approx(0.5)
    assert m["acc_at_default"] == pytest.approx(0.75)
    assert m["apgr"] == pytest.approx(0.75)  # skipping only ever happens below the threshold


def test_skip_is_bounded_by_the_threshold():
    # every item is hopeless, but at a threshold of 0 nothing may be skipped or escalated
    m = score_cascade(O, np.zeros(4), np.array([0.9, 0.1, 0.2, 0.3]), threshold=0.0, hopeless=np.ones(4, bool))
    assert m["strong_calls_at_default"] == 0.0 and m["epca_j"] == pytest.approx(4.0)


def test_oracle_and_fixed_routers_energy():
    ref = score_reference_routers(O, share=0.5)
    assert ref["always_local"]["epca_j"] == pytest.approx(4.0)
    assert ref["always_strong"]["epca_j"] == pytest.approx(40.0 / 3)
    # the oracle at half the items sends exactly items 1 and 2, each to strong only: 1 + 1 + 10 + 10
    assert ref["oracle"]["epca_j"] == pytest.approx(22.0 / 3)
    assert ref["oracle"]["acc_at_default"] == pytest.approx(0.75)
    assert oracle_point(O, 0.25).accuracy == pytest.approx(0.5)


def test_oracle_sends_weak_only_items_last():
    o = Outcomes([1, 0], [0, 0], [1.0, 1.0], [5.0, 5.0])
    assert oracle_point(o, 0.5).accuracy == 0.5  # item 1 (both wrong) goes first, item 0 stays weak
    assert routed_point(o, np.array([True, True])).accuracy == 0.0


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        Outcomes([1, 0], [1], [1.0, 1.0], [1.0, 1.0])
