"""A small, honest score model: L2-regularised logistic regression, as the router evaluates it.

Features are standardised with the training mean and spread, so the coefficients are comparable and
the shipped defaults are a short list of numbers (see ``shipped.py``). Fitting (Newton steps with numpy)
and the k-fold splits that keep every reported number out-of-fold live in ``baton.bench.fit``.
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
