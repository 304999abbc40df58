"""The ladder in the real pipeline: SmolLM2-135M and Qwen2.5-Coder-0.5B as two local tiers (real llama.cpp), a
real loopback OpenAI-style server as the remote tier, the real router, SQLite store and meter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from baton.config import Endpoint, Settings
from baton.config_rules import ConfigError
from baton.core.errors import UsageError
from baton.core.engine.defaults import DEFAULT_MODEL
from baton.core.service import BatonService
from baton.core.store.db import Store
from baton.paths import Paths
from tests.helpers.recording_server import RecordingServer

pytestmark = pytest.mark.slow

QUESTION = ("Write a Python function add(a, b) that returns the sum of a and b.\n"
            "assert add(2, 3) == 5")
CODE = "```python\ndef add(a, b):\n    return a + b\n```"
SMALL = DEFAULT_MODEL.id


@pytest.fixture()
def remote() -> Iterator[RecordingServer]:
    with RecordingServer(reply=CODE) as srv:
        yield srv


def _service(home: Path, qwen: Path, endpoint: Endpoint | None, threshold: float, offline: bool = False,
             verify: str = "off") -> BatonService:
    settings = Settings()
    settings.engine.parallel = 1
    settings.engine.n_ctx = 1024
    settings.engine.temperature = 0.0
    settings.routing.threshold = threshold
    settings.offline = offline
    settings.verify.mode = verify
    settings.endpoints = [endpoint] if endpoint is not None else []
    settings.routing.ladder = [SMALL, str(qwen)] + ([endpoint.name] if endpoint is not None else [])
    return BatonService.build(Paths.from_env({"BATON_HOME": str(home)}), settings)


def _loopback(srv: RecordingServer) -> Endpoint:
    return Endpoint("box", f"http://127.0.0.1:{srv.port}/v1", "big-coder", usd_per_mtok_in=1.0,
                    usd_per_mtok_out=2.0, j_per_token=0.5)


def test_a_code_question_climbs_one_step_at_a_time_and_the_receipt_lists_every_step(
        baton_home, strong_model_path, remote):
    svc = _service(baton_home, strong_model_path, _loopback(remote), threshold=1.0)  # nothing is good enough
    statuses: list[str] = []
    try:
        res = svc.ask(QUESTION, max_tokens=16, on_status=statuses.append)
        rungs = [SMALL, strong_model_path.stem, "box"]
        steps = res.receipt()["ladder"]
        start = res.route.signals["ladder_start"]
        assert [s["tier"] for s in steps] == rungs[start:], "one step at a time from the start to the last tier"
        assert [s["verdict"] for s in steps] == ["rejected"] * (len(steps) - 1) + ["accepted"]
        assert [s["kind"] for s in steps][-1] == "cloud" and steps[-1]["where"] == "this_computer"
        for s in steps:
            assert s["tokens"] > 0 and s["energy_j"] > 0 and s["score"] is not None and s["reason"]
            assert s["verification"]["sentence"] == "not run: verification off"
        assert steps[-1]["usd"] > 0 and all(s["usd"] == 0 for s in steps[:-1])
        assert res.text == CODE and res.route.tier == "cloud" and res.route.escalated
        assert res.energy.total_j == pytest.approx(sum(s["energy_j"] for s in steps), rel=0.01, abs=0.01)
        assert "stopped at box" in res.route.reason and "last tier" in res.route.reason
        assert any("climbing to" in s or "escalating to box" in s for s in statuses)
        assert len(remote.chat_bodies()) == 1
        statuses_kept = [(m.role, m.status, m.model) for m in svc.store.history(res.thread_id)]
    finally:
        svc.close()
    # every answer stays in the thread: the climbed-over ones as escalated versions, the last one current
    assert statuses_kept[0][:2] == ("user", "done")
    assert [st for _r, st, _m in statuses_kept[1:]] == ["escalated"] * (len(steps) - 1) + ["done"]


def test_with_verification_on_each_step_says_how_many_examples_pass(baton_home, strong_model_path, remote):
    svc = _service(baton_home, strong_model_path, _loopback(remote), threshold=1.0, verify="on")
    svc.settings.routing.ladder = [SMALL, "box"]
    try:
        res = svc.ask(QUESTION, max_tokens=24)
    finally:
        svc.close()
    steps = res.receipt()["ladder"]
    assert steps[-1]["tier"] == "box" and steps[-1]["verification"]["state"] == "passed"
    assert steps[-1]["verification"]["sentence"] == "1 of 1 example passes"
    assert all(s["verification"]["state"] in ("passed", "failed") for s in steps)
    assert res.receipt()["verification"] == steps[-1]["verification"]


def test_an_accepted_first_answer_stops_at_once(baton_home, strong_model_path, remote):
    svc = _service(baton_home, strong_model_path, _loopback(remote), threshold=0.0)  # every answer is good enough
    try:
        res = svc.ask("Say hello.", max_tokens=8)
    finally:
        svc.close()
    steps = res.receipt()["ladder"]
    assert len(steps) == 1 and steps[0]["tier"] == SMALL and steps[0]["verdict"] == "accepted"
    assert res.route.tier == "local" and not res.route.escalated and "stopped at" in res.route.reason
    assert remote.chat_bodies() == []


def test_offline_stops_at_the_last_local_tier_and_says_why(baton_home, strong_model_path):
    far = Endpoint("far", "https://llm.example.net/v1", "big", usd_per_mtok_in=1.0, usd_per_mtok_out=2.0)
    svc = _service(baton_home, strong_model_path, far, threshold=1.0, offline=True)
    try:
        res = svc.ask(QUESTION, max_tokens=12)
    finally:
        svc.close()
    steps = res.receipt()["ladder"]
    assert steps[-1]["tier"] == strong_model_path.stem and steps[-1]["verdict"] == "kept"
    assert res.route.tier == "local" and "offline" in res.route.reason and "far" in res.route.reason


def test_baton_ask_json_lists_the_steps_and_never_asks_to_verify(baton_home, remote):
    from tests.helpers.proc import run_baton

    assert run_baton(baton_home, "endpoints", "add", "box", "--base-url", f"http://127.0.0.1:{remote.port}/v1",
                     "--model", "big-coder", "--usd-per-mtok-out", "2").returncode == 0
    for key, value in (("routing.ladder", f"{SMALL},box"), ("routing.threshold", "1.0")):
        proc = run_baton(baton_home, "config", "set", key, value)
        assert proc.returncode == 0, proc.stderr
    proc = run_baton(baton_home, "ask", "--json", "--max-tokens", "12", QUESTION)
    assert proc.returncode == 0, proc.stderr
    import json

    r = json.loads(proc.stdout)
    steps = r["ladder"]
    assert steps and steps[-1]["tier"] == "box" and r["route"]["tier"] == "cloud"
    for s in steps:
        assert {"tier", "where", "tokens", "energy_j", "usd", "verdict", "score", "verification"} <= set(s)
        assert s["verification"]["sentence"] == "not run: verification off", "the CLI treats verify.mode ask as off"
    assert "tiers: " in proc.stderr and "box (" in proc.stderr and "stopped at box" in proc.stderr


def test_a_pinned_tier_or_model_bypasses_the_ladder(baton_home, strong_model_path, remote):
    svc = _service(baton_home, strong_model_path, _loopback(remote), threshold=1.0)
    try:
        local = svc.ask("Say hello.", tier="local", max_tokens=6)
        pinned = svc.ask("Say hello.", model=str(strong_model_path), tier="local", max_tokens=6)
        cloud = svc.ask("Say hello.", endpoint="box", max_tokens=6)
    finally:
        svc.close()
    assert local.receipt()["ladder"] == [] and local.route.model == SMALL
    assert pinned.receipt()["ladder"] == [] and pinned.route.model == strong_model_path.stem
    assert cloud.receipt()["ladder"] == [] and cloud.route.tier == "cloud"


def test_an_unknown_ladder_entry_is_one_line_naming_the_fix(baton_home, strong_model_path):
    svc = _service(baton_home, strong_model_path, None, threshold=0.0)
    svc.settings.routing.ladder = [SMALL, "no-such-model"]
    try:
        with pytest.raises(ConfigError) as err:
            svc.ask("Say hello.", max_tokens=4)
        with Store(svc.paths.db_file) as store:
            assert store.list_threads() == [], "nothing is written for a bad ladder"
    finally:
        svc.close()
    msg = str(err.value)
    assert "\n" not in msg and "'no-such-model'" in msg and "baton config set routing.ladder" in msg


@pytest.mark.parametrize("value", ["a,a", ",".join(f"m{i}" for i in range(9))])
def test_bad_ladder_values_are_refused_in_one_line(value):
    with pytest.raises(UsageError) as err:
        Settings().set("routing.ladder", value)
    assert "\n" not in str(err.value) and "routing.ladder" in str(err.value)


def test_the_ladder_and_verify_mode_round_trip_through_the_file(tmp_path):
    s = Settings()
    s.set("routing.ladder", "smollm2-135m-instruct-q4_1, /models/qwen.gguf ,box")
    s.set("verify.mode", "on")
    s.save(tmp_path / "c.toml")
    again = Settings.load(tmp_path / "c.toml")
    assert again.routing.ladder == ["smollm2-135m-instruct-q4_1", "/models/qwen.gguf", "box"]
    assert again.verify.mode == "on"
    (tmp_path / "bad.toml").write_text('[verify]\nmode = "sometimes"\n')
    with pytest.raises(ConfigError) as err:
        Settings.load(tmp_path / "bad.toml")
    assert "verify.mode" in str(err.value) and "ask, on, off" in str(err.value) and "\n" not in str(err.value)
