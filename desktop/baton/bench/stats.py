"""Paired-ratio statistics for benchmarks measured side by side in one run."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence


def bootstrap_median_ci(values: Sequence[float], confidence: float = 0.95, resamples: int = 4000,
                        seed: int = 7) -> tuple[float, float]:
    """A percentile-bootstrap interval for the median of ``values`` (e.g. per-round paired ratios).

    Returns (low, high) at ``confidence`` (0.95: the 2.5th and 97.5th percentiles of ``resamples`` medians of
    resamples drawn with replacement). A fixed ``seed`` makes the interval repeatable for the same values.
    Raises ValueError for fewer than two values.
    """
    vals = [float(v) for v in values]
    if len(vals) < 2:
        raise ValueError("a bootstrap interval needs at least two values")
    rng = random.Random(seed)
    n = len(vals)
    meds = sorted(statistics.median(rng.choices(vals, k=n)) for _ in range(resamples))
    lo_i = int((1.0 - confidence) / 2.0 * resamples)
    hi_i = min(resamples - 1, int((1.0 + confidence) / 2.0 * resamples))
    return meds[lo_i], meds[hi_i]


def resolved(values: Sequence[float], resolution: float) -> bool:
    """True when the 95% interval of the median is no wider than ``resolution`` (e.g. 0.03 to tell 0.97 from 1.0):
    enough rounds to resolve a difference of that size."""
    if len(values) < 2:
        return False
    lo, hi = bootstrap_median_ci(values)
    return hi - lo <= resolution
