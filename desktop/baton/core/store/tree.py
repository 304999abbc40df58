"""Messages as a tree of versions, and what hangs off a thread (gate findings, forks).

Each message knows its parent: an answer's parent is its question, a question's parent is the answer before it
(``None`` for a thread's first question). A retry adds a second answer under the same question; an edit adds a
second question under the same parent; the earlier one turns ``replaced`` and stays reachable. A thread's
*current path* runs from its leaf (its newest message that is not an earlier version) up to the root; that path
is what the app shows and what is sent as history.

``TreeOps`` is mixed into ``Store`` and uses its connection and transaction helpers.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterable
from typing import Any

from baton.core.errors import NotFound, StoreError
from baton.core.store.records import (
    MESSAGE_COLUMNS, SITE_SQL, SUPERSEDED, Message, Status, Thread, message_from_row, title_from,
)

LEAF: Any = object()  # "the thread's current leaf", the default parent of a new message
MIN_ID_PREFIX = 6  # the shortest id prefix accepted for a message
SHORT_ID = 8  # the length of the short ids shown to people (longer where 8 would not be unique)
_PREFIX_END = "\U0010ffff"  # sorts after every character an id can hold: [p, p + this) is every id starting p
_SUPERSEDED_SQL = ", ".join(f"'{s}'" for s in sorted(SUPERSEDED))
_DEAD = frozenset({Status.FAILED, Status.REFUSED})


def leaf_id(conn: sqlite3.Connection, thread_id: str) -> str | None:
    """The id of the thread's current leaf, or None for an empty thread: its newest message that is not an
    earlier version, passing over a failed or refused answer that has a good sibling (an escalation that failed
    after the local answer was kept)."""
    rows = conn.execute(
        f"SELECT id, parent_id, role, status FROM messages WHERE thread_id = ? AND status NOT IN ({_SUPERSEDED_SQL}) "
        "ORDER BY seq DESC", (thread_id,)).fetchall()
    good_answer_of = {r[1] for r in rows if r[2] == "assistant" and r[3] not in _DEAD}
    for mid, parent, role, status in rows:
        if role == "assistant" and status in _DEAD and parent in good_answer_of:
            continue
        return str(mid)
    return None


def title_after(conn: sqlite3.Connection, thread_id: str, title: str, role: str, parent_id: str | None,
                content: str) -> str:
    """The thread's title once a ``role`` message with ``content`` under ``parent_id`` is added: the title follows
    the first question of the current path. An untitled thread takes its name from a question; a new first question
    (a ``user`` message with no parent: an edit of the first question) renames the thread when its title is still
    the one taken from an earlier first question. A title the user set (or a fork's) is kept."""
    if role != "user":
        return title
    if not title:
        return title_from(content)
    if parent_id is not None:
        return title
    roots = conn.execute("SELECT content FROM messages WHERE thread_id = ? AND parent_id IS NULL AND role = 'user'",
                         (thread_id,)).fetchall()
    if any(title_from(c) == title for (c,) in roots):
        return title_from(content)
    return title


class TreeOps:
    """Version-tree queries and edits (mixed into ``Store``)."""

    # provided by Store
    _guard: Any
    _write: Any
    _conn: Any
    resolve_thread_id: Any
    get_thread: Any

    def resolve_message_id(self, message_id: str) -> str:
        """The full id of a message given its id or a unique prefix of at least 6 characters (case-insensitive).
        Raises ``NotFound`` for no match or several (the message says to give more characters), ``StoreError`` on
        database trouble."""
        key = (message_id or "").strip().lower()
        with self._guard("looking up a message"):
            conn = self._conn()
            if conn.execute("SELECT 1 FROM messages WHERE id = ?", (key,)).fetchone():
                return key
            rows = []
            if len(key) >= MIN_ID_PREFIX:
                rows = conn.execute("SELECT id FROM messages WHERE id >= ? AND id < ? LIMIT 2",
                                    (key, key + _PREFIX_END)).fetchall()
        if len(rows) == 1:
            return str(rows[0][0])
        if len(rows) > 1:
            raise NotFound(f"message id {message_id!r} matches several messages: give more characters")
        if 0 < len(key) < MIN_ID_PREFIX:
            raise NotFound(f"message id {message_id!r} is too short: give at least {MIN_ID_PREFIX} characters of it "
                           "(`baton threads show THREAD_ID` lists the ids)")
        raise NotFound(f"no message {message_id}: see the ids with `baton threads show THREAD_ID`")

    def short_message_ids(self, ids: Iterable[str]) -> dict[str, str]:
        """For each full message id, the shortest prefix of at least 8 characters that names it alone (what
        ``resolve_message_id`` accepts). Shape: ``{full_id: short_id}``. Raises ``StoreError``."""
        out: dict[str, str] = {}
        with self._guard("reading message ids"):
            conn = self._conn()
            for mid in ids:
                n = SHORT_ID
                while n < len(mid):
                    p = mid[:n]
                    if len(conn.execute("SELECT id FROM messages WHERE id >= ? AND id < ? LIMIT 2",
                                        (p, p + _PREFIX_END)).fetchall()) < 2:
                        break
                    n += 1
                out[mid] = mid[:n]
        return out

    def thread_path(self, thread_id: str, upto: str | None = None) -> list[Message]:
        """The thread's current versions, oldest first: from the root to its leaf (or to ``upto``, a message id or
        unique prefix, on any branch). Raises StoreError for an unknown thread or message."""
        tid = self.resolve_thread_id(thread_id)
        if upto is not None:
            upto = self.resolve_message_id(upto)
        with self._guard("reading a thread's messages"):
            conn = self._conn()
            rows = conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE thread_id = ?", (tid,)).fetchall()
            start = upto if upto is not None else leaf_id(conn, tid)
        by_id = {r[0]: message_from_row(r) for r in rows}
        if upto is not None and upto not in by_id:
            raise NotFound(f"no message {upto} in thread {tid}")
        chain: list[Message] = []
        seen: set[str] = set()
        cur = by_id.get(start) if start else None
        while cur is not None and cur.id not in seen:
            seen.add(cur.id)
            chain.append(cur)
            cur = by_id.get(cur.parent_id) if cur.parent_id else None
        chain.reverse()
        return chain

    def versions(self, message_id: str) -> list[Message]:
        """Every version at ``message_id``'s point of the thread (same parent, same role), oldest first; the
        message itself included (``message_id`` may be a unique prefix). Raises StoreError for an unknown message."""
        message_id = self.resolve_message_id(message_id)
        with self._guard("reading versions"):
            conn = self._conn()
            row = conn.execute("SELECT thread_id, parent_id, role FROM messages WHERE id = ?",
                               (message_id,)).fetchone()
            if row is None:
                raise NotFound(f"no message {message_id}: its thread may have been deleted")
            tid, parent, role = row
            rows = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE thread_id = ? AND parent_id IS ? AND role = ? "
                "ORDER BY seq", (tid, parent, role)).fetchall()
        return [message_from_row(r) for r in rows]

    def replace_siblings(self, message_id: str) -> int:
        """Mark every other current version at ``message_id``'s point (same parent, same role) ``replaced``, so
        ``message_id`` is the one current version there. Returns how many were replaced."""
        others = [v for v in self.versions(message_id)
                  if v.id != message_id and v.status not in SUPERSEDED and v.status != Status.STREAMING]
        with self._write("replacing earlier versions") as conn:
            conn.executemany("UPDATE messages SET status = ?, updated_at = ? WHERE id = ?",
                             [(str(Status.REPLACED), time.time(), v.id) for v in others])
        return len(others)

    def set_status(self, message_id: str, status: Status, note: str | None = None) -> None:
        """Change a finished message's status (``replaced`` when a newer version takes its place)."""
        with self._write("updating a message") as conn:
            cur = conn.execute("UPDATE messages SET status = ?, note = COALESCE(?, note), updated_at = ? "
                               "WHERE id = ?", (str(status), note, time.time(), message_id))
            if cur.rowcount == 0:
                raise NotFound(f"no message {message_id}: its thread may have been deleted")

    def fork_thread(self, thread_id: str, message_id: str, title: str = "") -> Thread:
        """A new thread holding copies of the current path of ``thread_id`` up to ``message_id`` (receipts copied,
        not counted again in spend). Returns the new thread. Raises StoreError for an unknown thread or message."""
        chain = self.thread_path(thread_id, upto=message_id)
        src = self.get_thread(thread_id)
        now = time.time()
        new_tid = str(uuid.uuid4())
        name = title.strip() or f"Fork: {src.title or 'thread'}"  # the tag first: a sidebar cuts long titles
        with self._write("forking a thread") as conn:
            conn.execute("INSERT INTO threads (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)",
                         (new_tid, name, now, now))
            parent: str | None = None
            for seq, m in enumerate(chain, start=1):
                mid = str(uuid.uuid4())
                # in the fork these ARE the current versions, whatever they were in the source thread
                status = Status.DONE if m.status in SUPERSEDED else m.status
                conn.execute(
                    f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (mid, new_tid, seq, m.role, m.content, str(status), m.model, m.tier, m.created_at, now, parent,
                     m.note))
                conn.execute(
                    "INSERT INTO receipts (message_id, json, total_j, usd, tier, escalated, counted, created_at) "
                    "SELECT ?, json, total_j, usd, tier, escalated, 0, created_at FROM receipts WHERE message_id = ?",
                    (mid, m.id))
                parent = mid
        return Thread(new_tid, name, now, now, False, len(chain))

    def add_gate_findings(self, thread_id: str, message_id: str | None, findings: Iterable[tuple[str, str]],
                          action: str) -> None:
        """Keep what the privacy gate found: ``(kind, place)`` pairs (never the secret) and what it did
        (``refused`` or ``redacted``)."""
        now = time.time()
        rows = [(thread_id, message_id, kind, place, action, now) for kind, place in findings]
        if not rows:
            return
        with self._write("saving what the privacy gate found") as conn:
            conn.executemany("INSERT INTO gate_findings (thread_id, message_id, kind, place, action, created_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)", rows)

    def gate_findings(self, thread_id: str) -> list[dict[str, Any]]:
        """What the gate found in a thread, oldest first: ``{"message_id", "kind", "place", "action",
        "created_at"}``."""
        tid = self.resolve_thread_id(thread_id)
        with self._guard("reading gate findings"):
            rows = self._conn().execute(
                "SELECT message_id, kind, place, action, created_at FROM gate_findings WHERE thread_id = ? "
                "ORDER BY id", (tid,)).fetchall()
        return [{"message_id": r[0], "kind": r[1], "place": r[2], "action": r[3], "created_at": r[4]} for r in rows]

    def local_detail_since(self, since: float) -> tuple[float, int, int]:
        """For local answers finished at or after ``since`` (unix s): measured joules, prompt tokens and completion
        tokens, summed from their receipts (answers superseded by an escalation included: that work happened)."""
        with self._guard("adding up local work"):
            row = self._conn().execute(
                "SELECT COALESCE(SUM(json_extract(json, '$.energy.measured_j')), 0), "
                "COALESCE(SUM(json_extract(json, '$.usage.prompt_tokens')), 0), "
                "COALESCE(SUM(json_extract(json, '$.usage.completion_tokens')), 0) "
                f"FROM receipts WHERE created_at >= ? AND {SITE_SQL} = 'local'", (since,)).fetchone()
        return float(row[0]), int(row[1]), int(row[2])

