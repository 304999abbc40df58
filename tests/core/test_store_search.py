"""Full-text search in the store (real SQLite FTS5 in temp files), message id prefixes and the thread title rule."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from baton.core.errors import NotFound, StoreError, UsageError
from baton.core.store import Store
from baton.core.store import migrations, search
from baton.core.store.search import plain_words

TEXTS = {
    "k8s": "Why does my kubernetes pod restart? kubernetes says CrashLoopBackOff; kubernetes events are empty.",
    "k8s_once": "A long note about deployment, containers, images, registries, and one mention of kubernetes among "
                "many other words about networking, storage, volumes and secrets that dilute it a lot.",
    "py": "How do I reverse a list in Python? I tried lst.reverse() or lst[::-1]; both work and I am not sure which.",
    "cafe": "Notes from the Café: résumé review, naïve approach.",
}


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "baton.sqlite3")
    yield s
    s.close()


def _answer(store: Store, thread_id: str, text: str, parent_id=None):
    kw = {} if parent_id is None else {"parent_id": parent_id}
    a = store.begin_answer(thread_id, "smollm2", "local", **kw)
    store.finish_answer(a.id, text, "done", {"energy": {"total_j": 1.0}, "cost": {"usd": 0.0}})
    return a


@pytest.fixture
def filled(store: Store) -> dict[str, str]:
    ids: dict[str, str] = {}
    t1 = store.create_thread()
    ids["t1"] = t1.id
    ids["k8s"] = store.add_message(t1.id, "user", TEXTS["k8s"]).id
    ids["k8s_answer"] = _answer(store, t1.id, "Check the liveness probe of the pod.").id
    t2 = store.create_thread("deploy notes")
    ids["t2"] = t2.id
    ids["k8s_once"] = store.add_message(t2.id, "user", TEXTS["k8s_once"]).id
    t3 = store.create_thread()
    ids["t3"] = t3.id
    ids["py"] = store.add_message(t3.id, "user", TEXTS["py"]).id
    ids["py_answer"] = _answer(store, t3.id, "Use reversed(lst) for an iterator.").id
    ids["cafe"] = store.add_message(t3.id, "user", TEXTS["cafe"]).id
    store.archive_thread(t2.id)
    return ids


def test_search_ranks_by_bm25_best_first_over_every_thread(store: Store, filled: dict) -> None:
    hits = store.search("kubernetes")
    assert [h.message_id for h in hits] == [filled["k8s"], filled["k8s_once"]]  # 3 mentions, short, beats 1 in long
    assert hits[0].rank < hits[1].rank  # bm25 as SQLite gives it: lower is better
    top = hits[0]
    assert (top.thread_id, top.role, top.status) == (filled["t1"], "user", "done")
    assert top.title == "Why does my kubernetes pod restart? kubernetes…"  # the thread's title
    assert "**kubernetes**" in top.snippet and "**" not in TEXTS["k8s"]
    assert hits[1].title == "deploy notes"  # an archived thread is searched too
    assert set(top.as_dict()) >= {"thread_id", "message_id", "role", "title", "snippet", "rank"}
    assert [h.message_id for h in store.search("kubernetes", limit=1)] == [filled["k8s"]]
    assert [h.message_id for h in store.search("kubernetes", thread_id=filled["t2"][:8])] == [filled["k8s_once"]]
    answers = store.search("liveness probe")
    assert [(h.message_id, h.role) for h in answers] == [(filled["k8s_answer"], "assistant")]


@pytest.mark.parametrize(("query", "expect"), [
    ('"reverse a list', "py"),  # unbalanced quote
    ("reverse AND", "py"),
    ("AND reverse", "py"),
    ("OR list", "py"),
    ("NOT python", "py"),
    ("python -", "py"),
    ("-python", "py"),
    ("reverse(", "py"),
    ("lst[::-1]", "py"),
    ("lst.reverse()", "py"),
    ("c++ python", None),  # "c" is not in any text: plain words must all match
    ("role: python", None),  # not a column: plain words, and "role" is in no text
    ("python ^", "py"),
    ("{python", "py"),
    ("(python", "py"),
    ("python *", "py"),
    ('python "', "py"),
])
def test_a_query_that_is_not_valid_fts5_is_read_as_plain_words(store: Store, filled: dict, query: str,
                                                                expect: str | None) -> None:
    hits = [h.message_id for h in store.search(query)]
    assert hits == ([filled[expect]] if expect else [])


@pytest.mark.parametrize("query", ["-", '"', "(", ")", "*", "^", ":", '""', "--", "+", "NEAR(", "-(*)"])
def test_operators_and_marks_alone_find_nothing_and_raise_nothing(store: Store, filled: dict, query: str) -> None:
    assert [h.message_id for h in store.search(query)] == []


@pytest.mark.parametrize(("query", "expect"), [
    ('"reverse a list"', ["py"]),  # a phrase
    ('"a list reverse"', []),  # the phrase in another order is not there
    ("revers*", ["py", "py_answer"]),  # a prefix
    ("python OR liveness", ["k8s_answer", "py"]),
    ("lst NOT python", ["py_answer"]),
    ("cafe", ["cafe"]), ("CAFÉ", ["cafe"]), ("resume", ["cafe"]), ("naive", ["cafe"]),  # case and accents
])
def test_valid_fts5_syntax_is_honoured(store: Store, filled: dict, query: str, expect: list[str]) -> None:
    assert sorted(h.message_id for h in store.search(query)) == sorted(filled[e] for e in expect)


@pytest.mark.parametrize("query", ["", "   ", "\n"])
def test_an_empty_query_is_a_usage_error(store: Store, query: str) -> None:
    with pytest.raises(UsageError, match="empty"):
        store.search(query)
    with pytest.raises(UsageError, match="limit"):
        store.search("x", limit=0)


def test_a_lone_operator_is_a_plain_word(store: Store, filled: dict) -> None:
    assert {h.message_id for h in store.search("AND")} == {filled["py"], filled["k8s_once"]}  # "and" in the text
    assert {h.message_id for h in store.search("NOT")} == {filled["py"]}
    assert {h.message_id for h in store.search("OR")} == {filled["py"]}
    assert store.search("NEAR") == []


def test_plain_words_quotes_each_word() -> None:
    assert plain_words('say "hi" AND - bye') == '"say" "hi" "AND" "bye"'
    assert plain_words("- * ^") == ""


def _index_rows(store: Store, thread_id: str) -> int:
    return store.connection().execute(
        f"SELECT COUNT(*) FROM {migrations.SEARCH_IDS_TABLE} s JOIN {migrations.SEARCH_TABLE} f "
        "ON f.rowid = s.fts_rowid JOIN messages m ON m.id = s.message_id WHERE m.thread_id = ?",
        (thread_id,)).fetchone()[0]


def _all_index_rows(store: Store) -> tuple[int, int]:
    c = store.connection()
    return (c.execute(f"SELECT COUNT(*) FROM {migrations.SEARCH_TABLE}").fetchone()[0],
            c.execute(f"SELECT COUNT(*) FROM {migrations.SEARCH_IDS_TABLE}").fetchone()[0])


def test_the_index_follows_answers_versions_forks_and_deletes(store: Store, filled: dict) -> None:
    t = filled["t1"]
    streaming = store.begin_answer(t, "smollm2", "local")
    store.update_answer(streaming.id, "a zeppelin is")
    store.finish_answer(streaming.id, "a zeppelin is an airship", "done", {})
    assert [h.message_id for h in store.search("airship")] == [streaming.id]

    killed = store.begin_answer(t, "smollm2", "local")
    store.update_answer(killed.id, "the partial quokka text")
    store.recover_interrupted(include_live_writers=True)  # the writer died: the text kept is searchable
    assert [(h.message_id, h.status) for h in store.search("quokka")] == [(killed.id, "interrupted")]

    store.set_status(filled["py_answer"], "replaced")  # an earlier version is still found, and says so
    assert [(h.message_id, h.status) for h in store.search("iterator")] == [(filled["py_answer"], "replaced")]

    fork = store.fork_thread(filled["t3"], filled["py"])
    assert {h.thread_id for h in store.search("reverse list")} == {filled["t3"], fork.id}

    assert _index_rows(store, filled["t3"]) == 3
    before = _all_index_rows(store)
    store.delete_thread(filled["t3"])
    assert _all_index_rows(store) == (before[0] - 3, before[1] - 3)
    assert {h.thread_id for h in store.search("reverse list")} == {fork.id}
    assert store.search("naive") == []


def _schema2_db(path: Path) -> None:
    conn = sqlite3.connect(str(path), isolation_level=None)
    migrations.migrate(conn, path, migrations.MIGRATIONS[:2])
    conn.execute("INSERT INTO threads (id, title, created_at, updated_at) VALUES ('t-old', 'old', 1, 1)")
    for seq, (mid, role, text) in enumerate([("m1", "user", "where is the flux capacitor"),
                                             ("m2", "assistant", "under the seat")], start=1):
        conn.execute("INSERT INTO messages (id, thread_id, seq, role, content, status, created_at, updated_at, "
                     "parent_id) VALUES (?, 't-old', ?, ?, ?, 'done', 1, 1, ?)",
                     (mid, seq, role, text, "m1" if seq == 2 else None))
    conn.close()


def test_migration_3_fills_the_index_from_messages_already_stored(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _schema2_db(path)
    with Store(path) as s:
        assert s.schema_version == len(migrations.MIGRATIONS) >= 3
        assert [h.message_id for h in s.search("capacitor")] == ["m1"]
        assert [h.message_id for h in s.search("seat")] == ["m2"]
        assert _all_index_rows(s) == (2, 2)


def test_search_builds_a_missing_index_on_first_use(store: Store, filled: dict) -> None:
    conn = store.connection()
    for trigger in ("message_search_insert", "message_search_update", "message_search_delete"):
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute(f"DROP TABLE {migrations.SEARCH_TABLE}")  # as if migration 3 ran on a SQLite without FTS5
    conn.execute(f"DROP TABLE {migrations.SEARCH_IDS_TABLE}")
    assert [h.message_id for h in store.search("kubernetes")][0] == filled["k8s"]
    store.add_message(filled["t1"], "user", "and the ingress controller?")  # the triggers are back
    assert len(store.search("ingress")) == 1


class _NoFts5:
    """A connection whose SQLite has no FTS5 module (every other statement runs on a real connection)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, *params):
        if "fts5" in sql.lower():
            raise sqlite3.OperationalError("no such module: fts5")
        return self.conn.execute(sql, *params)


def test_without_fts5_the_migration_creates_nothing_and_search_says_so_in_one_line(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = sqlite3.connect(str(tmp_path / "bare.sqlite3"), isolation_level=None)
    migrations.migrate(conn, tmp_path / "bare.sqlite3", migrations.MIGRATIONS[:2])
    conn.execute("BEGIN")
    assert migrations.create_search_index(_NoFts5(conn)) is False  # type: ignore[arg-type]
    conn.execute("COMMIT")
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'message_search%'").fetchone()[0] == 0
    conn.close()

    store.connection().execute(f"DROP TABLE {migrations.SEARCH_TABLE}")
    monkeypatch.setattr(search.migrations, "create_search_index", lambda conn: False)
    with pytest.raises(StoreError, match="without FTS5") as err:
        store.search("anything")
    assert "\n" not in str(err.value)


def test_message_ids_accept_a_unique_prefix_of_six_or_more(store: Store, filled: dict) -> None:
    full = filled["py_answer"]
    for given in (full, full[:6], full[:8], full[:13], full.upper()[:10], f"  {full[:9]} "):
        assert store.get_message(given).id == full
        assert store.resolve_message_id(given) == full
    for bad in ("", "zzzzzzzz", filled["t1"]):  # empty, unknown, a thread id
        with pytest.raises(NotFound, match="no message"):
            store.get_message(bad)
    with pytest.raises(NotFound, match="too short: give at least 6 characters"):  # says what to do
        store.get_message(full[:5])
    with pytest.raises(NotFound, match="too short: give at least 6 characters"):
        store.resolve_thread_id(filled["t1"][:4])
    assert [m.id for m in store.versions(full[:8])] == [full]
    assert store.thread_path(filled["t3"], upto=full[:8])[-1].id == full


def test_a_prefix_shared_by_two_messages_is_refused_and_short_ids_grow_to_stay_unique(store: Store) -> None:
    t = store.create_thread("x")
    conn = store.connection()
    twins = ["abcdef12-0000-4000-8000-000000000001", "abcdef12-3000-4000-8000-000000000002"]
    for seq, mid in enumerate(twins, start=1):
        conn.execute("INSERT INTO messages (id, thread_id, seq, role, content, status, created_at, updated_at) "
                     "VALUES (?, ?, ?, 'user', 'twin', 'done', 1, 1)", (mid, t.id, seq))
    with pytest.raises(NotFound, match="several"):
        store.get_message("abcdef12")
    assert store.get_message("abcdef12-3").id == twins[1]
    assert store.short_message_ids(twins) == {twins[0]: "abcdef12-0", twins[1]: "abcdef12-3"}
    alone = store.add_message(t.id, "user", "alone")
    assert store.short_message_ids([alone.id]) == {alone.id: alone.id[:8]}


def test_the_title_follows_an_edited_first_question_unless_renamed(store: Store) -> None:
    first = store.add_message(None, "user", "How do I parse JSON in Go?")
    tid = first.thread_id
    _answer(store, tid, "Use encoding/json.")
    second = store.add_message(tid, "user", "And YAML?")
    assert store.get_thread(tid).title == "How do I parse JSON in Go?"

    store.add_message(tid, "user", "And TOML?", parent_id=second.parent_id)  # a later question edited: kept
    assert store.get_thread(tid).title == "How do I parse JSON in Go?"

    long = "How do I parse JSON in Rust with serde when the fields are optional and nested deeply?"
    store.add_message(tid, "user", long, parent_id=None)  # the first question edited: the title follows
    assert store.get_thread(tid).title == "How do I parse JSON in Rust with serde when the…"
    store.add_message(tid, "user", "Parse JSON in Zig?", parent_id=None)  # edited again: follows again
    assert store.get_thread(tid).title == "Parse JSON in Zig?"

    store.rename_thread(tid, "serialization notes")
    store.add_message(tid, "user", "Parse JSON in C?", parent_id=None)
    assert store.get_thread(tid).title == "serialization notes"  # the user's name is kept

    named = store.create_thread("my name")
    q = store.add_message(named.id, "user", "first")
    store.add_message(named.id, "user", "first, edited", parent_id=q.parent_id)
    assert store.get_thread(named.id).title == "my name"
