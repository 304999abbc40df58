"""`baton threads`: list, show, rename, archive and delete the stored conversations.

Human output passes every stored text (titles, messages, models) through ``safe_for_terminal``: an
answer's escape sequences are shown, never obeyed. ``--json`` keeps the text exactly as stored."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from baton.commands.textio import safe_for_terminal as safe
from baton.core.store import Message, Store, Thread


def register(sub: Any) -> None:
    p = sub.add_parser("threads", help="list, show or delete stored threads",
                       description="List threads (newest first) with their message count and spend; "
                                   "`show ID` prints one thread, `rm ID` deletes it. IDs may be given as "
                                   "a unique prefix of at least 6 characters.")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--all", action="store_true", help="include archived threads")
    p.set_defaults(func=run_list)
    actions = p.add_subparsers(dest="threads_command", metavar="ACTION")

    show = actions.add_parser("show", help="print a thread's messages")
    show.add_argument("id", help="thread id or unique prefix")
    show.add_argument("--json", action="store_true", help="print one JSON document")
    show.set_defaults(func=run_show)

    rm = actions.add_parser("rm", help="delete a thread with its messages and receipts")
    rm.add_argument("id", help="thread id or unique prefix")
    rm.add_argument("--json", action="store_true", help="print one JSON document")
    rm.set_defaults(func=run_rm)

    rename = actions.add_parser("rename", help="set a thread's title")
    rename.add_argument("id", help="thread id or unique prefix")
    rename.add_argument("title")
    rename.set_defaults(func=run_rename, json=False)

    archive = actions.add_parser("archive", help="hide a thread from the list (--undo to bring it back)")
    archive.add_argument("id", help="thread id or unique prefix")
    archive.add_argument("--undo", action="store_true")
    archive.set_defaults(func=run_archive, json=False)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts))


def thread_doc(t: Thread) -> dict[str, Any]:
    return {"id": t.id, "title": t.title, "messages": t.message_count, "energy_j": t.energy_j,
            "usd": t.usd, "updated_at": t.updated_at, "updated": _iso(t.updated_at),
            "created_at": t.created_at, "archived": t.archived}


def message_doc(m: Message, receipt: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": m.id, "seq": m.seq, "role": m.role, "content": m.content, "status": m.status,
            "model": m.model, "tier": m.tier, "created_at": m.created_at, "updated_at": m.updated_at,
            "receipt": receipt}


def _open(ctx: Any) -> Store:
    return Store(ctx.paths.db_file)


def run_list(args: argparse.Namespace, ctx: Any) -> int:
    with _open(ctx) as store:
        threads = store.list_threads(include_archived=args.all)
    if args.json:
        print(json.dumps([thread_doc(t) for t in threads], ensure_ascii=False))
        return 0
    if not threads:
        print("no threads yet; start one with `baton ask PROMPT`", file=sys.stderr)
        return 0
    print(f"{'ID':<8}  {'UPDATED':<16}  {'MSGS':>4}  {'ENERGY':>9}  {'USD':>8}  TITLE")
    for t in threads:
        title = safe(" ".join((t.title or "(untitled)").splitlines())) + ("  [archived]" if t.archived else "")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(t.updated_at))
        print(f"{t.id[:8]:<8}  {when:<16}  {t.message_count:>4}  {t.energy_j:>8.1f}J  "
              f"{t.usd:>8.4f}  {title}")
    return 0


def run_show(args: argparse.Namespace, ctx: Any) -> int:
    with _open(ctx) as store:
        thread = store.get_thread(args.id)
        messages = store.history(thread.id)
        receipts = store.thread_receipts(thread.id)
    if args.json:
        doc = {"thread": thread_doc(thread),
               "messages": [message_doc(m, receipts.get(m.id)) for m in messages]}
        print(json.dumps(doc, ensure_ascii=False))
        return 0
    title = " ".join((thread.title or "(untitled)").splitlines())
    print(f"# {safe(title)}  [{thread.id}]")
    for m in messages:
        label = m.role if m.status == "done" else f"{m.role}, {m.status}"
        via = f" via {m.model} ({m.tier})" if m.model else ""
        print(safe(f"\n[{m.seq}] {label}{via}:"))
        print(safe(m.content))
        r = receipts.get(m.id)
        if r and isinstance(r.get("energy"), dict):
            usd = (r.get("cost") or {}).get("usd") or 0.0
            print(f"    receipt: {r['energy'].get('total_j') or 0.0:.1f} J, ${usd:.4f}")
    return 0


def run_rm(args: argparse.Namespace, ctx: Any) -> int:
    with _open(ctx) as store:
        thread = store.get_thread(args.id)
        store.delete_thread(thread.id)
    if args.json:
        print(json.dumps({"deleted": thread.id, "title": thread.title, "messages": thread.message_count}))
    else:
        print(f"deleted thread {thread.id} ({safe(thread.title or 'untitled')}, "
              f"{thread.message_count} messages)", file=sys.stderr)
    return 0


def run_rename(args: argparse.Namespace, ctx: Any) -> int:
    with _open(ctx) as store:
        store.rename_thread(args.id, args.title)
    return 0


def run_archive(args: argparse.Namespace, ctx: Any) -> int:
    with _open(ctx) as store:
        store.archive_thread(args.id, archived=not args.undo)
    return 0
