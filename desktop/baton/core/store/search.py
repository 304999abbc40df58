"""Full-text search over every message of every thread (SQLite FTS5, ranked by bm25).

The index is made by schema migration 3 (``migrations.create_search_index``) and kept in sync by triggers on
``messages``: a new message, an answer once it stops streaming (done, cancelled, failed, interrupted) and a deleted
thread (its messages go with it) reach the index in the same transaction. ``SearchOps`` is mixed into ``Store``.

A query is first read as an FTS5 expression (``"exact phrase"``, ``a OR b``, ``pref*``, ``NOT``); one that is not
valid FTS5 (an unbalanced quote, a bare ``-``, a lone ``AND``) is searched as plain words instead, never an error.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from baton.core.errors import StoreError, UsageError
from baton.core.store import migrations
from baton.core.store.records import translate

HIGHLIGHT = ("**", "**")  # around each matched word in a snippet (Markdown bold)
ELLIPSIS = "…"
SNIPPET_TOKENS = 16  # words of context in a snippet
NO_FTS5 = ("this Python's SQLite was built without FTS5, so full-text search is off: run Baton on a Python whose "
           "sqlite3 has FTS5 (python.org, Debian, Ubuntu, Fedora and Homebrew builds do)")

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class SearchHit:
    """One message that matched: its ``thread_id``, ``message_id``, ``role``, the thread's ``title``, a ``snippet`` of
    its text with the matched words between ``**`` marks, ``rank`` (the bm25 score SQLite gives: lower is a better
    match, so hits come sorted by it, best first), its ``status`` (``replaced`` for an earlier version) and
    ``created_at`` (Units: s since the epoch)."""

    thread_id: str
    message_id: str
    role: str
    title: str
    snippet: str
    rank: float
    status: str
    created_at: float

    def as_dict(self) -> dict[str, Any]:
        """The hit as a plain dict (field name -> value), as ``baton threads search --json`` prints it."""
        return asdict(self)


def plain_words(query: str) -> str:
    """``query`` as an FTS5 expression that matches its words as plain words, all of them, in any order: each run of
    letters, digits or ``_`` quoted (so ``AND``, ``-`` and quotes mean nothing special). ``""`` when the query holds
    no word at all."""
    return " ".join('"' + w.replace('"', '""') + '"' for w in _WORD.findall(query))


class SearchOps:
    """Full-text search (mixed into ``Store``)."""

    # provided by Store
    _guard: Any
    _write: Any
    _conn: Any
    path: Any
    resolve_thread_id: Any

    def search(self, query: str, limit: int = 50, thread_id: str | None = None) -> list[SearchHit]:
        """Messages of every thread (or of ``thread_id``, an id or unique prefix) whose text matches ``query``, best
        match first, at most ``limit``; earlier versions and archived threads included. Raises ``UsageError`` for an
        empty query or a ``limit`` under 1, ``StoreError`` when this SQLite has no FTS5 or on database trouble,
        ``NotFound`` for an unknown thread."""
        if not query or not query.strip():
            raise UsageError("the search query is empty; give the words to look for")
        if limit < 1:
            raise UsageError(f"--limit must be at least 1 (got {limit})")
        tid = self.resolve_thread_id(thread_id) if thread_id is not None else None
        self._ensure_search_index()
        try:
            return self._match(query, limit, tid)
        except sqlite3.OperationalError:
            pass  # not a valid FTS5 expression (a stray quote, a lone operator, a column filter): plain words then
        words = plain_words(query)
        if not words:
            return []
        with self._guard("searching"):
            return self._match(words, limit, tid)

    def _match(self, expression: str, limit: int, thread_id: str | None) -> list[SearchHit]:
        table, ids = migrations.SEARCH_TABLE, migrations.SEARCH_IDS_TABLE
        where = " AND m.thread_id = ?" if thread_id else ""
        params: tuple[Any, ...] = (expression, thread_id, limit) if thread_id else (expression, limit)
        rows = self._conn().execute(
            f"SELECT m.thread_id, m.id, m.role, t.title, "
            f"snippet({table}, 0, ?, ?, ?, {SNIPPET_TOKENS:d}), {table}.rank, m.status, m.created_at "
            f"FROM {table} JOIN {ids} s ON s.fts_rowid = {table}.rowid "
            f"JOIN messages m ON m.id = s.message_id JOIN threads t ON t.id = m.thread_id "
            f"WHERE {table} MATCH ? AND t.deleted_at IS NULL{where} ORDER BY {table}.rank, m.created_at DESC LIMIT ?",
            (*HIGHLIGHT, ELLIPSIS, *params)).fetchall()
        return [SearchHit(r[0], r[1], r[2], r[3] or "", r[4] or "", float(r[5]), r[6], float(r[7])) for r in rows]

    def _ensure_search_index(self) -> None:
        """Build the index now when migration 3 ran on a SQLite without FTS5 (or a part of it is missing)."""
        conn = self._conn()
        try:
            present = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name IN (?, ?)",
                                   (migrations.SEARCH_TABLE, migrations.SEARCH_IDS_TABLE)).fetchone()[0]
        except sqlite3.Error as e:
            raise translate(e, self.path, "searching") from e
        if present == 2:
            return
        with self._write("building the search index") as wconn:
            if not migrations.create_search_index(wconn):
                raise StoreError(NO_FTS5)
