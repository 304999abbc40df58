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


# Full-text search (schema 3). The FTS5 table holds one row per message (its content, tokenized without case or
# accents); ``message_search_ids`` ties each FTS row to its message by a stable integer key (``messages`` has a
# text primary key, and its implicit rowid may change on VACUUM). Triggers keep both in sync with ``messages``: a
# message is indexed when inserted, and again when its status changes with new text (an answer is indexed when it
# stops streaming: done, cancelled, failed, interrupted), so the saves of a streaming answer every half second cost
# the index nothing. A statement that changes a finished message's content must set its status in the same UPDATE.
# A later migration that rebuilds ``messages`` drops these triggers with it and must create them again.
SEARCH_TABLE = "message_search"
SEARCH_IDS_TABLE = "message_search_ids"
_SEARCH_TRIGGERS = ("message_search_insert", "message_search_update", "message_search_delete")
_SEARCH_ROWID = f"(SELECT fts_rowid FROM {SEARCH_IDS_TABLE} WHERE message_id = {{which}}.id)"
_SEARCH_DDL = (
    f"CREATE TABLE IF NOT EXISTS {SEARCH_IDS_TABLE} (fts_rowid INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE)",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {SEARCH_TABLE} USING fts5(content, "
    "tokenize = 'unicode61 remove_diacritics 2')",
    f"""CREATE TRIGGER IF NOT EXISTS message_search_insert AFTER INSERT ON messages BEGIN
        INSERT INTO {SEARCH_IDS_TABLE} (message_id) VALUES (new.id);
        INSERT INTO {SEARCH_TABLE} (rowid, content) VALUES ({_SEARCH_ROWID.format(which="new")}, new.content);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS message_search_update AFTER UPDATE OF status ON messages
    WHEN old.status = 'streaming' OR old.content IS NOT new.content BEGIN
        UPDATE {SEARCH_TABLE} SET content = new.content WHERE rowid = {_SEARCH_ROWID.format(which="new")};
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS message_search_delete AFTER DELETE ON messages BEGIN
        DELETE FROM {SEARCH_TABLE} WHERE rowid = {_SEARCH_ROWID.format(which="old")};
        DELETE FROM {SEARCH_IDS_TABLE} WHERE message_id = old.id;
    END""",
)


def fts5_missing(error: sqlite3.Error) -> bool:
    """Whether ``error`` says this SQLite has no FTS5 module (a build without full-text search)."""
    return "no such module" in str(error).lower() and "fts5" in str(error).lower()


def create_search_index(conn: sqlite3.Connection) -> bool:
    """Create the full-text index over message content, its triggers, and fill it from the messages already stored
    (idempotent: an index that exists is left alone). Runs inside the caller's transaction. Returns False, creating
    nothing, when this SQLite was built without FTS5; other sqlite3 errors propagate."""
    names = (SEARCH_TABLE, SEARCH_IDS_TABLE, *_SEARCH_TRIGGERS)
    have = {r[0] for r in conn.execute(
        f"SELECT name FROM sqlite_master WHERE name IN ({', '.join('?' * len(names))})", names)}
    if have == set(names):
        return True
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
        conn.execute("DROP TABLE temp.fts5_probe")
    except sqlite3.OperationalError as e:
        if fts5_missing(e):
            return False
        raise
    if SEARCH_TABLE in have or SEARCH_IDS_TABLE in have:  # a part is missing: start the index again
        conn.execute(f"DROP TABLE IF EXISTS {SEARCH_TABLE}")
        conn.execute(f"DROP TABLE IF EXISTS {SEARCH_IDS_TABLE}")
    for stmt in _SEARCH_DDL:
        conn.execute(stmt)
    conn.execute(f"INSERT INTO {SEARCH_IDS_TABLE} (message_id) SELECT id FROM messages ORDER BY thread_id, seq")
    conn.execute(f"INSERT INTO {SEARCH_TABLE} (rowid, content) SELECT s.fts_rowid, m.content "
                 f"FROM {SEARCH_IDS_TABLE} s JOIN messages m ON m.id = s.message_id")
    return True


def _m003_search(conn: sqlite3.Connection) -> None:
    """Full-text search over every message (SQLite FTS5), kept in sync by triggers, filled from the messages
    already stored. Where this Python's SQLite lacks FTS5 the step creates nothing; search builds the index the
    first time it runs on a SQLite that has it."""
    create_search_index(conn)


TIER_MODES = ("auto", "local", "cloud")


def _m004_thread_settings(conn: sqlite3.Connection) -> None:
    """Per-thread settings and sidebar state: the thread's system prompt, model (``''``: the default, ``'ladder'``:
    the routing ladder, else a model id or path), tier mode, temperature (NULL: the engine's), budgets in joules and
    dollars (NULL: none; ``budget_hard``: a spent joule budget refuses local answers too), ``pinned``, and
    ``deleted_at`` (a delete waiting out its undo window; purged after it, or at the next start)."""
    modes = ", ".join(f"'{m}'" for m in TIER_MODES)
    _run(
        conn,
        f"""
        ALTER TABLE threads ADD COLUMN system_prompt TEXT NOT NULL DEFAULT '';
        ALTER TABLE threads ADD COLUMN model TEXT NOT NULL DEFAULT '';
        ALTER TABLE threads ADD COLUMN tier_mode TEXT NOT NULL DEFAULT 'auto' CHECK (tier_mode IN ({modes}));
        ALTER TABLE threads ADD COLUMN temperature REAL;
        ALTER TABLE threads ADD COLUMN budget_j REAL;
        ALTER TABLE threads ADD COLUMN budget_usd REAL;
        ALTER TABLE threads ADD COLUMN budget_hard INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE threads ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE threads ADD COLUMN deleted_at REAL;
        CREATE INDEX threads_by_order ON threads(archived, pinned, created_at)
        """,
    )


MIGRATIONS: tuple[Migration, ...] = (_m001_initial, _m002_versions, _m003_search, _m004_thread_settings)
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
