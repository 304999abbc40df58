"""The SQLite store: threads, messages (a streaming answer is saved as it grows), receipts, feedback
and a small key/value table for learned router state.

One sqlite3 connection per thread (the GUI calls in from worker threads and the GUI thread), held
in an instance-level ``threading.local``. The database runs in WAL mode so readers never wait for
the writer; every write transaction starts with ``BEGIN IMMEDIATE`` so two writers queue on the
busy timeout instead of failing with "database is locked".
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from baton.core.errors import NotFound, StoreError
from baton.core.store import migrations
from baton.core.store.process import process_token, writer_alive
from baton.core.store.search import SearchOps
from baton.core.store.thread_ops import ThreadOps
from baton.core.store.tree import LEAF, TreeOps, leaf_id, title_after
from baton.core.store.records import (
    MESSAGE_COLUMNS,
    SITE_SQL,
    Status,
    THREAD_COLUMNS,
    Feedback,
    Message,
    Thread,
    feedback_from_row,
    message_from_row,
    receipt_columns,
    thread_from_row,
    translate,
)

MIN_PREFIX = 6

_THREAD_SELECT = f"""
SELECT {THREAD_COLUMNS}, COALESCE(mc.n, 0), COALESCE(sp.energy_j, 0), COALESCE(sp.usd, 0)
FROM threads t
LEFT JOIN (SELECT thread_id, COUNT(*) AS n FROM messages GROUP BY thread_id) mc
    ON mc.thread_id = t.id
LEFT JOIN (SELECT m.thread_id, SUM(r.total_j) AS energy_j, SUM(r.usd) AS usd
           FROM receipts r JOIN messages m ON m.id = r.message_id
           WHERE r.counted = 1 GROUP BY m.thread_id) sp
    ON sp.thread_id = t.id
"""


class _Holder:
    """Owns one thread's connection; when the thread ends its local dies and the connection closes."""

    __slots__ = ("conn", "__weakref__")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


class Store(TreeOps, SearchOps, ThreadOps):
    """Baton's SQLite database: threads, messages (a tree of versions), receipts, feedback, gate findings and
    a key/value table. Thread-safe; one connection per thread. Every method raises StoreError (one line) on a
    database failure."""

    def __init__(self, path: Path, busy_timeout_s: float = 10.0, recover: bool = True) -> None:
        """Open (creating if needed) the database at ``path`` and bring its schema up to date.

        With ``recover`` (the default), answers left ``streaming`` by a process that no longer runs
        are labelled ``interrupted`` (their partial text is kept); ``recovered_at_open`` says how many.
        """
        self.path = Path(path)
        self.busy_timeout_s = float(busy_timeout_s)
        self._local = threading.local()
        self._holders: weakref.WeakSet[_Holder] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the folder {self.path.parent} for the database: {e}") from e
        with self._guard("opening the database"):
            conn = self._conn()
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self.journal_mode = str(mode).lower()
            migrations.migrate(conn, self.path)
        self.recovered_at_open = self.recover_interrupted() if recover else 0

    # ---- connections and transactions -------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (for maintenance and tests; callers should use the methods)."""
        return self._conn()

    def _conn(self) -> sqlite3.Connection:
        holder = getattr(self._local, "holder", None)
        if holder is not None:
            return holder.conn
        if self._closed:
            raise StoreError(f"the store for {self.path} is closed: open it again")
        conn = sqlite3.connect(
            str(self.path),
            timeout=self.busy_timeout_s,
            isolation_level=None,  # autocommit; transactions are explicit
            check_same_thread=False,  # only so close() can close every thread's connection
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000):d}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        holder = _Holder(conn)
        with self._lock:
            self._holders.add(holder)
        self._local.holder = holder
        return conn

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as e:
            raise translate(e, self.path, action) from e

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction; nothing of it is visible until it commits, all of it is undone
        if anything in it fails."""
        with self._guard(action):
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise

    def close(self) -> None:
        """Close every thread's connection. Call it once no other thread uses the store."""
        with self._lock:
            self._closed = True
            holders = list(self._holders)
            self._holders = weakref.WeakSet()
        for holder in holders:
            try:
                holder.conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """The database's schema version (SQLite ``user_version``; the number of migrations applied). Raises
        ``StoreError`` when it cannot be read."""
        with self._guard("reading the schema version"):
            return migrations.schema_version(self._conn())

    # ---- threads ------------------------------------------------------------------------------

    def create_thread(self, title: str = "") -> Thread:
        """A new empty thread (a fresh uuid4 id, ``title`` stripped, created and updated now). Raises ``StoreError``
        (disk full, read-only, locked)."""
        now = time.time()
        tid = str(uuid.uuid4())
        with self._write("creating a thread") as conn:
            conn.execute(
                "INSERT INTO threads (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (tid, title.strip(), now, now),
            )
        return Thread(tid, title.strip(), now, now)

    def resolve_thread_id(self, thread_id: str) -> str:
        """The full id of a thread given its id or a unique prefix of at least 6 characters."""
        key = (thread_id or "").strip().lower()
        with self._guard("looking up a thread"):
            conn = self._conn()
            if conn.execute("SELECT 1 FROM threads WHERE id = ?", (key,)).fetchone():
                return key
            rows = []
            if len(key) >= MIN_PREFIX:
                rows = conn.execute(
                    "SELECT id FROM threads WHERE substr(id, 1, ?) = ? LIMIT 2", (len(key), key)
                ).fetchall()
        if len(rows) == 1:
            return rows[0][0]
        if len(rows) > 1:
            raise NotFound(f"thread id {thread_id!r} matches several threads: give more characters")
        if 0 < len(key) < MIN_PREFIX:
            raise NotFound(f"thread id {thread_id!r} is too short: give at least {MIN_PREFIX} characters of it "
                           "(`baton threads` lists the ids)")
        raise NotFound(f"no thread {thread_id}; list with `baton threads`")

    def get_thread(self, thread_id: str) -> Thread:
        """The thread with this id or unique prefix (at least 6 characters), with its message count and the energy
        (Units: J) and cost (Units: USD) of its counted receipts. Raises ``NotFound`` for no or several matches,
        ``StoreError`` on database trouble."""
        tid = self.resolve_thread_id(thread_id)
        with self._guard("reading a thread"):
            row = self._conn().execute(_THREAD_SELECT + " WHERE t.id = ?", (tid,)).fetchone()
        if row is None:  # deleted between the two statements
            raise NotFound(f"no thread {thread_id}; list with `baton threads`")
        return thread_from_row(row)

    def list_threads(self, include_archived: bool = False) -> list[Thread]:
        """Threads, most recently updated first, each with its message count and spend (not those waiting out a
        delete's undo window; ``ordered_threads`` gives the sidebar's stable order)."""
        where = " WHERE t.deleted_at IS NULL" + ("" if include_archived else " AND t.archived = 0")
        sql = _THREAD_SELECT + where + " ORDER BY t.updated_at DESC, t.created_at DESC, t.id"
        with self._guard("listing threads"):
            return [thread_from_row(r) for r in self._conn().execute(sql).fetchall()]

    def rename_thread(self, thread_id: str, title: str) -> None:
        """Set the title (stripped) of the thread with this id or prefix and bump its ``updated_at``. Raises
        ``NotFound``, ``StoreError``."""
        tid = self.resolve_thread_id(thread_id)
        with self._write("renaming a thread") as conn:
            conn.execute(
                "UPDATE threads SET title = ?, updated_at = ? WHERE id = ?",
                (title.strip(), time.time(), tid),
            )

    def archive_thread(self, thread_id: str, archived: bool = True) -> None:
        """Archive (or, with ``archived=False``, bring back) the thread with this id or prefix; nothing is deleted.
        Raises ``NotFound``, ``StoreError``."""
        tid = self.resolve_thread_id(thread_id)
        with self._write("archiving a thread") as conn:
            conn.execute("UPDATE threads SET archived = ? WHERE id = ?", (int(archived), tid))

    def delete_thread(self, thread_id: str) -> str:
        """Delete a thread with its messages, receipts and feedback; returns the full id."""
        tid = self.resolve_thread_id(thread_id)
        with self._write("deleting a thread") as conn:
            conn.execute("DELETE FROM threads WHERE id = ?", (tid,))
        return tid

    # ---- messages -----------------------------------------------------------------------------

    def add_message(
        self,
        thread_id: str | None,
        role: str,
        content: str,
        status: str = "done",
        model: str | None = None,
        tier: str | None = None,
        parent_id: str | None = LEAF,
        note: str = "",
        title: str = "",
    ) -> Message:
        """Append a message to a thread and return it.

        ``parent_id``: the message this one follows (an answer's question, a question's previous answer);
        by default the thread's current leaf (its newest message that is not an earlier version); ``None`` for
        a root. ``thread_id`` None creates the thread in the SAME transaction (titled ``title``, else from the
        first user message), so a crash never leaves an empty thread. Raises StoreError for an unknown thread.
        """
        _check_status(status)
        now = time.time()
        mid = str(uuid.uuid4())
        writer = process_token() if status == Status.STREAMING else None
        with self._write("saving a message") as conn:
            if thread_id is None:
                thread_id = str(uuid.uuid4())
                conn.execute("INSERT INTO threads (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)",
                             (thread_id, title.strip(), now, now))
                row = (thread_id, title.strip())
            else:
                row = conn.execute("SELECT id, title FROM threads WHERE id = ?", (thread_id,)).fetchone()
            if row is None and len(thread_id) >= MIN_PREFIX:  # a unique id prefix
                rows = conn.execute(
                    "SELECT id, title FROM threads WHERE substr(id, 1, ?) = ? LIMIT 2",
                    (len(thread_id), thread_id.lower()),
                ).fetchall()
                row = rows[0] if len(rows) == 1 else None
            if row is None:
                raise NotFound(f"no thread {thread_id}; list with `baton threads`")
            thread_id, title = row
            if parent_id is LEAF:
                parent_id = leaf_id(conn, thread_id)
            title = title_after(conn, thread_id, title, role, parent_id, content)
            seq = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE thread_id = ?", (thread_id,)
            ).fetchone()[0]
            conn.execute(
                f"INSERT INTO messages ({MESSAGE_COLUMNS}, writer) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (mid, thread_id, seq, role, content, str(status), model, tier, now, now, parent_id, note, writer),
            )
            conn.execute(
                "UPDATE threads SET updated_at = ?, title = ? WHERE id = ?", (now, title, thread_id)
            )
        return Message(mid, thread_id, seq, role, content, str(status), model, tier, now, now, parent_id, note)

    def begin_answer(self, thread_id: str, model: str | None, tier: str | None,
                     parent_id: str | None = LEAF) -> Message:
        """An empty assistant message in status ``streaming`` under ``parent_id`` (default: the thread's leaf);
        grow it with ``update_answer``, end it with ``finish_answer``."""
        return self.add_message(thread_id, "assistant", "", Status.STREAMING, model, tier, parent_id)

    def update_answer(self, message_id: str, content: str) -> None:
        """Save the answer's text so far (one cheap UPDATE; the thread row is not touched)."""
        with self._guard("saving the answer so far"):
            self._conn().execute(
                "UPDATE messages SET content = ?, updated_at = ? WHERE id = ?",
                (content, time.time(), message_id),
            )

    def finish_answer(
        self, message_id: str, content: str, status: str, receipt: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> None:
        """Final text, status and receipt in ONE transaction: readers see all of it or none.

        The receipt of an ``escalated`` answer is kept but not added to spend totals: the answer
        that replaced it carries the cost of every tier that ran (CONTRACT ``ask --json``).
        """
        _check_status(status)
        counted = 0 if status == Status.ESCALATED else 1
        receipt_json = None if receipt is None else json.dumps(receipt, ensure_ascii=False)
        cols = None if receipt is None else receipt_columns(receipt)
        now = time.time()
        with self._write("saving the finished answer") as conn:
            row = conn.execute("SELECT thread_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise NotFound(f"no message {message_id}: its thread may have been deleted")
            conn.execute(
                "UPDATE messages SET content = ?, status = ?, updated_at = ?, writer = NULL, "
                "note = COALESCE(?, note) WHERE id = ?",
                (content, str(status), now, note, message_id),
            )
            if receipt_json is not None and cols is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO receipts "
                    "(message_id, json, total_j, usd, tier, escalated, counted, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (message_id, receipt_json, *cols, counted, now),
                )
            conn.execute("UPDATE threads SET updated_at = ? WHERE id = ?", (now, row[0]))

    def get_message(self, message_id: str) -> Message:
        """The message with this id or unique prefix (at least 6 characters). Raises ``NotFound`` when there is none
        or several (or its thread was deleted), ``StoreError`` on database trouble."""
        message_id = self.resolve_message_id(message_id)
        with self._guard("reading a message"):
            row = self._conn().execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"no message {message_id}: its thread may have been deleted")
        return message_from_row(row)

    def history(self, thread_id: str) -> list[Message]:
        """Every message of the thread in the order written, earlier versions included (``thread_path`` gives the
        current versions only)."""
        tid = self.resolve_thread_id(thread_id)
        with self._guard("reading a thread's messages"):
            rows = self._conn().execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE thread_id = ? ORDER BY seq", (tid,)
            ).fetchall()
        return [message_from_row(r) for r in rows]

    def receipt(self, message_id: str) -> dict[str, Any] | None:
        """The receipt document stored for a message (the ``AskResult.receipt`` dict), or ``None`` when it has none
        (a question, a streaming answer). Raises ``StoreError``."""
        with self._guard("reading a receipt"):
            row = self._conn().execute(
                "SELECT json FROM receipts WHERE message_id = ?", (message_id,)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def thread_receipts(self, thread_id: str) -> dict[str, dict[str, Any]]:
        """Every receipt of a thread, by message id (one query, for showing a whole thread)."""
        tid = self.resolve_thread_id(thread_id)
        with self._guard("reading a thread's receipts"):
            rows = self._conn().execute(
                "SELECT r.message_id, r.json FROM receipts r JOIN messages m ON m.id = r.message_id "
                "WHERE m.thread_id = ?",
                (tid,),
            ).fetchall()
        return {mid: json.loads(js) for mid, js in rows}

    def recover_interrupted(self, include_live_writers: bool = False) -> int:
        """Label answers left ``streaming`` by a killed process as ``interrupted`` (text kept).

        An answer whose writing process still runs (another Baton window, a CLI run) is left alone
        unless ``include_live_writers``. Returns how many messages were labelled.
        """
        with self._write("recovering interrupted answers") as conn:
            rows = conn.execute(
                "SELECT id, writer FROM messages WHERE status = 'streaming'"
            ).fetchall()
            stale = [mid for mid, token in rows if include_live_writers or not writer_alive(token)]
            conn.executemany(
                "UPDATE messages SET status = 'interrupted', writer = NULL WHERE id = ?",
                [(mid,) for mid in stale],
            )
        return len(stale)

    # ---- feedback, key/value, spend -----------------------------------------------------------

    def add_feedback(self, message_id: str, kind: str, value: Any = None) -> int:
        """Record the user's ``kind`` of feedback (``accept``, ``escalate`` or ``rate``; ``value`` any JSON value,
        e.g. a rating 0..1) on a message; returns the new row's id. Raises ``StoreError`` for an unknown kind,
        ``NotFound`` for an unknown message."""
        if kind not in migrations.FEEDBACK_KINDS:
            raise StoreError(f"unknown feedback kind {kind!r}: use one of {migrations.FEEDBACK_KINDS}")
        value_json = None if value is None else json.dumps(value)
        with self._write("saving feedback") as conn:
            if conn.execute("SELECT 1 FROM messages WHERE id = ?", (message_id,)).fetchone() is None:
                raise NotFound(f"no message {message_id}: its thread may have been deleted")
            cur = conn.execute(
                "INSERT INTO feedback (message_id, kind, value, created_at) VALUES (?, ?, ?, ?)",
                (message_id, kind, value_json, time.time()),
            )
            return int(cur.lastrowid or 0)

    def feedback(
        self, message_id: str | None = None, kind: str | None = None, since: float | None = None
    ) -> list[Feedback]:
        """Feedback rows, oldest first, filtered by message, kind and time when given."""
        clauses, params = [], []
        for col, op, val in (("message_id", "=", message_id), ("kind", "=", kind), ("created_at", ">=", since)):
            if val is not None:
                clauses.append(f"{col} {op} ?")
                params.append(val)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._guard("reading feedback"):
            rows = self._conn().execute(
                "SELECT id, message_id, kind, value, created_at FROM feedback" + where + " ORDER BY id",
                params,
            ).fetchall()
        return [feedback_from_row(r) for r in rows]

    def kv_get(self, key: str, default: Any = None) -> Any:
        """The JSON value saved under ``key`` (router learning, idle baselines), or ``default``. Raises
        ``StoreError``."""
        with self._guard("reading saved state"):
            row = self._conn().execute("SELECT json FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def kv_set(self, key: str, value: Any) -> None:
        """Save a JSON-serialisable ``value`` under ``key``, replacing what was there. Raises ``TypeError`` for a
        value JSON cannot hold, ``StoreError`` on database trouble."""
        data = json.dumps(value)
        with self._guard("saving state"):
            self._conn().execute(
                "INSERT INTO kv (key, json, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at",
                (key, data, time.time()),
            )

    def spend_since(self, ts: float, tier: str | None = None) -> dict[str, float | int]:
        """What answers finished at or after ``ts`` (unix seconds) cost, optionally for one side (``local`` or
        ``cloud`` as ``records.SITE_SQL`` counts them: an endpoint on the user's own machines is local).

        ``answers`` counts receipts that name the tier that ran (an error-only receipt does not
        count); ``escalations`` counts receipts whose route says it escalated. Receipts of answers
        superseded by an escalation are not counted (see ``finish_answer``).
        """
        sql = (
            "SELECT COALESCE(SUM(total_j), 0), COALESCE(SUM(usd), 0), COUNT(tier), "
            "COALESCE(SUM(escalated), 0) FROM receipts WHERE created_at >= ? AND counted = 1"
        )
        params: list[Any] = [float(ts)]
        if tier is not None:
            sql += f" AND {SITE_SQL} = ?"
            params.append(tier)
        with self._guard("adding up spend"):
            energy_j, usd, answers, escalations = self._conn().execute(sql, params).fetchone()
        return {
            "energy_j": float(energy_j),
            "usd": float(usd),
            "answers": int(answers),
            "escalations": int(escalations),
        }


def _check_status(status: str) -> None:
    if str(status) not in migrations.MESSAGE_STATUSES:
        raise StoreError(f"unknown message status {status!r}: use one of {migrations.MESSAGE_STATUSES}")
