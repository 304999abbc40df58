"""Per-item results of a tier: run once, cached, rerun instantly. One test runs the real default model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baton.core.engine.fake import FakeEngine
from baton.bench.collect import (FEWSHOT, ItemResult, ResultCache, bench_messages, cache_file, collect,
                                       load_items, local_runner, prompt_format, question_hash)
from baton.core.service import BATON_SYSTEM_PROMPT_FOR_BENCH
from baton.core.telemetry.meter import EnergyMeter
from baton.core.types import TokenSignals

ITEMS = [
    {"id": "a", "question": "What is 3 + 4?", "answer": "7", "tag": "arith-easy"},
    {"id": "b", "question": "What is 20 - 5?", "answer": "15", "tag": "arith-easy"},
    {"id": "c", "question": "What is 1,000 + 1?", "answer": "1,001", "tag": "arith-easy"},
]


@pytest.fixture()
def meter():
    m = EnergyMeter.for_machine(None, use_nvml=False)
    yield m
    m.close()


class CountingRunner:
    def __init__(self, run):
        self.run = run
        self.calls: list[str] = []

    def __call__(self, item):
        self.calls.append(item["id"])
        return self.run(item)


def test_collect_runs_once_then_reads_the_cache(tmp_path: Path, meter):
    eng = FakeEngine("fake-weak")
    eng.enqueue("3 + 4 = 7", TokenSignals(n_tokens=5, mean_top1_logprob=-0.2))
    eng.enqueue("20 - 5 = 14")
    eng.enqueue("1000 + 1 = 1,001")
    runner = CountingRunner(local_runner(eng, meter))
    path = cache_file(tmp_path, "fake-weak")
    first = collect(ITEMS, runner, ResultCache(path))
    assert [r.correct for r in first] == [True, False, True]
    assert first[0].signals["mean_top1_logprob"] == -0.2 and first[0].completion_tokens == 5
    assert all(r.energy_j >= 0 and r.duration_s >= 0 and r.energy_source for r in first)
    # the engine saw the benchmark prompt (by default what `baton ask` sends), then the question, at temperature 0
    req = eng.requests[0]
    assert [m.role for m in req.messages] == ["system", "user"]
    assert req.messages[0].content == BATON_SYSTEM_PROMPT_FOR_BENCH
    assert req.messages[-1].content == "What is 3 + 4?" and req.temperature == 0.0

    again = CountingRunner(local_runner(eng, meter))
    second = collect(ITEMS, again, ResultCache(path))
    assert again.calls == [] and [r.text for r in second] == [r.text for r in first]


def test_an_edited_question_runs_again_and_a_torn_line_is_ignored(tmp_path: Path, meter):
    path = tmp_path / "c.jsonl"
    cache = ResultCache(path)
    eng = FakeEngine("w")
    for _ in range(4):
        eng.enqueue("7")
    collect(ITEMS[:1], local_runner(eng, meter), cache)
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"id": "b", "question_sha"')  # a crash in the middle of a line
    edited = [{**ITEMS[0], "question": "What is 3 + 4 ?"}]
    runner = CountingRunner(local_runner(eng, meter))
    collect(edited + ITEMS[1:2], runner, ResultCache(path))
    assert runner.calls == ["a", "b"]


def test_cache_file_depends_on_model_and_settings(tmp_path: Path):
    a = cache_file(tmp_path, "m1")
    assert a != cache_file(tmp_path, "m2") != cache_file(tmp_path, "m1", max_tokens=64)
    assert a == cache_file(tmp_path, "m1") and a.parent == tmp_path
    assert a != cache_file(tmp_path, "m1", FEWSHOT)
    assert a == cache_file(tmp_path, "m1", prompt_format("service"))


def test_load_items_checks_the_file(tmp_path: Path):
    p = tmp_path / "d.jsonl"
    p.write_text("\n".join(json.dumps(i) for i in ITEMS) + "\n\n")
    assert [i["id"] for i in load_items(p)] == ["a", "b", "c"] and len(load_items(p, limit=2)) == 2
    from baton.core.errors import UsageError

    p.write_text(json.dumps({"id": "x", "question": "q"}) + "\n")
    with pytest.raises(UsageError, match="lacks answer"):
        load_items(p)
    p.write_text(json.dumps(ITEMS[0]) + "\n" + json.dumps(ITEMS[0]) + "\n")
    with pytest.raises(UsageError, match="repeats id"):
        load_items(p)
    with pytest.raises(UsageError, match="no benchmark file"):
        load_items(tmp_path / "missing.jsonl")


def test_item_result_round_trip():
    r = ItemResult("a", question_hash("q"), "7", True, "stop", {}, 10, 2, 1.5, "estimated", 0.2)
    assert ItemResult.from_dict({**r.__dict__, "unknown_future_field": 1}) == r


@pytest.mark.slow
def test_real_weak_model_on_three_items(tmp_path: Path, meter):
    """SmolLM2-135M through LlamaEngine with the real meter: signals and joules land in the cache."""
    from baton.core.engine.defaults import default_model_path
    from baton.core.engine.llama import LlamaEngine

    eng = LlamaEngine(default_model_path(None), n_ctx=1024, n_threads=1)
    try:
        runner = CountingRunner(local_runner(eng, meter, max_tokens=48))
        results = collect(ITEMS, runner, ResultCache(tmp_path / "real.jsonl"))
    finally:
        eng.close()
    assert runner.calls == ["a", "b", "c"]
    for r in results:
        assert r.completion_tokens > 0 and r.prompt_tokens > 20
        assert r.signals["n_tokens"] > 0 and r.signals["mean_top1_logprob"] < 0
        assert r.energy_j > 0 and r.energy_source != "unavailable"
    assert len(bench_messages("q", FEWSHOT)) == 2 + len(FEWSHOT.shots)
