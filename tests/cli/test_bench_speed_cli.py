"""`baton bench speed` runs both sides on the real default model and reports their ratio (no timing asserts)."""

import pytest

from tests.helpers.proc import run_baton, run_json


@pytest.mark.slow
def test_bench_speed_reports_both_sides_and_their_ratio(baton_home):
    doc = run_json(baton_home, "bench", "speed", "--json", "--tokens", "12", "--rounds", "2", "--max-rounds", "2")
    for key in ("baton_tokens_per_s", "raw_tokens_per_s", "ratio", "ttft_overhead_s", "baton_ttft_s", "raw_ttft_s"):
        assert key in doc
    assert doc["baton_tokens_per_s"] > 0 and doc["raw_tokens_per_s"] > 0
    assert abs(doc["ratio"] - doc["baton_tokens_per_s"] / doc["raw_tokens_per_s"]) < 0.01
    assert doc["rounds"] == 2 and len(doc["baton_completion_tokens"]) == 2
    lo, hi = doc["ratio_ci95"]
    assert lo <= doc["ratio_paired_median"] <= hi
    assert doc["n_ctx"] > 0 and doc["n_threads"] >= 1
    # the benchmark works in a scratch home: the user's threads are untouched
    assert not (baton_home / "data" / "baton.sqlite3").exists() or run_json(baton_home, "threads", "--json") == []


def test_bench_speed_rejects_silly_arguments(baton_home):
    assert run_baton(baton_home, "bench", "speed", "--tokens", "1").returncode == 2
