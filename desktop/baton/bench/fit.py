"""Fitting the router's calibration: the logistic models, their k-fold splits and the scores that judge them.

``fit_logistic`` is L2-regularised logistic regression by Newton-Raphson on standardised features; ``kfold``
gives stratified splits; ``fit_calibration`` fits the four models of a ``Calibration`` and picks its margin and
skip level on out-of-fold scores of the training items. The router only evaluates what this fits
(``baton.core.router.scoring``, ``calibration``); ``bench/route/fit_defaults.py`` writes the shipped one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from baton.core.router.calibration import LogisticModel, logit, sigmoid
from baton.core.router.features import ALL_NAMES, PROMPT_NAMES, SIGNAL_NAMES
from baton.core.router.scoring import Calibration


def fit_logistic(x: np.ndarray, y: np.ndarray, names: list[str], l2: float = 1.0,
                 sample_weight: np.ndarray | None = None, max_iter: int = 50) -> LogisticModel:
    """Fit by Newton-Raphson on standardised features; ``l2`` penalises the weights, not the bias."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n, d = x.shape
    w_s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    mean = (w_s @ x) / w_s.sum() if n else np.zeros(d)
    var = (w_s @ (x - mean) ** 2) / w_s.sum() if n else np.ones(d)
    scale = np.sqrt(var)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    a = np.hstack([z, np.ones((n, 1))])
    beta = np.zeros(d + 1)
    prior = (w_s @ y + 0.5) / (w_s.sum() + 1.0)
    beta[-1] = logit(float(prior))
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for _ in range(max_iter):
        p = sigmoid(a @ beta)
        grad = a.T @ (w_s * (p - y)) + penalty * beta
        hess = (a * (w_s * p * (1 - p))[:, None]).T @ a + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return LogisticModel(list(names), beta[:-1].copy(), float(beta[-1]), mean, scale)


def kfold(labels: np.ndarray, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold splits (train, test) over item indices; each item is tested exactly once."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for value in np.unique(labels):
        idx = np.flatnonzero(labels == value)
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            folds[(j + offset) % k].append(int(i))
        offset += len(idx)
    all_idx = np.arange(len(labels))
    out = []
    for f in folds:
        test = np.array(sorted(f), dtype=int)
        train = np.setdiff1d(all_idx, test)
        out.append((train, test))
    return out


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    y = np.asarray(y, dtype=float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def auc(p: np.ndarray, y: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half); None when one class is missing."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=bool)
    pos, neg = p[y], p[~y]
    if len(pos) == 0 or len(neg) == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


# ---- fitting ------------------------------------------------------------------------------------
@dataclass
class FitOptions:
    l2: float = 1.0
    inner_folds: int = 5
    seed: int = 0


def _matrix(rows: list[dict[str, float]], names: list[str]) -> np.ndarray:
    return np.array([[float(r.get(n, 0.0)) for n in names] for r in rows], dtype=float).reshape(len(rows), len(names))


def _rates(y: np.ndarray, categories: list[str]) -> dict[str, float]:
    out = {}
    for cat in sorted(set(categories)):
        mask = np.array([c == cat for c in categories])
        out[cat] = float((y[mask].sum() + 0.5) / (mask.sum() + 1.0))
    return out


def fit_models(rows: list[dict[str, float]], categories: list[str], labels: np.ndarray, strong_labels: np.ndarray,
               options: FitOptions) -> Calibration:
    """The four logistic models and per-category rates (the margin and skip level are set by the caller)."""
    y = np.asarray(labels, dtype=float)
    ys = np.asarray(strong_labels, dtype=float)
    s1 = fit_logistic(_matrix(rows, PROMPT_NAMES), y, PROMPT_NAMES, options.l2)
    s2 = fit_logistic(_matrix(rows, ALL_NAMES), y, ALL_NAMES, options.l2)
    so = fit_logistic(_matrix(rows, SIGNAL_NAMES), y, SIGNAL_NAMES, options.l2)
    st = fit_logistic(_matrix(rows, PROMPT_NAMES), ys, PROMPT_NAMES, options.l2)
    trained = {c: categories.count(c) for c in sorted(set(categories))}
    return Calibration(s1, s2, so, st, _rates(y, categories), _rates(ys, categories), trained, margin=0.0,
                       skip_below=0.0)


def fit_calibration(rows: list[dict[str, float]], categories: list[str], labels: np.ndarray,
                    strong_labels: np.ndarray, choose: Any, options: FitOptions | None = None) -> Calibration:
    """Fit on these items; the margin and the skip level are chosen by ``choose(p1, p2, ps)`` on
    out-of-fold scores of the same training items (an inner k-fold), never on in-sample scores."""
    options = options or FitOptions()
    labels = np.asarray(labels, dtype=bool)
    strong_labels = np.asarray(strong_labels, dtype=bool)
    cal = fit_models(rows, categories, labels, strong_labels, options)
    n = len(rows)
    p1, p2, ps = np.ones(n), np.zeros(n), np.zeros(n)
    k = min(options.inner_folds, max(2, int(labels.sum())), n)
    for train, test in kfold(labels, k, options.seed + 1):
        inner = fit_models([rows[i] for i in train], [categories[i] for i in train], labels[train],
                           strong_labels[train], options)
        p1[test], p2[test], ps[test] = inner.batch([rows[i] for i in test], [categories[i] for i in test])
    cal.margin, cal.skip_below = choose(p1, p2, ps)
    return cal
