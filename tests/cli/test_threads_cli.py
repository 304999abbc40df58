"""`baton threads` run as a real subprocess against a real database under BATON_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from baton.core.store import Store
from baton.paths import Paths

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
