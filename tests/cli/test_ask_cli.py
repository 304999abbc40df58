"""`baton ask` end to end: the real CLI, the real SmolLM2, a real SQLite store in a tmp BATON_HOME."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from baton.core.store.db import Store
from tests.helpers.proc import baton_env, run_baton, run_json

RECEIPT_KEYS = {"text", "thread_id", "message_id", "route", "usage", "timing", "energy", "memory", "cost"}


def _threads(home: Path) -> list:
    db = home / "data" / "baton.sqlite3"
    if not db.exists():
        return []
    with Store(db) as store:
        return store.list_threads(include_archived=True)


@pytest.mark.slow
def test_ask_json_prints_the_contract_receipt(baton_home):
    r = run_json(baton_home, "ask", "--json", "--max-tokens", "24", "What is the capital of France?")
    assert RECEIPT_KEYS <= r.keys()
    assert r["text"].strip()
    route = r["route"]
    assert route["tier"] == "local" and route["escalated"] is False and route["reason"]
    assert route["model"] == "smollm2-135m-instruct-q4_1" and route["endpoint"] is None
    assert 0 < r["usage"]["completion_tokens"] <= 24 and r["usage"]["prompt_tokens"] > 5
    t = r["timing"]
    assert t["load_s"] > 0 and 0 < t["ttft_s"] <= t["total_s"] and t["decode_tokens_per_s"] > 0
    e = r["energy"]
    assert e["total_j"] > 0 and e["parts"], "every answer carries an energy figure"
    assert all(p["source"] and p["scope"] for p in e["parts"]), "never a figure without its source"
    assert abs(e["measured_j"] + e["estimated_j"] - e["total_j"]) < 1e-3
    assert r["memory"]["rss_bytes"] > 50_000_000
    assert r["cost"]["usd"] == 0.0
    # the answer is in the store, finished, with its receipt
    with Store(baton_home / "data" / "baton.sqlite3") as store:
        msgs = store.history(r["thread_id"])
        assert [m.role for m in msgs] == ["user", "assistant"]
        assert msgs[1].content == r["text"] and msgs[1].status == "done"
        assert store.receipt(r["message_id"])["energy"]["total_j"] == e["total_j"]


@pytest.mark.slow
def test_ask_streams_text_to_stdout_and_a_receipt_to_stderr(baton_home):
    proc = run_baton(baton_home, "ask", "--max-tokens", "16", "Say hello.")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert "tok/s" in proc.stderr and " J (" in proc.stderr and "estimated" in proc.stderr


@pytest.mark.slow
def test_a_two_turn_thread_carries_its_history(baton_home):
    first = run_json(baton_home, "ask", "--json", "--max-tokens", "24", "My name is Ada. Say hi.")
    second = run_json(baton_home, "ask", "--json", "--max-tokens", "24", "--thread", first["thread_id"][:8],
                      "What is my name?")
    assert second["thread_id"] == first["thread_id"]
    # the second prompt contains the first turn
    assert second["usage"]["prompt_tokens"] > first["usage"]["prompt_tokens"] + first["usage"]["completion_tokens"]
    with Store(baton_home / "data" / "baton.sqlite3") as store:
        assert [m.role for m in store.history(first["thread_id"])] == ["user", "assistant"] * 2


def _bad_files(tmp: Path, good: Path) -> dict[str, Path]:
    trunc = tmp / "truncated.gguf"
    with open(good, "rb") as f:
        trunc.write_bytes(f.read(3_000_000))
    notgguf = tmp / "notes.gguf"
    notgguf.write_text("this is a text file, not a model\n" * 100)
    absurd = tmp / "absurd.gguf"
    absurd.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**60, 2**60) + b"\0" * 64)
    folder = tmp / "folder.gguf"
    folder.mkdir()
    return {"truncated": trunc, "not-gguf": notgguf, "absurd": absurd, "directory": folder,
            "missing": tmp / "nope.gguf"}


@pytest.mark.parametrize("kind", ["truncated", "not-gguf", "absurd", "directory", "missing"])
def test_bad_model_files_fail_with_one_clear_line_and_write_nothing(baton_home, tmp_path, default_model_path,
                                                                    kind):
    path = _bad_files(tmp_path, default_model_path)[kind]
    proc = run_baton(baton_home, "ask", "--model", str(path), "hello")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("baton: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert _threads(baton_home) == []


def test_empty_prompt_is_refused(baton_home):
    # an empty prompt is bad usage (CONTRACT: exit 2), like any other wrong argument
    proc = run_baton(baton_home, "ask", "   ")
    assert proc.returncode == 2 and "prompt is empty" in proc.stderr
    assert _threads(baton_home) == []


@pytest.mark.slow
def test_prompt_longer_than_the_context_is_refused(baton_home):
    cfg = baton_home / "config"
    cfg.mkdir(exist_ok=True)
    (cfg / "config.toml").write_text("[engine]\nn_ctx = 256\n")
    proc = run_baton(baton_home, "ask", "--tier", "local", "-", input="lorem ipsum dolor " * 300)
    assert proc.returncode == 1, proc.stderr
    assert "context" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert _threads(baton_home) == []


def test_bad_usage_exits_2(baton_home):
    assert run_baton(baton_home, "ask", "--tier", "moon", "hi").returncode == 2
    assert run_baton(baton_home, "ask").returncode == 2


@pytest.mark.slow
def test_a_killed_ask_leaves_its_partial_answer_in_the_store(baton_home):
    # a fixed seed: the same long answer every run (unseeded sampling sometimes stops early, greedy loops)
    proc = subprocess.Popen(
        [sys.executable, "-m", "baton", "ask", "--max-tokens", "3000", "--seed", "0",
         "Write a very long story about a lighthouse keeper, with many chapters."],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=baton_env(baton_home))
    try:
        got = b""
        deadline = time.monotonic() + 120
        while len(got) < 200 and time.monotonic() < deadline:
            got += os.read(proc.stdout.fileno(), 64)
        time.sleep(1.5)  # let the store catch up with what was printed (it saves at least every 0.5 s)
        assert proc.poll() is None, "the answer finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    threads = _threads(baton_home)
    assert len(threads) == 1
    with Store(baton_home / "data" / "baton.sqlite3") as store:
        msgs = store.history(threads[0].id)
    answer = msgs[-1]
    assert answer.role == "assistant" and answer.status == "interrupted"
    assert len(answer.content) >= 150
    assert got.decode("utf-8", "ignore").strip()[:50] in answer.content


@pytest.mark.slow
def test_receipts_subtract_the_idle_baseline_once_one_was_measured(baton_home):
    before = run_json(baton_home, "ask", "--json", "--max-tokens", "4", "hi")
    assert before["energy"]["net_j"] is None, "no baseline yet: no net figure is invented"
    assert run_baton(baton_home, "energy", "probe", "--idle-s", "0.3").returncode == 0
    after = run_json(baton_home, "ask", "--json", "--max-tokens", "4", "hi")
    net, gross = after["energy"]["net_j"], after["energy"]["total_j"]
    assert net is not None and net < gross
    assert "idle" in after["energy"]["parts"][0]["note"]


def test_the_same_seed_gives_the_same_sampled_answer(baton_home):
    args = ("ask", "--json", "--tier", "local", "--max-tokens", "24", "--temperature", "1.0")
    a = run_json(baton_home, *args, "--seed", "7", "Tell me about owls.")
    b = run_json(baton_home, *args, "--seed", "7", "Tell me about owls.")
    assert a["text"] == b["text"] and a["text"].strip()
