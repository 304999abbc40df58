"""The SQLite store on real database files in tmp dirs."""

from __future__ import annotations

import gc
import sqlite3
import threading
from pathlib import Path

import pytest

from baton.core.errors import StoreError
from baton.core.store import SCHEMA_VERSION, Message, Store, Thread
from baton.core.store import migrations


def receipt(total_j: float, usd: float = 0.0, tier: str = "local", escalated: bool = False) -> dict:
    return {"route": {"tier": tier, "model": "m", "escalated": escalated, "reason": "test"},
            "energy": {"total_j": total_j, "parts": []}, "cost": {"usd": usd}}


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "baton.sqlite3")
    yield s
    s.close()


def count(store: Store, table: str) -> int:
    return store.connection().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


# ---- opening, migrations, pragmas -----------------------------------------------------------------

def test_new_database_is_migrated_in_new_folders_and_reopens_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "baton.sqlite3"
    s = Store(path)
    assert path.exists()
    assert s.schema_version == SCHEMA_VERSION == len(migrations.MIGRATIONS)
    assert s.journal_mode == "wal"
    tables = {r[0] for r in s.connection().execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"threads", "messages", "receipts", "feedback", "kv"} <= tables
    t = s.create_thread("kept")
    s.add_message(t.id, "user", "hello")
    s.close()

    s2 = Store(path)
    assert s2.schema_version == SCHEMA_VERSION
    assert [m.content for m in s2.history(t.id)] == ["hello"]
    assert s2.get_thread(t.id).title == "kept"
    s2.close()


def test_each_connection_has_wal_fk_normal_sync_and_busy_timeout(store: Store) -> None:
    def pragmas() -> tuple:
        c = store.connection()
        return tuple(c.execute(f"PRAGMA {p}").fetchone()[0]
                     for p in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout"))

    here = pragmas()
    there: list[tuple] = []
    worker = threading.Thread(target=lambda: there.append(pragmas()))
    worker.start()
    worker.join()
    assert here == there[0] == ("wal", 1, 1, 10000)  # synchronous 1 == NORMAL


def test_migrations_run_in_order_one_transaction_each(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    steps = [lambda c: c.execute("CREATE TABLE one (x)"), lambda c: c.execute("CREATE TABLE two (y)")]
    assert migrations.migrate(conn, path, tuple(steps[:1])) == 0
    assert migrations.schema_version(conn) == 1
    assert migrations.migrate(conn, path, tuple(steps)) == 1  # only the new step runs
    assert migrations.schema_version(conn) == 2

    def broken(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE three (z)")
        raise sqlite3.OperationalError("boom")

    with pytest.raises(sqlite3.OperationalError):
        migrations.migrate(conn, path, (*steps, broken))
    assert migrations.schema_version(conn) == 2
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "three" not in names  # the failed step left nothing behind
    conn.close()


def test_database_from_a_newer_baton_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer Baton") as err:
        Store(path)
    assert "upgrade" in str(err.value) and str(path) in str(err.value)


def test_corrupt_file_is_a_store_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "baton.sqlite3"
    path.write_bytes(b"this is not a database, just garbage bytes\n" * 200)
    with pytest.raises(StoreError) as err:
        Store(path)
    assert str(path) in str(err.value)
    assert "corrupt" in str(err.value)
    assert isinstance(err.value.__cause__, sqlite3.DatabaseError)


def test_locked_database_says_so_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "baton.sqlite3"
    s = Store(path, busy_timeout_s=0.2)
    t = s.create_thread()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked") as err:
            s.add_message(t.id, "user", "hi")
        assert str(path) in str(err.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    s.add_message(t.id, "user", "hi")  # works again once the lock is gone
    s.close()


def test_disk_full_is_a_store_error_with_the_disk_full_message(store: Store) -> None:
    t = store.create_thread()
    conn = store.connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError) as err:
        store.add_message(t.id, "user", "x" * 200_000)
    assert str(err.value).startswith(
        "the disk is full: free space and retry; your text is kept in memory")
    assert store.history(t.id) == []  # nothing half-written
    conn.execute("PRAGMA max_page_count = 1073741823")
    store.add_message(t.id, "user", "x" * 200_000)  # and it works once there is room
    assert len(store.history(t.id)) == 1


def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    s = Store(tmp_path / "c.sqlite3")
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.list_threads()


# ---- threads ------------------------------------------------------------------------------------

def test_threads_are_found_by_id_or_unique_prefix(store: Store) -> None:
    t = store.create_thread("one")
    assert isinstance(t, Thread)
    assert store.get_thread(t.id).id == t.id
    assert store.get_thread(t.id[:6].upper()).id == t.id
    with pytest.raises(StoreError, match=r"no thread nope-nope; list with `baton threads`"):
        store.get_thread("nope-nope")
    with pytest.raises(StoreError, match="is too short: give at least 6 characters"):
        store.get_thread(t.id[:5])  # prefixes shorter than 6 are not accepted, and the message says why
    conn = store.connection()
    for tid in ("abcdef-1", "abcdef-2"):
        conn.execute("INSERT INTO threads (id, title, created_at, updated_at) VALUES (?, '', 0, 0)", (tid,))
    with pytest.raises(StoreError, match="several threads"):
        store.get_thread("abcdef")


def test_list_threads_orders_counts_and_sums_spend(store: Store) -> None:
    a = store.create_thread("a")
    b = store.create_thread("b")
    store.add_message(a.id, "user", "q1")
    m1 = store.begin_answer(a.id, "small", "local")
    store.finish_answer(m1.id, "ans", "done", receipt(10.0))
    m2 = store.begin_answer(a.id, "cloud-m", "cloud")
    store.finish_answer(m2.id, "ans2", "done", receipt(2.5, usd=0.01, tier="cloud"))
    store.add_message(b.id, "user", "q2")  # b is now the most recently updated
    listed = store.list_threads()
    assert [t.id for t in listed] == [b.id, a.id]
    got_a = listed[1]
    assert (got_a.message_count, got_a.energy_j, got_a.usd) == (3, 12.5, 0.01)
    assert (listed[0].message_count, listed[0].energy_j) == (1, 0.0)

    store.rename_thread(a.id, "renamed")
    assert store.get_thread(a.id).title == "renamed"
    store.archive_thread(b.id)
    assert [t.id for t in store.list_threads()] == [a.id]
    assert {t.id for t in store.list_threads(include_archived=True)} == {a.id, b.id}
    assert store.get_thread(b.id).archived is True


def test_delete_thread_cascades_to_messages_receipts_and_feedback(store: Store) -> None:
    t = store.create_thread()
    keep = store.create_thread()
    store.add_message(keep.id, "user", "stay")
    m = store.begin_answer(t.id, "m", "local")
    store.finish_answer(m.id, "x", "done", receipt(1.0))
    store.add_feedback(m.id, "accept")
    store.delete_thread(t.id[:8])
    assert count(store, "messages") == 1
    assert count(store, "receipts") == 0
    assert count(store, "feedback") == 0
    assert [x.id for x in store.list_threads()] == [keep.id]


def test_first_user_message_names_an_untitled_thread(store: Store) -> None:
    t = store.create_thread()
    store.add_message(t.id, "system", "you are helpful")
    assert store.get_thread(t.id).title == ""
    long = "  How do I   compute the energy per token of a quantized model on my laptop?\nmore"
    store.add_message(t.id, "user", long)
    title = store.get_thread(t.id).title
    assert title.startswith("How do I compute the energy per token")
    assert "\n" not in title and len(title) <= 49 and title.endswith("…")
    store.add_message(t.id, "user", "second question")
    assert store.get_thread(t.id).title == title
    named = store.create_thread("mine")
    store.add_message(named.id, "user", "something else")
    assert store.get_thread(named.id).title == "mine"


# ---- messages -----------------------------------------------------------------------------------

def test_messages_come_back_in_order_as_dataclasses(store: Store) -> None:
    t = store.create_thread()
    store.add_message(t.id, "user", "q")
    a = store.begin_answer(t.id, "smol", "local")
    assert (a.status, a.content, a.seq) == ("streaming", "", 2)
    store.update_answer(a.id, "partial")
    assert store.get_message(a.id).content == "partial"
    store.finish_answer(a.id, "full answer", "done", receipt(3.0))
    store.add_message(t.id, "user", "q2")
    hist = store.history(t.id)
    assert all(type(m) is Message for m in hist)
    assert [(m.seq, m.role, m.content, m.status) for m in hist] == [
        (1, "user", "q", "done"), (2, "assistant", "full answer", "done"), (3, "user", "q2", "done")]
    assert hist[1].model == "smol" and hist[1].tier == "local"
    assert store.receipt(a.id)["energy"]["total_j"] == 3.0
    assert store.receipt(hist[0].id) is None
    assert store.thread_receipts(t.id) == {a.id: receipt(3.0)}
    with pytest.raises(StoreError, match="no thread"):
        store.add_message("missing-thread", "user", "x")
    with pytest.raises(StoreError, match="unknown message status"):
        store.add_message(t.id, "user", "x", status="weird")


def test_finish_answer_is_all_or_nothing(store: Store) -> None:
    t = store.create_thread()
    a = store.begin_answer(t.id, "m", "local")
    store.update_answer(a.id, "half")
    before = store.get_thread(t.id).updated_at
    # Make the receipt insert fail inside the transaction, after the message UPDATE ran.
    store.connection().execute(
        "CREATE TRIGGER no_receipts BEFORE INSERT ON receipts BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(StoreError, match="refused"):
        store.finish_answer(a.id, "the whole answer", "done", receipt(5.0))
    got = store.get_message(a.id)
    assert (got.content, got.status) == ("half", "streaming")
    assert store.receipt(a.id) is None
    assert store.get_thread(t.id).updated_at == before
    store.connection().execute("DROP TRIGGER no_receipts")
    store.finish_answer(a.id, "the whole answer", "done", receipt(5.0))
    got = store.get_message(a.id)
    assert (got.content, got.status) == ("the whole answer", "done")
    assert store.receipt(a.id)["energy"]["total_j"] == 5.0


def test_recover_leaves_live_writers_alone_and_labels_dead_ones(store: Store) -> None:
    t = store.create_thread()
    a = store.begin_answer(t.id, "m", "local")
    store.update_answer(a.id, "so far")
    assert store.recover_interrupted() == 0  # this process is still writing it
    assert store.get_message(a.id).status == "streaming"
    # A writer whose process is gone (a pid that cannot exist).
    b = store.begin_answer(t.id, "m", "local")
    store.connection().execute("UPDATE messages SET writer = '999999999:1.00' WHERE id = ?", (b.id,))
    assert store.recover_interrupted() == 1
    assert store.get_message(b.id).status == "interrupted"
    assert store.recover_interrupted(include_live_writers=True) == 1
    got = store.get_message(a.id)
    assert (got.status, got.content) == ("interrupted", "so far")


# ---- feedback, kv, spend ----------------------------------------------------------------------

def test_feedback_rows_round_trip_and_filter(store: Store) -> None:
    t = store.create_thread()
    a = store.add_message(t.id, "assistant", "x")
    b = store.add_message(t.id, "assistant", "y")
    store.add_feedback(a.id, "accept")
    store.add_feedback(a.id, "rate", {"stars": 4})
    store.add_feedback(b.id, "escalate", "too vague")
    assert [(f.kind, f.value) for f in store.feedback(message_id=a.id)] == [
        ("accept", None), ("rate", {"stars": 4})]
    assert [f.message_id for f in store.feedback(kind="escalate")] == [b.id]
    assert len(store.feedback(since=0)) == 3
    assert store.feedback(since=2e10) == []
    with pytest.raises(StoreError, match="unknown feedback kind"):
        store.add_feedback(a.id, "like")
    with pytest.raises(StoreError, match="no message"):
        store.add_feedback("missing", "accept")


def test_kv_holds_json_values(store: Store) -> None:
    assert store.kv_get("router.prior", {"n": 0}) == {"n": 0}
    store.kv_set("router.prior", {"math": [0.2, 0.8], "n": 3})
    store.kv_set("router.prior", {"math": [0.3, 0.7], "n": 4})
    assert store.kv_get("router.prior") == {"math": [0.3, 0.7], "n": 4}
    store.kv_set("threshold", 0.42)
    assert store.kv_get("threshold") == 0.42
    assert count(store, "kv") == 2


def test_spend_since_sums_energy_usd_answers_and_escalations(store: Store) -> None:
    t = store.create_thread()
    ids = []
    for total_j, usd, tier, esc in ((100.0, 0.0, "local", False), (7.0, 0.02, "cloud", True),
                                    (3.0, 0.0, "local", False)):
        m = store.begin_answer(t.id, "m", tier)
        store.finish_answer(m.id, "a", "done", receipt(total_j, usd, tier, esc))
        ids.append(m.id)
    failed = store.begin_answer(t.id, "m", "cloud")
    store.finish_answer(failed.id, "", "failed", {"error": "timeout"})
    # The first answer was yesterday.
    store.connection().execute("UPDATE receipts SET created_at = created_at - 86400 WHERE message_id = ?",
                               (ids[0],))
    today = store.get_message(ids[1]).updated_at - 3600
    assert store.spend_since(today) == {"energy_j": 10.0, "usd": 0.02, "answers": 2, "escalations": 1}
    assert store.spend_since(0)["energy_j"] == 110.0
    assert store.spend_since(0, tier="cloud") == {"energy_j": 7.0, "usd": 0.02, "answers": 1,
                                                  "escalations": 1}
    plan = store.connection().execute(
        "EXPLAIN QUERY PLAN SELECT SUM(total_j), SUM(usd), COUNT(tier), SUM(escalated) "
        "FROM receipts WHERE created_at >= ? AND counted = 1", (today,)).fetchall()
    assert "receipts_by_time" in " ".join(str(r) for r in plan)


def test_a_superseded_local_answer_is_not_counted_twice(store: Store) -> None:
    t = store.create_thread()
    local = store.begin_answer(t.id, "small", "local")
    cloud = store.begin_answer(t.id, "big", "cloud")
    # The cloud answer's receipt carries every tier that ran (local 40 J + cloud 5 J).
    store.finish_answer(cloud.id, "good", "done", receipt(45.0, 0.01, "cloud", escalated=True))
    store.finish_answer(local.id, "weak", "escalated", receipt(40.0))
    assert store.receipt(local.id)["energy"]["total_j"] == 40.0  # kept for display
    assert store.spend_since(0) == {"energy_j": 45.0, "usd": 0.01, "answers": 1, "escalations": 1}
    assert store.get_thread(t.id).energy_j == 45.0


# ---- threads of the process ---------------------------------------------------------------------

def test_writers_and_a_reader_on_several_threads_at_once(store: Store) -> None:
    n_writers, n_answers = 3, 25
    errors: list[BaseException] = []
    conns: set[int] = set()
    done = threading.Event()

    def writer(k: int) -> None:
        try:
            conns.add(id(store.connection()))
            t = store.create_thread(f"w{k}")
            for i in range(n_answers):
                store.add_message(t.id, "user", f"q{i}")
                a = store.begin_answer(t.id, "m", "local")
                store.update_answer(a.id, "par")
                store.update_answer(a.id, "parti")
                store.finish_answer(a.id, f"answer {i}", "done", receipt(1.0))
                store.add_feedback(a.id, "accept")
                store.kv_set(f"w{k}", i)
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    def reader() -> None:
        try:
            conns.add(id(store.connection()))
            while not done.is_set():
                for t in store.list_threads():
                    store.history(t.id)
                store.spend_since(0)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(n_writers)]
    rd = threading.Thread(target=reader)
    rd.start()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done.set()
    rd.join()
    assert errors == []
    assert len(conns) == n_writers + 1
    listed = store.list_threads()
    assert len(listed) == n_writers
    assert all(t.message_count == 2 * n_answers and t.energy_j == n_answers for t in listed)
    assert store.spend_since(0)["answers"] == n_writers * n_answers
    assert all(store.kv_get(f"w{k}") == n_answers - 1 for k in range(n_writers))


def test_a_finished_threads_connection_is_released(store: Store) -> None:
    store.list_threads()
    worker = threading.Thread(target=store.list_threads)
    worker.start()
    worker.join()
    gc.collect()
    assert len(store._holders) == 1  # only this thread's connection remains open


def test_a_new_thread_and_its_first_message_are_one_transaction(tmp_path):
    """A failure between the thread row and the question (a crash, a full disk) leaves no empty thread."""
    import pytest

    from baton.core.errors import StoreError
    from baton.core.store.db import Store

    store = Store(tmp_path / "b.sqlite3")
    store.connection().execute(
        "CREATE TRIGGER fail_insert BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    with pytest.raises(StoreError):
        store.add_message(None, "user", "first question")
    assert store.list_threads(include_archived=True) == []
    store.connection().execute("DROP TRIGGER fail_insert")
    m = store.add_message(None, "user", "first question")
    (t,) = store.list_threads()
    assert t.id == m.thread_id and t.title == "first question" and m.parent_id is None
    store.close()


def test_a_schema_1_database_keeps_everything_and_gets_parents(tmp_path):
    """Upgrading keeps every message and receipt (a table rebuild must not cascade) and links the versions."""
    import sqlite3

    from baton.core.store import migrations
    from baton.core.store.db import Store

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    migrations.migrate(conn, path, migrations.MIGRATIONS[:1])
    conn.execute("INSERT INTO threads VALUES ('t1', 'old', 1, 1, 0)")
    rows = [("q1", 1, "user", "done"), ("a1", 2, "assistant", "escalated"), ("a2", 3, "assistant", "done"),
            ("q2", 4, "user", "done"), ("a3", 5, "assistant", "done")]
    for mid, seq, role, status in rows:
        conn.execute("INSERT INTO messages (id, thread_id, seq, role, content, status, created_at, updated_at) "
                     "VALUES (?, 't1', ?, ?, ?, ?, 1, 1)", (mid, seq, role, f"text {mid}", status))
        conn.execute("INSERT INTO receipts (message_id, json, created_at) VALUES (?, '{}', 1)", (mid,))
    conn.close()
    store = Store(path)
    assert store.schema_version == len(migrations.MIGRATIONS)
    assert len(store.history("t1")) == 5 and len(store.thread_receipts("t1")) == 5
    assert [m.id for m in store.thread_path("t1")] == ["q1", "a2", "q2", "a3"]
    assert [m.id for m in store.versions("a2")] == ["a1", "a2"]
    store.close()
