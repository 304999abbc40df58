"""`baton threads search` and `baton threads export` as real subprocesses on a real database under BATON_HOME; one
test answers with the real default model first."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from baton.core.store import Store
from baton.paths import Paths
from tests.cli.test_threads_cli import CURRENT, ESCAPES, OFF_PATH, RECEIPT, build_versions
from tests.helpers.proc import run_baton, run_json

HIT_KEYS = {"thread_id", "message_id", "role", "title", "snippet", "rank"}


def _store(home: Path) -> Store:
    return Store(Paths.from_env({"BATON_HOME": str(home)}).db_file)


def test_search_json_lists_hits_best_first_with_snippets(baton_home: Path) -> None:
    ids = build_versions(baton_home)
    with _store(baton_home) as s:
        other = s.add_message(None, "user", "Rust lifetimes: why does the borrow checker complain about rust code?")
    hits = run_json(baton_home, "threads", "search", "rust", "--json")
    assert [h["message_id"] for h in hits] == [other.id, ids["q1b"]]  # 2 mentions in a short text rank first
    assert all(HIT_KEYS <= set(h) for h in hits) and hits[0]["rank"] <= hits[1]["rank"]
    assert hits[1] | {"rank": 0} == {"thread_id": ids["thread"], "message_id": ids["q1b"], "role": "user",
                                      "title": "How do I list files in Rust?", "rank": 0,
                                      "snippet": "How do I list files in **Rust**?", "status": "done",
                                      "created_at": hits[1]["created_at"]}
    words = run_json(baton_home, "threads", "search", "list", "files", "--json")  # several words: all must match
    assert {h["message_id"] for h in words} == {ids["q1"], ids["q1b"]}  # an earlier version is found too
    assert {h["status"] for h in words} == {"done", "replaced"}
    one = run_json(baton_home, "threads", "search", "list", "files", "--limit", "1", "--thread", ids["thread"][:8],
                   "--json")
    assert len(one) == 1
    assert run_json(baton_home, "threads", "search", "crate", "--json")[0]["snippet"].count("\x1b") == 2  # verbatim


@pytest.mark.parametrize("query", ['"unbalanced', "-", "AND", "files AND", "NOT", "(", "NEAR(", "*", "a:b", "c++",
                                   '"', "^"])
def test_search_reads_broken_fts_syntax_as_plain_words(baton_home: Path, query: str) -> None:
    build_versions(baton_home)
    res = run_baton(baton_home, "threads", "search", query, "--json")
    assert res.returncode == 0, res.stderr
    hits = json.loads(res.stdout)
    assert isinstance(hits, list) and "Traceback" not in res.stderr
    if query == "files AND":  # plain words: "files" and "and" must both be in one message; none has both
        assert hits == []
    if query == "AND":
        assert [h["role"] for h in hits] == ["user"]  # "And recursively in Go?"


def test_search_for_people_is_safe_for_a_terminal_and_errors_are_one_line(baton_home: Path) -> None:
    ids = build_versions(baton_home)
    res = run_baton(baton_home, "threads", "search", "crate")
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout and "^[]52;c;ZXZpbA==^G" in res.stdout and "**crate**" in res.stdout
    assert res.stdout.splitlines()[0].startswith(f"{ids['thread'][:8]}  {ids['a3'][:8]}  assistant  ")
    assert "1 match;" in res.stderr
    none = run_baton(baton_home, "threads", "search", "zeppelin")
    assert none.returncode == 0 and none.stdout == "" and "nothing matches 'zeppelin'" in none.stderr
    for args, code in ((("",), 2), (("x", "--limit", "0"), 2), (("x", "--thread", "nosuchthread"), 1)):
        res = run_baton(baton_home, "threads", "search", *args)
        assert res.returncode == code and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert res.stderr.startswith("baton: ") and res.stdout == ""


def test_deleting_a_thread_removes_its_search_entries(baton_home: Path) -> None:
    ids = build_versions(baton_home)
    with _store(baton_home) as s:
        keep = s.add_message(None, "user", "list files in a zip archive")
    assert len(run_json(baton_home, "threads", "search", "list files", "--json")) == 3
    assert run_baton(baton_home, "threads", "rm", ids["thread"]).returncode == 0
    assert [h["message_id"] for h in run_json(baton_home, "threads", "search", "list files", "--json")] == [keep.id]
    with _store(baton_home) as s:
        rows = s.connection().execute("SELECT COUNT(*) FROM message_search").fetchone()[0]
    assert rows == 1


def test_export_markdown_has_the_current_path_with_roles_models_and_receipts(baton_home: Path) -> None:
    ids = build_versions(baton_home)
    res = run_baton(baton_home, "threads", "export", ids["thread"][:8])
    assert res.returncode == 0, res.stderr
    md = res.stdout
    assert md.startswith("# How do I list files in Rust?\n")
    assert f"- Thread: `{ids['thread']}`" in md and "(and 5 earlier versions or branches, in the JSON export)" in md
    heads = re.findall(r"^### (.*)$", md, flags=re.M)
    assert heads == ["You", "Assistant · gpt (cloud)", "You", "Assistant · smollm2 (local)"]
    assert "*Receipt: 42 tok · 1.50 s · 4.0 J (estimated) · $0.0031 · a cloud*" in md
    assert "*Receipt: 2.0 J · $0.0000 · this computer*" in md
    assert "Use std::fs::read_dir in a loop." in md and "Use os.ReadDir." not in md and "in Go?" not in md
    assert "\x1b" not in md and "^[[2J" in md
    assert md.count("---") == 4


def test_export_json_has_every_version_with_parent_and_receipt(baton_home: Path) -> None:
    ids = build_versions(baton_home)
    doc = run_json(baton_home, "threads", "export", ids["thread"], "--format", "json")
    assert (doc["format"], doc["format_version"]) == ("baton.thread", 1)
    assert doc["thread"]["id"] == ids["thread"] and doc["gate_findings"] == []
    msgs = {m["id"]: m for m in doc["messages"]}
    assert set(msgs) == {ids[k] for k in CURRENT + OFF_PATH}
    assert doc["current_path"] == [ids[k] for k in CURRENT]
    assert msgs[ids["a1b"]]["receipt"] == RECEIPT and msgs[ids["a3"]]["content"] == ESCAPES
    assert msgs[ids["a2"]]["parent_id"] == ids["q2"] and msgs[ids["a2"]]["current"] is False


def test_export_errors_are_one_line(baton_home: Path) -> None:
    missing = run_baton(baton_home, "threads", "export", "abcdef99")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.strip() == "baton: no thread abcdef99; list with `baton threads`"
    bad = run_baton(baton_home, "threads", "export", "abcdef99", "--format", "html")
    assert bad.returncode == 2 and "invalid choice: 'html'" in bad.stderr


@pytest.mark.slow
def test_a_real_answer_is_shown_searched_edited_by_short_id_and_exported(baton_home: Path) -> None:
    assert run_baton(baton_home, "config", "set", "engine.max_tokens", "16").returncode == 0  # short answers
    a = run_json(baton_home, "ask", "--tier", "local", "--json", "--max-tokens", "8", "Name a xylophone maker.")
    show = run_baton(baton_home, "threads", "show", a["thread_id"][:8])
    assert show.returncode == 0, show.stderr
    heads = [ln for ln in show.stdout.splitlines() if ln.startswith("[")]
    q_short = heads[0].split(" · ")[1]
    assert heads[1].startswith(f"[2] assistant · {a['message_id'][:8]} · done · via {a['route']['model']} (local)")
    assert "receipt: " in show.stdout and "this computer" in show.stdout
    hits = run_json(baton_home, "threads", "search", "xylophone", "--json")
    # the question matches; the model's answer may repeat the word too
    assert (a["thread_id"], "user") in [(h["thread_id"], h["role"]) for h in hits]
    assert {h["thread_id"] for h in hits} == {a["thread_id"]}

    e = run_json(baton_home, "edit", q_short, "Name a marimba maker.", "--tier", "local", "--json")
    listed = run_json(baton_home, "threads", "--json")
    assert [t["title"] for t in listed] == ["Name a marimba maker."]  # the title follows the edited first question
    r = run_json(baton_home, "retry", e["message_id"][:8], "--tier", "local", "--json")
    doc = run_json(baton_home, "threads", "show", a["thread_id"], "--json")
    current = [m for m in doc["messages"] if m["current"]]
    assert [m["id"] for m in current] == doc["current_path"] == [current[0]["id"], r["message_id"]]
    assert current[0]["content"] == "Name a marimba maker." and (current[1]["version"], current[1]["versions"]) == (2, 2)
    # off the path: the first question (replaced), its answer (done, on the old branch), the first answer to the edit
    assert sorted(m["status"] for m in doc["messages"] if not m["current"]) == ["done", "replaced", "replaced"]
    assert "version 2 of 2" in run_baton(baton_home, "threads", "show", a["thread_id"]).stdout
    md = run_baton(baton_home, "threads", "export", a["thread_id"]).stdout
    assert md.startswith("# Name a marimba maker.") and f"### Assistant · {a['route']['model']} (local)" in md
    assert "xylophone" not in md
