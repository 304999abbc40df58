"""`baton bench threads` runs the three sides on the real default model and reports the contract's fields."""

import pytest

from tests.helpers.proc import run_baton, run_json


@pytest.mark.slow
def test_bench_threads_reports_ratios_energy_split_and_warm_start(baton_home):
    doc = run_json(baton_home, "bench", "threads", "--json", "--threads", "2", "--tokens", "12", "--rounds", "2",
                   "--history-tokens", "128")
    for key in ("threads", "sequential_tokens_per_s", "concurrent_tokens_per_s", "ratio", "raw_batched_tokens_per_s",
                "ratio_to_raw", "j_per_token_sequential", "j_per_token_concurrent", "energy_split_error",
                "history_tokens", "cold_ttft_s", "warm_ttft_s", "warm_ratio"):
        assert key in doc, key
    assert doc["threads"] == 2 and doc["rounds"] == 2 and doc["history_tokens"] == 128
    assert doc["sequential_tokens_per_s"] > 0 and doc["concurrent_tokens_per_s"] > 0
    lo, hi = doc["ratio_ci95"]
    assert lo <= doc["ratio"] <= hi
    assert doc["energy_split_error"] is not None and doc["energy_split_error"] <= 0.01
    assert doc["shared_with"] == [1, 1]  # each answer knows it shared the machine with the other
    fair = doc["fairness"]  # the reference loop read the prompts Baton sent, with the same context and threads
    assert fair["same_prompt_tokens"] and fair["n_ctx_per_thread"] > 0 and fair["n_threads"] >= 1
    assert len(doc["load_average"]) == 2
    # the bare loop one sequence at a time, beside its batched run: the machine's own batching gain
    assert doc["raw_sequential_tokens_per_s"] > 0
    assert doc["raw_batching_gain"] == pytest.approx(doc["raw_batched_tokens_per_s"] / doc["raw_sequential_tokens_per_s"],
                                                     rel=0.5)
    glo, ghi = doc["raw_batching_gain_ci95"]
    assert glo <= doc["raw_batching_gain"] <= ghi
    if doc["energy_sources"] == ["estimated"]:
        assert "only the CPU estimate" in doc["energy_note"]


@pytest.mark.parametrize("args", [["--threads", "0"], ["--tokens", "1"], ["--history-tokens", "-1"]])
def test_bench_threads_rejects_silly_arguments(baton_home, args):
    r = run_baton(baton_home, "bench", "threads", *args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
