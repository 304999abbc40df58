"""`baton bench route` end to end on cached per-item results (no model runs): the CONTRACT's document."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from baton.cli import main
from baton.config import Endpoint, Settings
from baton.core.engine.defaults import DEFAULT_MODEL
from baton.bench.collect import ItemResult, cache_file, question_hash
from baton.paths import Paths

N = 80


def _write(path: Path, rows: list[ItemResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(asdict(r)) + "\n" for r in rows))


@pytest.fixture()
def bench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A home with one endpoint and cached results for both tiers over N synthetic items.

    Items with small numbers are right on the weak tier, and there the weak tier is confident; the strong
    tier is right on all but every 5th item. The weak tier costs 1 J an item, the strong one 10 J."""
    monkeypatch.setenv("BATON_HOME", str(tmp_path / "home"))
    paths = Paths.from_env().ensure()
    s = Settings()
    s.endpoints.append(Endpoint(name="strongep", base_url="http://127.0.0.1:9/v1", model="qwen"))
    s.save(paths.config_file)
    rng = np.random.default_rng(0)
    items, weak, strong = [], [], []
    for i in range(N):
        digits = 1 + i % 4
        a, b = rng.integers(10 ** (digits - 1), 10**digits, size=2)
        q = f"What is {a} + {b}?"
        items.append({"id": f"i{i}", "question": q, "answer": str(a + b), "tag": f"d{digits}"})
        right = digits == 1 or (digits == 2 and i % 3 == 0)
        lp = -0.1 if right else -1.5 + 0.3 * rng.random()
        weak.append(ItemResult(f"i{i}", question_hash(q), str(a + b) if right else "12", right, "stop",
                               {"n_tokens": 4, "mean_top1_logprob": lp, "min_top1_logprob": lp - 1,
                                "first_top1_logprob": lp, "mean_entropy": 0.5, "max_entropy": 1.0},
                               30, 4, 1.0, "estimated", 0.1))
        ok = i % 5 != 0
        strong.append(ItemResult(f"i{i}", question_hash(q), str(a + b) if ok else "0", ok, "stop", {"n_tokens": 5},
                                 30, 5, 10.0, "estimated:server_cpu_time", 0.5))
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(it) + "\n" for it in items))
    cache = tmp_path / "cache"
    _write(cache_file(cache, DEFAULT_MODEL.id), weak)
    _write(cache_file(cache, "qwen@127.0.0.1"), strong)
    return data, cache


def _run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(["bench", "route", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_route_bench_json_document(bench_home, capsys):
    data, cache = bench_home
    code, out, _ = _run(capsys, "--data", str(data), "--strong", "strongep", "--cache-dir", str(cache), "--no-run",
                        "--json", "--folds", "4")
    assert code == 0
    doc = json.loads(out)
    assert doc["n"] == N
    assert doc["acc_weak"] == pytest.approx(np.mean([(i % 4 == 0) or (i % 4 == 1 and i % 3 == 0) for i in range(N)]))
    assert doc["acc_strong"] == pytest.approx(0.8)
    routers = doc["routers"]
    assert set(routers) >= {"baton", "random", "oracle", "always_local", "always_strong"}
    for m in routers.values():
        assert set(m) >= {"apgr", "cpt50", "cpt80", "epca_j", "acc_at_default", "strong_calls_at_default"}
    assert routers["random"]["apgr"] == 0.5
    # confidence separates right from wrong here, so the router beats random and approaches the oracle
    assert routers["baton"]["apgr"] > 0.6 and routers["baton"]["apgr"] <= routers["oracle"]["apgr"] + 1e-9
    share = routers["baton"]["strong_calls_at_default"]
    assert routers["random"]["strong_calls_at_default"] == pytest.approx(share)
    assert routers["always_local"]["epca_j"] == pytest.approx(N * 1.0 / (doc["acc_weak"] * N), abs=1e-3)
    assert routers["always_strong"]["epca_j"] == pytest.approx(10.0 / 0.8, abs=1e-3)
    assert doc["energy"]["strong_sources"] == ["estimated:server_cpu_time"]
    assert doc["weak_model"] == DEFAULT_MODEL.id and doc["strong_model"] == "qwen@127.0.0.1"


def test_strong_j_per_token_reprices_cached_results(bench_home, capsys):
    data, cache = bench_home
    code, out, _ = _run(capsys, "--data", str(data), "--strong", "strongep", "--cache-dir", str(cache), "--no-run",
                        "--json", "--strong-j-per-token", "2")
    doc = json.loads(out)
    assert code == 0 and doc["energy"]["strong_j_per_item"] == pytest.approx((30 + 5) * 2.0)
    assert doc["energy"]["strong_sources"] == ["estimated:j_per_token"]


def test_human_table(bench_home, capsys):
    data, cache = bench_home
    code, out, _ = _run(capsys, "--data", str(data), "--strong", "strongep", "--cache-dir", str(cache), "--no-run",
                        "--limit", "40")
    assert code == 0 and "APGR" in out and "always_strong" in out and "40 items" in out


def test_no_cached_results_is_a_usage_error(bench_home, capsys, tmp_path):
    data, _ = bench_home
    code, _, err = _run(capsys, "--data", str(data), "--strong", "strongep", "--cache-dir", str(tmp_path / "empty"),
                        "--no-run")
    assert code == 2 and "run without --no-run" in err


def test_unknown_strong_tier(bench_home, capsys):
    data, cache = bench_home
    code, _, err = _run(capsys, "--data", str(data), "--strong", "nope", "--cache-dir", str(cache), "--no-run")
    assert code == 2 and "no endpoint named 'nope'" in err
