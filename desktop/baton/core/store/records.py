"""Plain dataclasses the store returns (no sqlite3 rows leak out) and how sqlite3 errors read."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from baton.core.errors import StoreError

DISK_FULL_MESSAGE = "the disk is full: free space and retry; your text is kept in memory"


class Status(StrEnum):
    """A message's state. Compare with these, never by parsing text.

    ``streaming``: being written now; ``done``: finished; ``cancelled``: stopped by the user (text kept);
    ``interrupted``: its process died mid-answer (text kept); ``failed``: its tier failed (the error is in the
    receipt); ``loop``: cut where the model repeated itself; ``escalated``: a local answer superseded within the
    same request by a higher tier's (its cost is counted in the answer that replaced it); ``replaced``: an earlier
    version (a retried answer, an edited question), still reachable; ``refused``: a request the privacy gate or a
    policy stopped before anything was sent (``note`` says why).
    """

    DONE = "done"
    STREAMING = "streaming"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    LOOP = "loop"
    ESCALATED = "escalated"
    REPLACED = "replaced"
    REFUSED = "refused"


# Earlier versions: reachable, never on the thread's current path, never sent as history.
SUPERSEDED = frozenset({Status.ESCALATED, Status.REPLACED})


@dataclass(frozen=True)
class Thread:
    """A conversation: its id (uuid4), ``title``, ``created_at``/``updated_at`` (Units: s since the epoch), whether
    it is ``archived``, and, when read with totals, ``message_count``, ``energy_j`` (Units: J) and ``usd`` (Units:
    USD) summed over its counted receipts."""

    id: str
    title: str
    created_at: float
    updated_at: float
    archived: bool = False
    message_count: int = 0
    energy_j: float = 0.0
    usd: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The thread as a plain dict (field name -> value), as ``--json`` prints it."""
        return asdict(self)


@dataclass(frozen=True)
class Message:
    """One stored message: ids, its position ``seq`` in the thread, ``role``, ``content``, ``status`` (a ``Status``
    value), the ``model`` and ``tier`` that wrote an answer (``None`` for a question), timestamps (Units: s since
    the epoch), ``parent_id`` (the tree: an answer's question, a question's previous answer) and a ``note`` (e.g.
    why it was refused)."""

    id: str
    thread_id: str
    seq: int
    role: str
    content: str
    status: str
    model: str | None
    tier: str | None
    created_at: float
    updated_at: float
    parent_id: str | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The message as a plain dict (field name -> value), as ``--json`` prints it."""
        return asdict(self)


@dataclass(frozen=True)
class Feedback:
    """One judgement of an answer: row ``id``, the ``message_id``, ``kind`` (``accept``, ``escalate``, ``rate``), its
    JSON ``value`` (``None`` unless rated) and ``created_at`` (Units: s since the epoch)."""

    id: int
    message_id: str
    kind: str
    value: Any
    created_at: float

    def as_dict(self) -> dict[str, Any]:
        """The feedback as a plain dict (field name -> value)."""
        return asdict(self)


THREAD_COLUMNS = "t.id, t.title, t.created_at, t.updated_at, t.archived"
MESSAGE_COLUMNS = "id, thread_id, seq, role, content, status, model, tier, created_at, updated_at, parent_id, note"


def thread_from_row(row: tuple) -> Thread:
    """A ``Thread`` from a ``threads`` row (id, title, created, updated, archived), optionally followed by the
    message count, joules and dollars; missing totals read 0."""
    tid, title, created, updated, archived, *rest = row
    count, energy_j, usd = rest if rest else (0, 0.0, 0.0)
    return Thread(
        tid, title, float(created), float(updated), bool(archived),
        int(count or 0), float(energy_j or 0.0), float(usd or 0.0),
    )


def message_from_row(row: tuple) -> Message:
    """A ``Message`` from a row in ``MESSAGE_COLUMNS`` order."""
    mid, tid, seq, role, content, status, model, tier, created, updated, parent_id, note = row
    return Message(mid, tid, int(seq), role, content, status, model, tier, float(created), float(updated),
                   parent_id, note or "")


def feedback_from_row(row: tuple) -> Feedback:
    """A ``Feedback`` from a ``feedback`` row (id, message id, kind, JSON value or NULL, created)."""
    fid, mid, kind, value, created = row
    return Feedback(int(fid), mid, kind, None if value is None else json.loads(value), float(created))


SITE_SQL = ("(CASE WHEN tier = 'cloud' AND json_extract(json, '$.route.where') IN ('this_computer', 'network') "
            "THEN 'local' ELSE tier END)")
"""SQL over ``receipts``: which side of the totals an answer counts on. ``local`` for the local tier and for an
endpoint on the user's own machines (its receipt's ``route.where`` is ``this_computer``, loopback, or ``network``,
a private address: the receipt says "this computer" or "your network"); ``cloud`` for the rest. Used by every
local/cloud split (spend by tier, local work, totals by period) so they agree with the receipts."""


def receipt_columns(receipt: dict[str, Any]) -> tuple[float | None, float | None, str | None, int]:
    """The indexed columns (total_j, usd, tier, escalated) from a receipt.

    Reads the CONTRACT ``ask --json`` shape (``energy.total_j``, ``cost.usd``, ``route.tier``,
    ``route.escalated``) and falls back to flat keys of the same names.
    """
    energy = receipt.get("energy") or {}
    cost = receipt.get("cost") or {}
    route = receipt.get("route") or {}
    total_j = energy.get("total_j", receipt.get("total_j"))
    usd = cost.get("usd", receipt.get("usd"))
    tier = route.get("tier", receipt.get("tier"))
    escalated = route.get("escalated", receipt.get("escalated", False))
    return (
        None if total_j is None else float(total_j),
        None if usd is None else float(usd),
        None if tier is None else str(tier),
        1 if escalated else 0,
    )


def title_from(text: str, limit: int = 48) -> str:
    """A one-line thread title from the first non-empty line of ``text``."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    if len(line) <= limit:
        return line
    cut = line[:limit]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"


# sqlite3 primary result codes we explain to the user.
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


def translate(error: sqlite3.Error, path: Path, action: str) -> StoreError:
    """Turn a sqlite3 error into a StoreError whose message says what happened and what to do."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    text = str(error).lower()
    if primary == _FULL or "disk is full" in text:
        return StoreError(f"{DISK_FULL_MESSAGE} (while {action}, database {path})")
    if primary in (_BUSY, _LOCKED) or "locked" in text:
        return StoreError(
            f"the database {path} is locked by another program (while {action}): close other "
            "Baton windows or processes using it and retry"
        )
    if primary in (_CORRUPT, _NOTADB) or "not a database" in text or "malformed" in text:
        return StoreError(
            f"the database {path} is corrupt or is not a Baton database (while {action}): move it "
            "aside and Baton starts a new one, or restore it from a backup"
        )
    if primary == _READONLY:
        return StoreError(
            f"the database {path} is read-only (while {action}): check the file's permissions"
        )
    if primary == _CANTOPEN:
        return StoreError(
            f"cannot open the database {path} (while {action}): check that the folder exists and "
            "is writable"
        )
    if primary == _IOERR:
        return StoreError(
            f"a disk error hit the database {path} (while {action}): {error}; check the disk and retry"
        )
    return StoreError(f"database error on {path} while {action}: {error}")
