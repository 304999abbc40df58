"""`baton endpoints test` against the real llama.cpp server on loopback (and through the fault proxy)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.fault_proxy import Fault, FaultProxy
from tests.helpers.llama_server import LlamaServer
from tests.helpers.proc import run_baton


def test_endpoint_test_ok_and_wrong_model(baton_home: Path, llama_srv: LlamaServer) -> None:
    assert run_baton(baton_home, "endpoints", "add", "lan", "--base-url", llama_srv.base_url,
                     "--model", llama_srv.model).returncode == 0
    proc = run_baton(baton_home, "endpoints", "test", "lan", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["models"] == [llama_srv.model] and doc["model_found"] is True
    assert run_baton(baton_home, "endpoints", "add", "lan", "--base-url", llama_srv.base_url,
                     "--model", "gpt-9", "--replace").returncode == 0
    bad = run_baton(baton_home, "endpoints", "test", "lan")
    assert bad.returncode == 1
    assert "model 'gpt-9' is not served" in bad.stderr and llama_srv.model in bad.stderr


def test_endpoint_test_reports_a_refused_key(baton_home: Path, fault_proxy: FaultProxy) -> None:
    fault_proxy.enqueue(Fault(status=401))
    assert run_baton(baton_home, "endpoints", "add", "lan", "--base-url", fault_proxy.base_url + "/v1",
                     "--model", "smollm2", "--key-env", "LAN_KEY").returncode == 0
    proc = run_baton(baton_home, "endpoints", "test", "lan", LAN_KEY="wrong-key-for-test")
    assert proc.returncode == 1
    assert "was refused" in proc.stderr and "baton keys set lan" in proc.stderr and "LAN_KEY" in proc.stderr
    assert "wrong-key-for-test" not in proc.stderr
    assert fault_proxy.requests[0].headers["authorization"] == "Bearer wrong-key-for-test"
