"""The score model: logistic regression by Newton steps, stratified k-fold, AUC, and the Calibration object."""

from __future__ import annotations

import numpy as np
import pytest

from baton.bench.fit import FitOptions, auc, fit_calibration, fit_logistic, fit_models, kfold, log_loss
from baton.core.router.calibration import LogisticModel, sigmoid
from baton.core.router.features import ALL_NAMES, PROMPT_NAMES
from baton.core.router.scoring import HARD_FAIL_P, Calibration


def synthetic(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    logits = 2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.0 * x[:, 2] - 0.5
    y = rng.random(n) < sigmoid(logits)
    return x, y


def test_logistic_regression_recovers_the_signs_and_calibrates():
    x, y = synthetic(2000)
    m = fit_logistic(x, y, ["a", "b", "c"], l2=0.1)
    raw = m.weights / m.scale  # back to the unstandardised scale
    assert raw[0] == pytest.approx(2.0, abs=0.3) and raw[1] == pytest.approx(-1.0, abs=0.3)
    assert abs(raw[2]) < 0.2
    p = m.predict(x)
    assert abs(p.mean() - y.mean()) < 0.01  # an intercept-fitted logistic model matches the base rate
    assert log_loss(p, y) < log_loss(np.full(len(y), y.mean()), y)


def test_l2_shrinks_weights():
    x, y = synthetic()
    loose = fit_logistic(x, y, ["a", "b", "c"], l2=0.01)
    tight = fit_logistic(x, y, ["a", "b", "c"], l2=1000.0)
    assert np.abs(tight.weights).sum() < 0.2 * np.abs(loose.weights).sum()


def test_constant_feature_and_single_class_do_not_break_the_fit():
    x = np.column_stack([np.ones(20), np.arange(20.0)])
    m = fit_logistic(x, np.zeros(20), ["const", "i"])
    assert np.all(np.isfinite(m.weights)) and m.predict(x).max() < 0.1


def test_round_trip_keeps_predictions():
    x, y = synthetic()
    m = fit_logistic(x, y, ["a", "b", "c"])
    m2 = LogisticModel.from_dict(m.to_dict())
    assert np.allclose(m.predict(x), m2.predict(x), atol=1e-4)
    assert m2.predict_one({"a": 1.0}) == pytest.approx(float(m.predict(np.array([1.0, 0, 0]))[0]), abs=1e-4)


def test_kfold_tests_every_item_once_and_keeps_the_class_balance():
    labels = np.array([1] * 10 + [0] * 90)
    folds = kfold(labels, 5, seed=3)
    tested = np.concatenate([t for _, t in folds])
    assert sorted(tested.tolist()) == list(range(100))
    for train, test in folds:
        assert not set(train) & set(test)
        assert labels[test].sum() == 2  # 10 positives over 5 folds


def test_auc_by_hand():
    assert auc(np.array([0.9, 0.8, 0.1]), np.array([1, 0, 0])) == 1.0
    assert auc(np.array([0.1, 0.8, 0.9]), np.array([1, 0, 0])) == 0.0
    assert auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    assert auc(np.array([0.5]), np.array([1])) is None


def _rows(n: int, seed: int = 0) -> tuple[list[dict[str, float]], list[str], np.ndarray, np.ndarray]:
    """Weak is right on small numbers with a confident answer; strong is right unless the numbers are huge."""
    rng = np.random.default_rng(seed)
    rows, cats, labels, strong = [], [], [], []
    for _ in range(n):
        digits = float(rng.integers(1, 6))
        lp = float(rng.normal(-1.0, 0.6))
        good = rng.random() < sigmoid(3.0 - 1.5 * digits + 2.0 * (lp + 1.0))
        rows.append({"max_digits": digits, "mean_lp": lp, "log_tokens": 2.0, "cat_arithmetic": 1.0})
        cats.append("arithmetic")
        labels.append(good)
        strong.append(rng.random() < sigmoid(4.0 - 1.2 * digits))
    return rows, cats, np.array(labels), np.array(strong)


def test_fitted_calibration_uses_prompt_and_answer():
    rows, cats, y, ys = _rows(600)
    cal = fit_models(rows, cats, y, ys, FitOptions())
    easy = {"max_digits": 1.0, "mean_lp": -0.2, "log_tokens": 2.0}
    hard = {"max_digits": 5.0, "mean_lp": -0.2, "log_tokens": 2.0}
    assert cal.p_prompt(easy, "arithmetic") > 0.5 > cal.p_prompt(hard, "arithmetic")
    assert cal.p_answer(easy, "arithmetic") > cal.p_answer({**easy, "mean_lp": -2.5}, "arithmetic")
    assert cal.covers("arithmetic") and not cal.covers("prose")
    assert cal.p_prompt(easy, "prose") is None  # unseen: no basis to skip
    assert cal.p_answer({**easy, "loop": 1.0}, "arithmetic") == HARD_FAIL_P
    assert cal.p_strong(easy, "arithmetic") > cal.p_strong(hard, "arithmetic")
    assert cal.p_strong(easy, "prose") == pytest.approx(cal.unseen_strong_prior)


def test_unseen_category_uses_signals_around_its_prior():
    rows, cats, y, ys = _rows(600)
    cal = fit_models(rows, cats, y, ys, FitOptions())
    mean_lp = float(cal.signals_only.mean[cal.signals_only.names.index("mean_lp")])
    at_mean = {n: float(m) for n, m in zip(cal.signals_only.names, cal.signals_only.mean)}
    assert cal.p_answer(at_mean, "prose") == pytest.approx(cal.unseen_prior, abs=1e-6)
    assert cal.p_answer({**at_mean, "mean_lp": mean_lp - 1.0}, "prose") < cal.unseen_prior


def test_fit_calibration_chooses_on_out_of_fold_scores():
    rows, cats, y, ys = _rows(300)
    seen: dict[str, object] = {}

    def choose(p1: np.ndarray, p2: np.ndarray, ps: np.ndarray) -> tuple[float, float]:
        seen["p2"] = p2
        return 0.12, 0.05

    cal = fit_calibration(rows, cats, y, ys, choose)
    assert (cal.margin, cal.skip_below) == (0.12, 0.05)
    in_sample = cal.batch(rows, cats)[1]
    assert not np.allclose(seen["p2"], in_sample)  # the chooser saw out-of-fold scores, not in-sample ones
    cal2 = Calibration.from_dict(cal.to_dict())
    assert np.allclose(cal2.batch(rows, cats)[1], in_sample, atol=1e-4)


def test_names_are_stable():
    assert PROMPT_NAMES[0] == "n_numbers" and set(PROMPT_NAMES) < set(ALL_NAMES)
