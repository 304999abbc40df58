"""`baton retry`, `baton edit`, `baton fork` end to end: the real CLI, the real SmolLM2, real loopback endpoints."""

from __future__ import annotations

from pathlib import Path

from baton.core.store.db import Store
from tests.helpers.dialect_server import DialectServer, Reply, chunk, usage
from tests.helpers.proc import run_baton, run_json


def _answer(text: str) -> Reply:
    return Reply(events=[chunk(text), chunk(None, "stop"), usage(9, 3),
                         "data: [DONE]\n\n"])


def _store(home: Path) -> Store:
    return Store(home / "data" / "baton.sqlite3")


def _rows(home: Path) -> list[tuple]:
    with _store(home) as s:
        return [(m.id, m.role, m.status, m.content) for t in s.list_threads(True) for m in s.history(t.id)]


def test_retry_on_a_named_endpoint_replaces_the_answer_in_place(baton_home):
    with DialectServer() as first, DialectServer() as second:
        first.enqueue(_answer("first says"))
        second.enqueue(_answer("second says"))
        for name, srv in (("first", first), ("second", second)):
            assert run_baton(baton_home, "endpoints", "add", name, "--base-url", srv.base_url, "--model",
                             f"m-{name}").returncode == 0
        q = "Name a colour of the sky."
        local = run_json(baton_home, "ask", "--tier", "local", "--json", "--max-tokens", "12", q)
        r = run_json(baton_home, "retry", local["message_id"], "--endpoint", "second", "--json")
        assert first.requests == [] and len(second.requests) == 1
        sent = second.requests[0].json["messages"]
        assert [(m["role"], m["content"]) for m in sent][1:] == [("user", q)] and sent[0]["role"] == "system"
        assert r["text"] == "second says" and r["route"]["endpoint"] == "second" and r["route"]["tier"] == "cloud"
        assert r["thread_id"] == local["thread_id"] and r["route"]["where"] == "this_computer"
        rows = _rows(baton_home)
        assert [row[1] for row in rows].count("user") == 1
        assert {row[0]: row[2] for row in rows}[local["message_id"]] == "replaced"

        # the next question's history follows the current version only
        second.enqueue(_answer("again"))
        run_json(baton_home, "ask", "--thread", local["thread_id"], "--endpoint", "second", "--json", "And at night?")
        hist = [(m["role"], m["content"]) for m in second.requests[-1].json["messages"]][1:]
        assert hist == [("user", q), ("assistant", "second says"), ("user", "And at night?")]


def test_edit_makes_a_new_question_version_and_fork_copies_the_history(baton_home):
    a = run_json(baton_home, "ask", "--tier", "local", "--json", "--max-tokens", "8", "Say one word.")
    with _store(baton_home) as s:
        qid = next(m.id for m in s.history(a["thread_id"]) if m.role == "user")
    e = run_json(baton_home, "edit", qid, "Say two words.", "--tier", "local", "--json")
    with _store(baton_home) as s:
        path = s.thread_path(a["thread_id"])
        assert [m.content for m in path if m.role == "user"] == ["Say two words."]
        assert s.get_message(qid).status == "replaced" and len(s.versions(path[0].id)) == 2
    f = run_json(baton_home, "fork", a["thread_id"], e["message_id"], "--json")
    with _store(baton_home) as s:
        forked = s.thread_path(f["thread_id"])
        assert [m.content for m in forked] == ["Say two words.", e["text"]]
        assert s.spend_since(0)["answers"] == 2, "a fork's copied receipts are not counted again"


def test_bad_ids_and_refused_endpoints_write_nothing(baton_home, monkeypatch):
    a = run_json(baton_home, "ask", "--tier", "local", "--json", "--max-tokens", "8", "Say one word.")
    run_baton(baton_home, "endpoints", "add", "far", "--base-url", "http://api.far-away.test/v1", "--model", "m")
    before = _rows(baton_home)
    cases = [
        (("retry", "no-such-id"), 1, "no message"),
        (("retry", a["thread_id"]), 1, "no message"),  # a thread id is not a message id
        (("edit", a["message_id"], "new text"), 2, "not a question"),
        (("retry", a["message_id"], "--endpoint", "nope"), 2, "no endpoint named 'nope'"),
        (("fork", a["thread_id"], "no-such-id"), 1, "no message"),
    ]
    for args, code, expect in cases:
        proc = run_baton(baton_home, *args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == code and len(lines) == 1 and expect in lines[0], (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    proc = run_baton(baton_home, "retry", a["message_id"], "--endpoint", "far", BATON_OFFLINE="1")
    assert proc.returncode == 1 and "offline" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert _rows(baton_home) == before, "nothing written"
