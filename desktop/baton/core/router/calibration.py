"""A small, honest score model: L2-regularised logistic regression fitted with numpy (Newton steps).

Features are standardised with the training mean and spread, so the coefficients are comparable and
the shipped defaults are a short list of numbers (see ``shipped.py``). ``kfold`` gives the splits that
keep every reported number out-of-fold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def sigmoid(z: np.ndarray | float) -> np.ndarray | float:
    z = np.clip(z, -40.0, 40.0)
    return 1.0 / (1.0 + np.exp(-z))


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


@dataclass
class LogisticModel:
    names: list[str]
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def logits(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(sigmoid(self.logits(x)))

    def predict_one(self, features: dict[str, float], offset: float = 0.0) -> float:
        x = np.array([float(features.get(n, 0.0)) for n in self.names])
        return float(sigmoid(float(self.logits(x)[0]) + offset))

    def contributions(self, features: dict[str, float], top: int = 3) -> list[tuple[str, float]]:
        """The features that moved this score most (in logits), for the receipt's explanation."""
        x = np.array([float(features.get(n, 0.0)) for n in self.names])
        c = (x - self.mean) / self.scale * self.weights
        order = np.argsort(-np.abs(c))[:top]
        return [(self.names[i], round(float(c[i]), 3)) for i in order if abs(c[i]) > 1e-9]

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(float(self.bias), 6),
            "mean": [round(float(m), 6) for m in self.mean],
            "scale": [round(float(s), 6) for s in self.scale],
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LogisticModel":
        return cls(list(d["names"]), np.array(d["weights"], dtype=float), float(d["bias"]),
                   np.array(d["mean"], dtype=float), np.array(d["scale"], dtype=float), dict(d.get("meta", {})))


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
