"""Escalation end to end: `baton ask` with a real OpenAI-compatible server on loopback as the remote tier."""

from __future__ import annotations

import pytest

from baton.core.store.db import Store
from tests.helpers.fault_proxy import Fault
from tests.helpers.proc import run_baton, run_json


def _add_endpoint(home, base_url: str, model: str) -> None:
    proc = run_baton(home, "endpoints", "add", "lan", "--base-url", base_url, "--model", model,
                     "--usd-per-mtok-in", "2", "--usd-per-mtok-out", "8", "--j-per-token", "0.3")
    assert proc.returncode == 0, proc.stderr


def test_tier_cloud_answers_remotely_with_cost_and_an_estimated_energy(baton_home, llama_srv):
    _add_endpoint(baton_home, llama_srv.base_url, llama_srv.model)
    r = run_json(baton_home, "ask", "--json", "--tier", "cloud", "--max-tokens", "16", "Say hello.")
    assert r["route"]["tier"] == "cloud" and r["route"]["endpoint"] == "lan" and r["text"].strip()
    u = r["usage"]
    expected_usd = (u["prompt_tokens"] * 2 + u["completion_tokens"] * 8) / 1e6
    assert r["cost"]["usd"] == pytest.approx(expected_usd, rel=1e-3)
    parts = r["energy"]["parts"]
    assert [(p["scope"], p["source"]) for p in parts] == [("remote", "estimated")]
    assert parts[0]["energy_j"] == pytest.approx(0.3 * (u["prompt_tokens"] + u["completion_tokens"]), rel=1e-3)


def test_auto_escalates_a_low_confidence_answer_and_counts_both_tiers(baton_home, llama_srv):
    _add_endpoint(baton_home, llama_srv.base_url, llama_srv.model)
    assert run_baton(baton_home, "config", "set", "routing.threshold", "1.0").returncode == 0
    r = run_json(baton_home, "ask", "--json", "--max-tokens", "16", "Name a famous bridge.")
    route = r["route"]
    assert route["tier"] == "cloud" and route["escalated"] is True and "confidence" in route["reason"]
    assert r["local_text"], "the replaced local answer is kept in the receipt"
    scopes = {p["scope"] for p in r["energy"]["parts"]}
    assert "remote" in scopes and len(scopes) >= 2, "energy includes every tier that ran"
    with Store(baton_home / "data" / "baton.sqlite3") as store:
        statuses = [(m.role, m.status) for m in store.history(r["thread_id"])]
        spend = store.spend_since(0)
    assert statuses == [("user", "done"), ("assistant", "escalated"), ("assistant", "done")]
    assert spend["escalations"] == 1 and spend["answers"] == 1


def test_a_failing_remote_tier_returns_the_local_answer_with_the_failure_stated(baton_home, fault_proxy):
    _add_endpoint(baton_home, fault_proxy.base_url + "/v1", "smollm2")
    assert run_baton(baton_home, "config", "set", "routing.threshold", "1.0").returncode == 0
    fault_proxy.enqueue(*[Fault(status=401)] * 4)
    proc = run_baton(baton_home, "ask", "--json", "--max-tokens", "16", "Name a famous bridge.")
    assert proc.returncode == 0, proc.stderr
    import json

    r = json.loads(proc.stdout)
    assert r["route"]["tier"] == "local" and r["route"]["escalated"] is False and r["text"].strip()
    assert any("escalation failed" in n for n in r["notices"])
    assert "escalation failed" in proc.stderr


def test_ask_mode_without_a_terminal_sends_nothing(baton_home, fault_proxy):
    _add_endpoint(baton_home, fault_proxy.base_url + "/v1", "smollm2")
    for key, value in (("routing.threshold", "1.0"), ("routing.mode", "ask")):
        assert run_baton(baton_home, "config", "set", key, value).returncode == 0
    r = run_json(baton_home, "ask", "--json", "--max-tokens", "16", "Name a famous bridge.")
    assert r["route"]["tier"] == "local" and not r["route"]["escalated"]
    assert not [s for s in fault_proxy.requests if s.path.endswith("/chat/completions")]
