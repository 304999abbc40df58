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
    """The logistic function 1 / (1 + e^-z), elementwise; ``z`` is clipped to [-40, 40] so it never overflows."""
    z = np.clip(z, -40.0, 40.0)
    return 1.0 / (1.0 + np.exp(-z))


def logit(p: float) -> float:
    """log(p / (1 - p)), with ``p`` clipped to [1e-6, 1 - 1e-6] so 0 and 1 stay finite."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


@dataclass
class LogisticModel:
    """A fitted logistic model over named features: ``weights`` act on features standardised by ``mean`` and
    ``scale`` (one per name, from the training data), plus ``bias``; ``meta`` is free-form. Fitted by
    ``baton.bench.fit.fit_logistic``; the shipped ones are in ``shipped.py``."""

    names: list[str]
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Log-odds for the rows of ``x`` (shape (n, len(names)), or one row): shape (n,)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for the rows of ``x`` (shape (n, len(names))): shape (n,), each in (0, 1)."""
        return np.asarray(sigmoid(self.logits(x)))

    def predict_one(self, features: dict[str, float], offset: float = 0.0) -> float:
        """The probability for one feature dict (a missing name counts 0.0), with ``offset`` added to the log-odds
        first (the user's learned shift)."""
        x = np.array([float(features.get(n, 0.0)) for n in self.names])
        return float(sigmoid(float(self.logits(x)[0]) + offset))

    def contributions(self, features: dict[str, float], top: int = 3) -> list[tuple[str, float]]:
        """The features that moved this score most (in logits), for the receipt's explanation."""
        x = np.array([float(features.get(n, 0.0)) for n in self.names])
        c = (x - self.mean) / self.scale * self.weights
        order = np.argsort(-np.abs(c))[:top]
        return [(self.names[i], round(float(c[i]), 3)) for i in order if abs(c[i]) > 1e-9]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists of floats rounded to 6 decimals); ``from_dict`` reads it back."""
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
        """The model ``to_dict`` wrote. Raises ``KeyError`` when a field is missing."""
        return cls(list(d["names"]), np.array(d["weights"], dtype=float), float(d["bias"]),
                   np.array(d["mean"], dtype=float), np.array(d["scale"], dtype=float), dict(d.get("meta", {})))
