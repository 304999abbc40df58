"""Schema migrations: an ordered list of functions, the schema version kept in ``PRAGMA user_version``.

Migration ``MIGRATIONS[i]`` takes a database at version ``i`` to version ``i + 1``. Each one runs in
its own ``BEGIN IMMEDIATE`` transaction together with the version bump, so a crash mid-way leaves
the database at the previous version, and two processes opening a new database at once do not both
run the same step. Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from baton.core.errors import StoreError

Migration = Callable[[sqlite3.Connection], None]

# Statuses written by schema 1. Schema 2's full list is ``records.Status`` (adds ``replaced`` and ``refused``).
_V1_STATUSES = ("done", "streaming", "cancelled", "interrupted", "failed", "loop", "escalated")
MESSAGE_STATUSES = (*_V1_STATUSES, "replaced", "refused")
FEEDBACK_KINDS = ("accept", "escalate", "rate")


def _run(conn: sqlite3.Connection, statements: str) -> None:
    """Run ``;``-separated DDL one statement at a time (``executescript`` would COMMIT first)."""
    for stmt in statements.split(";"):
        if stmt.strip():
            conn.execute(stmt)


def _m001_initial(conn: sqlite3.Connection) -> None:
    statuses = ", ".join(f"'{s}'" for s in _V1_STATUSES)
    kinds = ", ".join(f"'{k}'" for k in FEEDBACK_KINDS)
    _run(
        conn,
        f"""
        CREATE TABLE threads (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            archived INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX threads_by_updated ON threads(archived, updated_at);
        CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'done' CHECK (status IN ({statuses})),
            model TEXT,
            tier TEXT,
            writer TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            UNIQUE (thread_id, seq)
        );
        CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming';
        CREATE TABLE receipts (
            message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            json TEXT NOT NULL,
            total_j REAL,
            usd REAL,
            tier TEXT,
            escalated INTEGER NOT NULL DEFAULT 0,
            counted INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL
        );
        CREATE INDEX receipts_by_time ON receipts(created_at, counted, tier, total_j, usd, escalated);
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ({kinds})),
            value TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX feedback_by_message ON feedback(message_id);
        CREATE INDEX feedback_by_time ON feedback(created_at);
        CREATE TABLE kv (
            key TEXT PRIMARY KEY,
            json TEXT NOT NULL,
            updated_at REAL NOT NULL
        )
        """,
    )


def _m002_versions(conn: sqlite3.Connection) -> None:
    """Messages form a tree (``parent_id``: an answer's question, a question's previous answer), two new
    statuses (``replaced``: an earlier version; ``refused``: a request the gate or a policy stopped, kept with
    its explanation), what the privacy gate found per thread (kind and place, never the secret), and notes
    shown with a message (an escalation, a refusal) that survive a restart."""
    statuses = ", ".join(f"'{s}'" for s in MESSAGE_STATUSES)
    _run(
        conn,
        f"""
        CREATE TABLE messages_v2 (
            id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'done' CHECK (status IN ({statuses})),
            model TEXT,
            tier TEXT,
            writer TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            parent_id TEXT,
            note TEXT NOT NULL DEFAULT '',
            UNIQUE (thread_id, seq)
        );
        INSERT INTO messages_v2 (id, thread_id, seq, role, content, status, model, tier, writer, created_at,
                                 updated_at, parent_id)
            SELECT m.id, m.thread_id, m.seq, m.role, m.content, m.status, m.model, m.tier, m.writer, m.created_at,
                   m.updated_at,
                   (SELECT p.id FROM messages p WHERE p.thread_id = m.thread_id AND p.seq < m.seq
                      AND p.status != 'escalated' ORDER BY p.seq DESC LIMIT 1)
            FROM messages m;
        DROP TABLE messages;
        ALTER TABLE messages_v2 RENAME TO messages;
        CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming';
        CREATE INDEX messages_by_parent ON messages(parent_id);
        CREATE TABLE gate_findings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
            message_id TEXT REFERENCES messages(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            place TEXT NOT NULL,
            action TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX gate_findings_by_thread ON gate_findings(thread_id)
        """,
    )


MIGRATIONS: tuple[Migration, ...] = (_m001_initial, _m002_versions)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (``PRAGMA user_version``; 0 for a new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _newer_error(path: Path, found: int) -> StoreError:
    return StoreError(
        f"the database {path} was written by a newer Baton (schema {found}, this Baton knows "
        f"up to {SCHEMA_VERSION}): upgrade Baton to open it"
    )


def migrate(
    conn: sqlite3.Connection, path: Path, migrations: tuple[Migration, ...] = MIGRATIONS
) -> int:
    """Bring the database to ``len(migrations)``; returns the version it was at before.

    ``conn`` must be in autocommit mode (``isolation_level=None``). sqlite3 errors propagate to the
    caller, which turns them into ``StoreError``.
    """
    target = len(migrations)
    start = schema_version(conn)
    if start > target:
        raise _newer_error(path, start)
    if start == target:
        return start
    # A migration may rebuild a table: with foreign keys on, dropping the old table would cascade into the
    # rows that point at it. They are switched off around the steps and checked after.
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        return _migrate_steps(conn, path, migrations, start, target)
    finally:
        conn.execute("PRAGMA foreign_keys = ON")


def _migrate_steps(conn: sqlite3.Connection, path: Path, migrations: tuple[Migration, ...], start: int,
                   target: int) -> int:
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have migrated meanwhile.
            current = schema_version(conn)
            if current > target:
                raise _newer_error(path, current)
            if current == target:
                conn.execute("COMMIT")
                return start
            migrations[current](conn)
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise sqlite3.IntegrityError(f"migration {current + 1} left {len(broken)} dangling references")
            conn.execute(f"PRAGMA user_version = {current + 1:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
