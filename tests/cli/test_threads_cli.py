"""`baton threads` run as a real subprocess against a real database under BATON_HOME."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from baton.core.store import Store
from baton.paths import Paths
from tests.helpers.proc import run_baton, run_json

DESKTOP = Path(__file__).resolve().parents[2] / "desktop"


def baton(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, BATON_HOME=str(home),
               PYTHONPATH=str(DESKTOP) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "baton", *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def filled(home: Path) -> dict[str, str]:
    store = Store(Paths.from_env({"BATON_HOME": str(home)}).db_file)
    old = store.create_thread("old thread")
    store.add_message(old.id, "user", "first question")
    new = store.create_thread()
    store.add_message(new.id, "user", "What is the capital of France?\nAnswer briefly.")
    answer = store.begin_answer(new.id, "smollm2", "local")
    store.finish_answer(answer.id, "Paris.", "done", {
        "route": {"tier": "local", "escalated": False}, "energy": {"total_j": 12.5}, "cost": {"usd": 0.0}})
    cloud = store.begin_answer(new.id, "gpt", "cloud")
    store.finish_answer(cloud.id, "Paris, France.", "done", {
        "route": {"tier": "cloud", "escalated": True}, "energy": {"total_j": 3.0}, "cost": {"usd": 0.002}})
    store.close()
    return {"old": old.id, "new": new.id, "answer": answer.id}


def test_threads_json_lists_threads_newest_first_with_spend(home: Path, filled: dict) -> None:
    res = baton(home, "threads", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [t["id"] for t in doc] == [filled["new"], filled["old"]]
    top = doc[0]
    assert top["title"] == "What is the capital of France?"  # named from the first user message
    assert (top["messages"], top["energy_j"], top["usd"]) == (3, 15.5, 0.002)
    assert isinstance(top["updated_at"], float) and top["archived"] is False
    assert doc[1]["messages"] == 1 and doc[1]["energy_j"] == 0.0


def test_threads_show_prints_messages_and_receipts(home: Path, filled: dict) -> None:
    res = baton(home, "threads", "show", filled["new"][:8], "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["thread"]["id"] == filled["new"]
    msgs = doc["messages"]
    assert [(m["role"], m["content"]) for m in msgs] == [
        ("user", "What is the capital of France?\nAnswer briefly."), ("assistant", "Paris."),
        ("assistant", "Paris, France.")]
    assert msgs[1]["receipt"]["energy"]["total_j"] == 12.5 and msgs[0]["receipt"] is None
    assert msgs[1]["model"] == "smollm2" and msgs[2]["tier"] == "cloud"

    human = baton(home, "threads", "show", filled["new"])
    assert human.returncode == 0, human.stderr
    assert "Paris, France." in human.stdout and "12.5 J" in human.stdout


def test_threads_rm_deletes_and_unknown_ids_exit_1(home: Path, filled: dict) -> None:
    res = baton(home, "threads", "rm", filled["old"])
    assert res.returncode == 0, res.stderr
    listed = json.loads(baton(home, "threads", "--json").stdout)
    assert [t["id"] for t in listed] == [filled["new"]]

    missing = baton(home, "threads", "show", "doesnotexist")
    assert missing.returncode == 1
    assert "no thread doesnotexist; list with `baton threads`" in missing.stderr
    assert missing.stdout == ""


def test_threads_on_a_fresh_home_is_an_empty_list(home: Path) -> None:
    res = baton(home, "threads", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == []
    human = baton(home, "threads")
    assert human.returncode == 0 and "no threads yet" in human.stderr


# ---- versions: an edited first question, a retried answer, an abandoned branch ------------------------------------

ESCAPES = "Use walkdir \x1b]52;c;ZXZpbA==\x07 crate.\x1b[2J"
RECEIPT = {"route": {"tier": "cloud", "escalated": False, "where": "cloud"}, "energy": {"total_j": 4.0,
           "measured_j": 0.0}, "cost": {"usd": 0.0031}, "usage": {"completion_tokens": 42}, "timing": {"total_s": 1.5}}


def _answer(store: Store, tid: str, text: str, model: str = "smollm2", tier: str = "local", **kw: Any) -> str:
    a = store.begin_answer(tid, model, tier, **kw)
    store.finish_answer(a.id, text, "done", RECEIPT if tier == "cloud" else {
        "route": {"tier": "local", "where": "this_computer"}, "energy": {"total_j": 2.0}, "cost": {"usd": 0.0}})
    return a.id


def build_versions(home: Path) -> dict[str, str]:
    """A thread whose first question was edited (the old one had a follow-up), whose answer was retried on a cloud,
    and whose last answer carries terminal escapes."""
    ids: dict[str, str] = {}
    with Store(Paths.from_env({"BATON_HOME": str(home)}).db_file) as store:
        q1 = store.add_message(None, "user", "How do I list files in Go?")
        tid = ids["thread"] = q1.thread_id
        ids["q1"] = q1.id
        ids["a1"] = _answer(store, tid, "Use os.ReadDir.")
        ids["q2"] = store.add_message(tid, "user", "And recursively in Go?").id
        ids["a2"] = _answer(store, tid, "Use filepath.WalkDir.")
        ids["q1b"] = store.add_message(tid, "user", "How do I list files in Rust?", parent_id=None).id  # edit
        store.set_status(q1.id, "replaced")
        ids["a1b_old"] = _answer(store, tid, "Use std::fs::read_dir.", parent_id=ids["q1b"])
        ids["a1b"] = _answer(store, tid, "Use std::fs::read_dir in a loop.", "gpt", "cloud", parent_id=ids["q1b"])
        store.set_status(ids["a1b_old"], "replaced")  # retried on the cloud
        ids["q3"] = store.add_message(tid, "user", "Show a recursive walk").id
        ids["a3"] = _answer(store, tid, ESCAPES)
    return ids


CURRENT = ["q1b", "a1b", "q3", "a3"]
OFF_PATH = ["q1", "a1", "q2", "a2", "a1b_old"]


def _blocks(stdout: str) -> list[str]:
    """The header line of each message block in `threads show` output."""
    return [ln for ln in stdout.splitlines() if re.match(r"^\[(\d+|-)\] ", ln)]


def test_show_prints_the_current_versions_in_place_with_short_ids(baton_home: Path) -> None:
    ids = build_versions(baton_home)
    res = run_baton(baton_home, "threads", "show", ids["thread"][:6])
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.splitlines()[0] == f"# How do I list files in Rust?  [{ids['thread']}]"  # the title follows the edit
    heads = _blocks(out)
    assert [h.split(" · ")[1] for h in heads] == [ids[k][:8] for k in CURRENT]
    assert heads[0] == f"[1] user · {ids['q1b'][:8]} · done · version 2 of 2:"
    assert heads[1] == f"[2] assistant · {ids['a1b'][:8]} · done · via gpt (cloud) · version 2 of 2:"
    assert heads[2] == f"[3] user · {ids['q3'][:8]} · done:"
    for gone in ("How do I list files in Go?", "Use os.ReadDir.", "And recursively in Go?", "Use std::fs::read_dir.\n"):
        assert gone not in out
    assert "receipt: 42 tok · 1.50 s · 4.0 J (estimated) · $0.0031 · a cloud" in out
    assert "\x1b" not in out and "\x07" not in out and "^[]52;c;ZXZpbA==^G" in out  # shown, never obeyed


def test_show_all_marks_earlier_versions_and_abandoned_branches(baton_home: Path) -> None:
    ids = build_versions(baton_home)
    res = run_baton(baton_home, "threads", "show", ids["thread"], "--all")
    assert res.returncode == 0, res.stderr
    heads = {h.split(" · ")[1]: h for h in _blocks(res.stdout)}
    assert set(heads) == {ids[k][:8] for k in CURRENT + OFF_PATH}
    assert heads[ids["q1"][:8]] == f"[-] user · {ids['q1'][:8]} · replaced · version 1 of 2 · earlier version:"
    assert heads[ids["a1b_old"][:8]].endswith("· replaced · via smollm2 (local) · version 1 of 2 · earlier version:")
    for k in ("a1", "q2", "a2"):
        assert heads[ids[k][:8]].startswith("[-] ") and heads[ids[k][:8]].endswith("· not on the current path:")
    for n, k in enumerate(CURRENT, start=1):
        assert heads[ids[k][:8]].startswith(f"[{n}] ") and "current path" not in heads[ids[k][:8]]
    order = [h.split(" · ")[1] for h in _blocks(res.stdout)]  # each branch follows the message it grew from
    assert order == [ids[k][:8] for k in ("q1", "a1", "q2", "a2", "q1b", "a1b_old", "a1b", "q3", "a3")]


def test_show_json_gives_every_message_with_parent_current_flag_and_receipt(baton_home: Path) -> None:
    ids = build_versions(baton_home)
    doc = run_json(baton_home, "threads", "show", ids["thread"], "--json")
    msgs = {m["id"]: m for m in doc["messages"]}
    assert set(msgs) == {ids[k] for k in CURRENT + OFF_PATH}
    assert doc["current_path"] == [ids[k] for k in CURRENT]
    assert {mid for mid, m in msgs.items() if m["current"]} == {ids[k] for k in CURRENT}
    assert msgs[ids["q1b"]]["parent_id"] is None and msgs[ids["a1b"]]["parent_id"] == ids["q1b"]
    assert msgs[ids["q3"]]["parent_id"] == ids["a1b"] and msgs[ids["q2"]]["parent_id"] == ids["a1"]
    assert (msgs[ids["a1b_old"]]["status"], msgs[ids["a1b_old"]]["version"], msgs[ids["a1b_old"]]["versions"]) == (
        "replaced", 1, 2)
    assert msgs[ids["a1b"]]["receipt"] == RECEIPT and msgs[ids["q1b"]]["receipt"] is None
    assert msgs[ids["a3"]]["content"] == ESCAPES  # verbatim
    assert msgs[ids["a3"]]["short_id"] == ids["a3"][:8]
    for m in doc["messages"]:
        assert {"id", "parent_id", "role", "status", "content", "receipt", "current"} <= set(m)
    assert doc["thread"]["title"] == "How do I list files in Rust?"


def test_the_short_ids_shown_are_accepted_where_message_ids_are(baton_home: Path) -> None:
    ids = build_versions(baton_home)
    shown = _blocks(run_baton(baton_home, "threads", "show", ids["thread"]).stdout)[2].split(" · ")[1]
    fork = run_json(baton_home, "fork", ids["thread"][:8], shown, "--json")
    forked = run_json(baton_home, "threads", "show", fork["thread_id"], "--json")
    assert [m["content"] for m in forked["messages"]] == [
        "How do I list files in Rust?", "Use std::fs::read_dir in a loop.", "Show a recursive walk"]
    for bad, says in ((ids["q3"][:5], "too short"), ("0" * 8, "no message")):  # one line, exit 1
        res = run_baton(baton_home, "fork", ids["thread"], bad)
        assert res.returncode == 1 and says in res.stderr and len(res.stderr.splitlines()) == 1


def test_threads_list_is_the_same_as_threads_alone(baton_home: Path) -> None:
    build_versions(baton_home)
    alone = run_json(baton_home, "threads", "--json")
    listed = run_json(baton_home, "threads", "list", "--json")
    assert listed == alone and len(listed) >= 1
