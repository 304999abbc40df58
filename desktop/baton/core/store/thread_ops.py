"""Per-thread settings, the sidebar's stable order, pins, and deletes with an undo window (schema 4).

``ThreadOps`` is mixed into ``Store``. A thread's settings live in its ``threads`` row (migration 4): system prompt,
model (``''`` the default, ``'ladder'`` the routing ladder, else a model id or path), tier mode, temperature,
budgets in joules and dollars, whether the joule budget is a hard limit, and whether it is pinned.

The order is stable across restarts: pinned threads first, then newest created first (``created_at`` never changes,
so Ctrl+1..9 keep pointing at the same threads whatever answers in between). A delete first marks the row
(``deleted_at``): the thread disappears from lists and search at once and ``restore_thread`` brings it back; after
the undo window ``purge_deleted`` removes it for real, with its messages, receipts, feedback, search entries (the
``messages`` delete trigger) and gate findings (``ON DELETE CASCADE``). A process that dies inside the window leaves
the mark; the next ``purge_deleted`` (the app calls it at start) finishes the delete.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

from baton.core.errors import UsageError
from baton.core.store.migrations import TIER_MODES
from baton.core.store.records import SITE_SQL

UNDO_S = 10.0  # how long a deleted thread can be brought back (Units: s)
LADDER = "ladder"  # the ``model`` value that lets the routing ladder choose
BURN_WINDOW_S = 86400.0  # the burn rate is measured over the last day (Units: s)
_SETTINGS = ("system_prompt", "model", "tier_mode", "temperature", "budget_j", "budget_usd", "budget_hard", "pinned")


@dataclass(frozen=True)
class ThreadSettings:
    """One thread's settings: ``system_prompt`` (``''``: Baton's default), ``model`` (``''``: the default model,
    ``'ladder'``: the routing ladder, else a model id or .gguf path), ``tier_mode`` (``auto``/``local``/``cloud``),
    ``temperature`` (None: the engine's default), ``budget_j`` (Units: J) and ``budget_usd`` (Units: USD), None for no
    budget; ``budget_hard``: a spent joule budget refuses local answers (else it only warns); ``pinned``."""

    thread_id: str
    system_prompt: str = ""
    model: str = ""
    tier_mode: str = "auto"
    temperature: float | None = None
    budget_j: float | None = None
    budget_usd: float | None = None
    budget_hard: bool = False
    pinned: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (field name -> value), as ``baton threads show --json`` prints them."""
        return asdict(self)


@dataclass(frozen=True)
class Burn:
    """What a thread has spent and how fast: ``energy_j`` (Units: J) and ``usd`` (Units: USD) over its life (counted
    receipts), ``j_per_hour`` and ``usd_per_hour`` over the last day (what its answers of the last 24 h spent, divided
    by 24 h), and what is left of each budget (None where there is no budget; never below 0)."""

    energy_j: float
    usd: float
    j_per_hour: float
    usd_per_hour: float
    left_j: float | None
    left_usd: float | None

    def as_dict(self) -> dict[str, Any]:
        """The burn as a plain dict (field name -> value)."""
        return asdict(self)


def _check(changes: dict[str, Any]) -> dict[str, Any]:
    """Validated column values for ``changes``; raises ``UsageError`` (one line) for a bad value or field."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in _SETTINGS:
            raise UsageError(f"unknown thread setting '{key}': use one of {', '.join(_SETTINGS)}")
        if key in ("system_prompt", "model"):
            out[key] = "" if value is None else str(value).strip()
        elif key == "tier_mode":
            if value not in TIER_MODES:
                raise UsageError(f"tier mode must be one of {', '.join(TIER_MODES)}, not '{value}'")
            out[key] = value
        elif key == "temperature":
            if value is not None and not (math.isfinite(float(value)) and 0.0 <= float(value) <= 2.0):
                raise UsageError("temperature must be between 0 and 2")
            out[key] = None if value is None else float(value)
        elif key in ("budget_j", "budget_usd"):
            if value is not None and not (math.isfinite(float(value)) and float(value) >= 0.0):
                raise UsageError(f"{key.replace('_', ' ')} must be a number of at least 0 (or none)")
            out[key] = None if value is None or float(value) == 0.0 else float(value)
        else:
            out[key] = int(bool(value))
    return out


class ThreadOps:
    """Thread settings, pins, the stable order, deletes with undo, and whether another writer changed anything
    (mixed into ``Store``)."""

    # provided by Store
    _guard: Any
    _write: Any
    _conn: Any
    resolve_thread_id: Any
    get_thread: Any
    list_threads: Any

    def data_version(self) -> int:
        """SQLite's ``data_version`` on this thread's connection: it changes when any other connection (another
        thread here, or another process such as `baton ask` or `baton serve`) commits. Cheap enough to poll."""
        with self._guard("reading the data version"):
            return int(self._conn().execute("PRAGMA data_version").fetchone()[0])

    def thread_settings(self, thread_id: str) -> ThreadSettings:
        """The settings of the thread with this id or unique prefix. Raises ``NotFound``, ``StoreError``."""
        tid = self.resolve_thread_id(thread_id)
        with self._guard("reading a thread's settings"):
            row = self._conn().execute(f"SELECT {', '.join(_SETTINGS)} FROM threads WHERE id = ?", (tid,)).fetchone()
        return _settings(tid, row)

    def all_thread_settings(self) -> dict[str, ThreadSettings]:
        """Every thread's settings by id (one query, for the sidebar)."""
        with self._guard("reading thread settings"):
            rows = self._conn().execute(f"SELECT id, {', '.join(_SETTINGS)} FROM threads").fetchall()
        return {r[0]: _settings(r[0], r[1:]) for r in rows}

    def set_thread_settings(self, thread_id: str, **changes: Any) -> ThreadSettings:
        """Change some of a thread's settings (keyword names as in ``ThreadSettings``; a budget of 0 or None means no
        budget, a temperature of None the engine's default) and return them all. Raises ``UsageError`` for a bad
        value (nothing is changed then), ``NotFound``, ``StoreError``."""
        tid = self.resolve_thread_id(thread_id)
        values = _check(changes)
        if values:
            cols = ", ".join(f"{k} = ?" for k in values)
            with self._write("saving a thread's settings") as conn:
                conn.execute(f"UPDATE threads SET {cols} WHERE id = ?", (*values.values(), tid))
        return self.thread_settings(tid)

    def pin_thread(self, thread_id: str, pinned: bool = True) -> None:
        """Pin (or unpin) a thread: pinned threads come first in ``ordered_threads``. Raises ``NotFound``."""
        self.set_thread_settings(thread_id, pinned=pinned)

    def ordered_threads(self, archived: bool = False) -> list[Any]:
        """The sidebar's threads (``Thread`` with totals) in a stable order: pinned first, then newest created first.
        ``archived``: the archived threads instead of the others. Threads waiting out a delete are left out."""
        pinned = {tid for tid, s in self.all_thread_settings().items() if s.pinned}
        rows = [t for t in self.list_threads(include_archived=True) if bool(t.archived) == archived]
        return sorted(rows, key=lambda t: (t.id not in pinned, -t.created_at, t.id))

    def thread_burn(self, thread_id: str, now: float | None = None) -> Burn:
        """What the thread spent (life) and its burn rate over the last day, with what is left of its budgets."""
        t = self.get_thread(thread_id)
        s = self.thread_settings(t.id)
        since = (time.time() if now is None else now) - BURN_WINDOW_S
        with self._guard("adding up a thread's spend"):
            j, usd = self._conn().execute(
                "SELECT COALESCE(SUM(r.total_j), 0), COALESCE(SUM(r.usd), 0) FROM receipts r JOIN messages m "
                "ON m.id = r.message_id WHERE m.thread_id = ? AND r.counted = 1 AND r.created_at >= ?",
                (t.id, since)).fetchone()
        hours = BURN_WINDOW_S / 3600.0
        return Burn(t.energy_j, t.usd, float(j) / hours, float(usd) / hours,
                    None if s.budget_j is None else max(0.0, s.budget_j - t.energy_j),
                    None if s.budget_usd is None else max(0.0, s.budget_usd - t.usd))

    def soft_delete_thread(self, thread_id: str) -> str:
        """Hide a thread now (lists, search) and return its full id; ``restore_thread`` undoes it until
        ``purge_deleted`` removes it. Raises ``NotFound``, ``StoreError``."""
        tid = self.resolve_thread_id(thread_id)
        with self._write("deleting a thread") as conn:
            conn.execute("UPDATE threads SET deleted_at = ? WHERE id = ?", (time.time(), tid))
        return tid

    def restore_thread(self, thread_id: str) -> bool:
        """Undo ``soft_delete_thread``; False when the thread is gone already (purged)."""
        with self._write("restoring a thread") as conn:
            cur = conn.execute("UPDATE threads SET deleted_at = NULL WHERE id = ? AND deleted_at IS NOT NULL",
                               (thread_id,))
            return cur.rowcount > 0

    def purge_deleted(self, older_than_s: float = UNDO_S, only: str | None = None) -> list[str]:
        """Delete for real the threads marked deleted at least ``older_than_s`` ago (0: all of them; ``only``: just
        that id), with everything that refers to them. Returns their ids."""
        cutoff = time.time() - float(older_than_s)
        sql, params = "SELECT id FROM threads WHERE deleted_at IS NOT NULL AND deleted_at <= ?", [cutoff]
        if only is not None:
            sql, params = sql + " AND id = ?", [cutoff, only]
        with self._write("removing deleted threads") as conn:
            ids = [r[0] for r in conn.execute(sql, params).fetchall()]
            conn.executemany("DELETE FROM threads WHERE id = ?", [(i,) for i in ids])
        return ids

    def answers_since(self, ts: float) -> list[tuple[float, float, float, str | None, int, int]]:
        """The counted answers finished at or after ``ts`` (unix s), oldest first, as ``(created_at, total_j (J),
        usd (USD), tier, prompt_tokens, completion_tokens)`` read from their receipts (for ``core.totals``)."""
        with self._guard("adding up totals"):
            rows = self._conn().execute(
                f"SELECT created_at, COALESCE(total_j, 0), COALESCE(usd, 0), {SITE_SQL}, "
                "COALESCE(json_extract(json, '$.usage.prompt_tokens'), 0), "
                "COALESCE(json_extract(json, '$.usage.completion_tokens'), 0) FROM receipts "
                "WHERE counted = 1 AND created_at >= ? ORDER BY created_at", (float(ts),)).fetchall()
        return [(float(c), float(j), float(u), t, int(p), int(k)) for c, j, u, t, p, k in rows]


def _settings(tid: str, row: tuple | None) -> ThreadSettings:
    if row is None:
        return ThreadSettings(tid)
    prompt, model, mode, temp, bj, busd, hard, pinned = row
    return ThreadSettings(tid, prompt or "", model or "", mode or "auto", None if temp is None else float(temp),
                          None if bj is None else float(bj), None if busd is None else float(busd), bool(hard),
                          bool(pinned))
