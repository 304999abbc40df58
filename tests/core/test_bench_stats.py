"""The paired-ratio interval the benchmarks report."""

import pytest

from baton.bench.stats import bootstrap_median_ci, resolved


def test_interval_brackets_the_median_and_narrows_with_more_rounds():
    few = [0.95, 1.02, 0.99, 1.01]
    many = few * 10
    lo1, hi1 = bootstrap_median_ci(few)
    lo2, hi2 = bootstrap_median_ci(many)
    assert lo1 <= 1.0 <= hi1 and lo2 <= 1.0 <= hi2
    assert hi2 - lo2 < hi1 - lo1


def test_resolved_needs_a_narrow_interval():
    assert not resolved([0.8, 1.2, 0.9, 1.1], 0.03)
    assert resolved([0.99, 1.0, 1.01, 1.0, 0.995, 1.005] * 5, 0.03)
    with pytest.raises(ValueError):
        bootstrap_median_ci([1.0])
