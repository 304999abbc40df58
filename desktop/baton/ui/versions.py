"""Which messages the chat shows, given the versions the user picked. Pure functions over the store's ``Message``
records (no Qt, no SQL): the thread's current path, or, where the user browsed to another version ("‹ 1/2 ›"),
that version and the branch below it.

A *point* is a place in the thread where versions sit side by side: the same parent and the same role (the answers
of one question after a retry; the questions after one answer after an edit). Local answers an escalation
replaced are not versions of their own: they are shown, faded, just before the answer that replaced them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

SUPERSEDED = ("escalated", "replaced")


def point_of(m: Any) -> str:
    """The key of the point ``m`` sits at: its parent's id and its role."""
    return f"{m.parent_id or ''}|{m.role}"


def _versions(siblings: list[Any]) -> list[Any]:
    return [s for s in siblings if s.status != "escalated"]


def shown_path(current: list[Any], everything: list[Any], picks: dict[str, str]) -> list[Any]:
    """The messages to show, oldest first. ``current``: the store's current path; ``everything``: every message of
    the thread in written order; ``picks``: point key -> the id of the version the user chose there. Without a
    pick on the current path this is ``current``; from the first picked point on, the picked version and, below
    it, at each point the version on the current path, else the newest that is not an earlier version, else the
    newest."""
    by_id = {m.id: m for m in everything}
    on_path = {m.id for m in current}
    cut = next((i for i, m in enumerate(current)
                if picks.get(point_of(m)) not in (None, m.id) and picks[point_of(m)] in by_id), None)
    if cut is None:
        return list(current)
    children: dict[str | None, list[Any]] = defaultdict(list)
    for m in everything:
        children[m.parent_id].append(m)
    shown = list(current[:cut])
    node = current[cut].parent_id
    while True:
        kids = _versions(children.get(node, []))
        if not kids:
            break
        picked = picks.get(point_of(kids[0]))
        choice = (next((k for k in kids if k.id == picked), None)
                  or next((k for k in kids if k.id in on_path), None)
                  or next((k for k in reversed(kids) if k.status not in SUPERSEDED), None)
                  or kids[-1])
        shown.append(choice)
        node = choice.id
    return shown


def with_versions(shown: list[Any], everything: list[Any]) -> list[tuple[Any, list[str], int]]:
    """Each shown message with the ids of the versions at its point (oldest first) and its index among them;
    an escalated local answer comes just before the answer that replaced it (as a single version)."""
    siblings: dict[str, list[Any]] = defaultdict(list)
    for m in everything:
        siblings[point_of(m)].append(m)
    out: list[tuple[Any, list[str], int]] = []
    for m in shown:
        if m.role == "assistant":
            out += [(e, [e.id], 0) for e in siblings[point_of(m)] if e.status == "escalated" and e.seq < m.seq
                    and not any(v.seq > e.seq and v.seq < m.seq and v.status != "escalated"
                                for v in siblings[point_of(m)])]
        ids = [v.id for v in _versions(siblings[point_of(m)])] or [m.id]
        out.append((m, ids, ids.index(m.id) if m.id in ids else len(ids) - 1))
    return out
