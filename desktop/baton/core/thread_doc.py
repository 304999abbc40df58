"""What `baton threads show` and `baton threads export` print: a thread's messages as a tree of versions.

``ThreadView`` reads a thread once (every message, its receipts, the current path) and answers the questions the
printers ask: which messages are current, which version of its point a message is, the short id to show. The JSON
documents keep every stored text verbatim; the human and Markdown forms pass text through ``safe_for_terminal``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from baton.core.textsafe import safe_for_terminal as safe
from baton.core.store import Message, Store, Thread
from baton.core.store.records import Status

EXPORT_FORMAT = "baton.thread"
EXPORT_VERSION = 1
WHERE_WORDS = {"this_computer": "this computer", "network": "your network", "cloud": "a cloud"}
ROLE_WORDS = {"user": "You", "assistant": "Assistant", "system": "System"}


def iso(ts: float) -> str:
    """A local timestamp as ISO 8601 with its offset (for people reading JSON)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts))


def thread_doc(t: Thread) -> dict[str, Any]:
    """A thread as `baton threads --json` lists it."""
    return {"id": t.id, "title": t.title, "messages": t.message_count, "energy_j": t.energy_j,
            "usd": t.usd, "updated_at": t.updated_at, "updated": iso(t.updated_at),
            "created_at": t.created_at, "archived": t.archived}


@dataclass
class ThreadView:
    """One thread read at once: ``messages`` in write order (every version), ``path`` (the current versions,
    root first), ``receipts`` by message id and ``short`` (the short id to show for each message)."""

    thread: Thread
    messages: list[Message]
    path: list[Message]
    receipts: dict[str, dict[str, Any]]
    short: dict[str, str]

    @classmethod
    def read(cls, store: Store, thread_id: str) -> "ThreadView":
        """Read the thread ``thread_id`` (an id or unique prefix) from ``store``."""
        thread = store.get_thread(thread_id)
        messages = store.history(thread.id)
        return cls(thread, messages, store.thread_path(thread.id), store.thread_receipts(thread.id),
                   store.short_message_ids(m.id for m in messages))

    def current_ids(self) -> set[str]:
        """The ids of the messages on the current path."""
        return {m.id for m in self.path}

    def version_of(self) -> dict[str, tuple[int, int]]:
        """For each message, ``(k, n)``: it is version k of the n stored at its point (same parent, same role)."""
        groups: dict[tuple[str | None, str], list[Message]] = {}
        for m in self.messages:
            groups.setdefault((m.parent_id, m.role), []).append(m)
        out: dict[str, tuple[int, int]] = {}
        for group in groups.values():
            for k, m in enumerate(sorted(group, key=lambda x: x.seq), start=1):
                out[m.id] = (k, len(group))
        return out

    def tree_order(self) -> list[Message]:
        """Every message, each followed by what was written under it (depth first, older branches first)."""
        children: dict[str | None, list[Message]] = {}
        ids = {m.id for m in self.messages}
        for m in self.messages:
            children.setdefault(m.parent_id if m.parent_id in ids else None, []).append(m)
        out: list[Message] = []
        stack = list(reversed(children.get(None, [])))
        seen: set[str] = set()
        while stack:
            m = stack.pop()
            if m.id in seen:
                continue
            seen.add(m.id)
            out.append(m)
            stack.extend(reversed(children.get(m.id, [])))
        out.extend(m for m in self.messages if m.id not in seen)  # a loop in the tree: still shown
        return out

    def message_docs(self) -> list[dict[str, Any]]:
        """Every message in write order as JSON: ids (full and short), ``parent_id``, role, status, content (verbatim),
        model, tier, note, timestamps, receipt (or null), ``current`` (on the current path), ``version``/``versions``."""
        current, versions = self.current_ids(), self.version_of()
        return [{"id": m.id, "short_id": self.short[m.id], "seq": m.seq, "parent_id": m.parent_id, "role": m.role,
                 "status": m.status, "content": m.content, "model": m.model, "tier": m.tier, "note": m.note,
                 "created_at": m.created_at, "updated_at": m.updated_at, "receipt": self.receipts.get(m.id),
                 "current": m.id in current, "version": versions[m.id][0], "versions": versions[m.id][1]}
                for m in self.messages]

    def show_doc(self) -> dict[str, Any]:
        """`baton threads show --json`: the thread, every message, and the current path's ids in order."""
        return {"thread": thread_doc(self.thread), "messages": self.message_docs(),
                "current_path": [m.id for m in self.path]}

    def export_doc(self, gate_findings: list[dict[str, Any]]) -> dict[str, Any]:
        """`baton threads export --format json`: ``show_doc`` plus the format's name and version, when it was
        exported, and what the privacy gate found (kind and place, never the secret)."""
        return {"format": EXPORT_FORMAT, "format_version": EXPORT_VERSION, "exported_at": time.time(),
                **self.show_doc(), "gate_findings": gate_findings}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def receipt_line(receipt: dict[str, Any] | None) -> str:
    """A receipt in one line for people: tokens, seconds, joules (with the measured share), dollars, where it ran
    and whether it escalated, e.g. ``42 tok · 1.20 s · 12.5 J (80% measured) · $0.0000 · this computer``. Empty for
    no receipt; fields the receipt lacks are left out."""
    if not isinstance(receipt, dict):
        return ""
    sect = {k: receipt.get(k) if isinstance(receipt.get(k), dict) else {} for k in
            ("usage", "timing", "energy", "cost", "route")}
    usage, timing, energy, cost, route = (sect[k] for k in ("usage", "timing", "energy", "cost", "route"))
    parts: list[str] = []
    tokens = _num(usage.get("completion_tokens"))
    if tokens is not None:
        parts.append(f"{tokens:.0f} tok" + (" (estimated)" if usage.get("estimated") else ""))
    total_s = _num(timing.get("total_s"))
    if total_s is not None:
        parts.append(f"{total_s:.2f} s")
    total_j, measured_j = _num(energy.get("total_j")), _num(energy.get("measured_j"))
    if total_j is not None:
        share = ""
        if measured_j is not None and total_j > 0:
            pct = 100 * measured_j / total_j
            share = " (estimated)" if pct < 0.5 else " (measured)" if pct > 99.5 else f" ({pct:.0f}% measured)"
        parts.append(f"{total_j:.1f} J{share}")
    usd = _num(cost.get("usd"))
    if usd is not None:
        parts.append(f"${usd:.4f}")
    where = route.get("where")
    if isinstance(where, str) and where:
        parts.append(WHERE_WORDS.get(where, where))
    if route.get("escalated"):
        parts.append("escalated")
    return " · ".join(parts)


def _via(m: Message) -> str:
    if not m.model:
        return ""
    return f"{m.model} ({m.tier})" if m.tier else m.model


def print_show(view: ThreadView, all_versions: bool, out: Any) -> None:
    """`baton threads show` for people: the current path (or, with ``all_versions``, every message with the ones
    off the current path marked), each with its short id, status and "version k of n" where its point has several."""
    current, versions = view.current_ids(), view.version_of()
    title = " ".join((view.thread.title or "(untitled)").splitlines())
    print(f"# {safe(title)}  [{view.thread.id}]", file=out)
    shown = view.tree_order() if all_versions else view.path
    position = {m.id: i for i, m in enumerate(view.path, start=1)}
    for m in shown:
        head = [m.role, view.short[m.id], m.status]
        if _via(m):
            head.append("via " + _via(m))
        k, n = versions[m.id]
        if n > 1:
            head.append(f"version {k} of {n}")
        if m.id not in current:
            head.append("earlier version" if m.status in (Status.REPLACED, Status.ESCALATED)
                        else "not on the current path")
        mark = f"[{position[m.id]}]" if m.id in position else "[-]"
        print(safe(f"\n{mark} " + " · ".join(head) + ":"), file=out)
        print(safe(m.content), file=out)
        if m.note:
            print(safe("    note: " + " ".join(m.note.splitlines())), file=out)
        line = receipt_line(view.receipts.get(m.id))
        if line:
            print(safe("    receipt: " + line), file=out)
    if not shown:
        print("\n(no messages yet)", file=out)


def markdown(view: ThreadView) -> str:
    """The thread for people as Markdown: its title, a short header (id, spend, when exported), then each message of
    the current path with its role, the model that wrote it and its receipt in one line. Text is made safe for a
    terminal (control characters shown, never obeyed)."""
    t = view.thread
    title = " ".join((t.title or "Untitled thread").splitlines())
    earlier = len(view.messages) - len(view.path)
    lines = [f"# {title}", "",
             f"- Thread: `{t.id}`",
             f"- Messages: {len(view.path)}" + (f" (and {earlier} earlier versions or branches, in the JSON export)"
                                                if earlier else ""),
             f"- Spend: {t.energy_j:.1f} J, ${t.usd:.4f}",
             f"- Exported: {iso(time.time())}", ""]
    for m in view.path:
        head = ROLE_WORDS.get(m.role, m.role.capitalize())
        if _via(m):
            head += f" · {_via(m)}"
        if m.status != Status.DONE:
            head += f" · {m.status}"
        lines += ["---", "", f"### {head}", "", m.content.rstrip("\n"), ""]
        if m.note:
            lines += [f"> {' '.join(m.note.splitlines())}", ""]
        line = receipt_line(view.receipts.get(m.id))
        if line:
            lines += [f"*Receipt: {line}*", ""]
    return safe("\n".join(lines))
