"""`baton threads`: list, show, search, export, set, rename, archive and delete the stored conversations.

Human output passes every stored text (titles, messages, models) through ``safe_for_terminal``: an
answer's escape sequences are shown, never obeyed. ``--json`` keeps the text exactly as stored."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from baton.commands.textio import check_utf8, safe_for_terminal as safe
from baton.core.thread_doc import ThreadView, markdown, print_show, thread_doc
from baton.core.errors import UsageError
from baton.core.store import Store
from baton.core.store.thread_ops import Burn, ThreadSettings


def register(sub: Any) -> None:
    p = sub.add_parser("threads", help="list, show, search, export or delete stored threads",
                       description="List threads (newest first) with their message count and spend; "
                                   "`show ID` prints one thread, `search QUERY` finds messages in every thread, "
                                   "`export ID` writes one out, `rm ID` deletes it. IDs may be given as "
                                   "a unique prefix of at least 6 characters.")
    actions = p.add_subparsers(dest="threads_command", metavar="ACTION")
    listing = actions.add_parser("list", help="list the threads (the same as `baton threads` alone)")
    for lister in (p, listing):
        lister.add_argument("--json", action="store_true", help="print one JSON document")
        lister.add_argument("--all", action="store_true", help="include archived threads")
        lister.set_defaults(func=run_list)

    show = actions.add_parser("show", help="print a thread's messages (the current versions)",
                              description="Print the thread's current versions in order, each with its short id "
                                          "(what retry, edit and fork accept), its status and, where a point has "
                                          "several versions, which one it is. --json gives every message with a "
                                          "`current` flag.")
    show.add_argument("id", help="thread id or unique prefix")
    show.add_argument("--all", dest="all_versions", action="store_true",
                      help="also print earlier versions and abandoned branches, marked")
    show.add_argument("--json", action="store_true", help="print one JSON document")
    show.set_defaults(func=run_show)

    search = actions.add_parser(
        "search", help="full-text search over every message of every thread",
        description="Find messages in every thread, best match first (bm25), with the matching snippet. QUERY is "
                    "read as SQLite FTS5 syntax (\"exact phrase\", a OR b, pref*, NOT) when it is valid, else as "
                    "plain words that must all appear. --json gives a list of {thread_id, message_id, role, title, "
                    "snippet, rank} (rank: bm25, lower is better).")
    search.add_argument("query", nargs="+", help="the words to look for")
    search.add_argument("--thread", help="only this thread (id or unique prefix)")
    search.add_argument("--limit", type=int, default=50, help="at most this many hits (default 50)")
    search.add_argument("--json", action="store_true", help="print one JSON document")
    search.set_defaults(func=run_search)

    export = actions.add_parser(
        "export", help="write a thread out as Markdown or JSON on stdout",
        description="Markdown (the default) for people: the title and each message of the current path with its "
                    "role, model and receipt in one line. JSON for tools: every message, earlier versions "
                    "included, with parent_id, status and its full receipt.")
    export.add_argument("id", help="thread id or unique prefix")
    export.add_argument("--format", choices=("md", "json"), default="md", help="md (default) or json")
    export.set_defaults(func=run_export, json=False)

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

    st = actions.add_parser(
        "set", help="a thread's own system prompt, model, tier mode, temperature and budgets",
        description="Change a thread's settings; what is not given stays. Its questions then use its system prompt "
                    "(instead of Baton's), model ('ladder': the routing ladder; 'default': the default model), tier "
                    "mode and temperature unless a question asks otherwise. Budgets: once the thread has spent "
                    "--budget-usd, nothing more of it goes to a remote tier (auto questions stay local, cloud ones "
                    "are refused); once it has spent --budget-j, answers warn, and with --hard local answers are "
                    "refused. 0 removes a budget. `baton threads show ID` prints them.")
    st.add_argument("id", help="thread id or unique prefix")
    st.add_argument("--system", help="the thread's system prompt ('' for Baton's default)")
    st.add_argument("--model", help="a model id or .gguf path, 'ladder', or 'default'")
    st.add_argument("--tier", choices=("auto", "local", "cloud"), help="the thread's tier mode")
    st.add_argument("--temperature", type=float, help="0..2; a negative value goes back to the default")
    st.add_argument("--budget-j", type=float, help="energy budget in joules (0: none)")
    st.add_argument("--budget-usd", type=float, help="dollar budget (0: none)")
    hard = st.add_mutually_exclusive_group()
    hard.add_argument("--hard", dest="hard", action="store_const", const=True,
                      help="a spent energy budget refuses local answers")
    hard.add_argument("--soft", dest="hard", action="store_const", const=False,
                      help="a spent energy budget only warns (the default)")
    pin = st.add_mutually_exclusive_group()
    pin.add_argument("--pin", dest="pinned", action="store_const", const=True, help="pin it to the top of the list")
    pin.add_argument("--unpin", dest="pinned", action="store_const", const=False)
    st.add_argument("--json", action="store_true", help="print the settings as one JSON document")
    st.set_defaults(func=run_set)


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
        view = ThreadView.read(store, args.id)
        settings, burn = store.thread_settings(view.thread.id), store.thread_burn(view.thread.id)
    if args.json:
        print(json.dumps({**view.show_doc(), "settings": settings.as_dict(), "burn": burn.as_dict()},
                         ensure_ascii=False))
    else:
        print_show(view, args.all_versions, sys.stdout)
        print("\n" + settings_text(settings, burn))
    return 0


def settings_text(s: ThreadSettings, b: Burn) -> str:
    """A thread's settings and spend for people, a few lines (text made safe for a terminal)."""
    temp = "default" if s.temperature is None else f"{s.temperature:g}"
    lines = [f"settings: model {s.model or 'default'} · tier {s.tier_mode} · temperature {temp}"
             + (" · pinned" if s.pinned else ""),
             "system prompt: " + (" ".join(s.system_prompt.split()) or "(Baton's default)")]
    spend = f"spent: {b.energy_j:.1f} J, ${b.usd:.4f}; last day {b.j_per_hour:.1f} J/h, ${b.usd_per_hour:.4f}/h"
    if s.budget_j is not None:
        spend += f"; energy budget {s.budget_j:.0f} J ({b.left_j:.0f} J left{', hard' if s.budget_hard else ''})"
    if s.budget_usd is not None:
        spend += f"; dollar budget ${s.budget_usd:.2f} (${b.left_usd:.4f} left)"
    return safe("\n".join([*lines, spend]))


def run_set(args: argparse.Namespace, ctx: Any) -> int:
    changes: dict[str, Any] = {}
    if args.system is not None:
        changes["system_prompt"] = check_utf8(args.system, "the system prompt")
    if args.model is not None:
        changes["model"] = "" if args.model.strip().lower() == "default" else args.model
    if args.tier is not None:
        changes["tier_mode"] = args.tier
    if args.temperature is not None:
        changes["temperature"] = None if args.temperature < 0 else args.temperature
    for key in ("budget_j", "budget_usd"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.hard is not None:
        changes["budget_hard"] = args.hard
    if args.pinned is not None:
        changes["pinned"] = args.pinned
    if not changes:
        raise UsageError("nothing to set: give --system, --model, --tier, --temperature, --budget-j, --budget-usd, "
                         "--hard/--soft or --pin/--unpin")
    with _open(ctx) as store:
        settings = store.set_thread_settings(args.id, **changes)
        burn = store.thread_burn(settings.thread_id)
    if args.json:
        print(json.dumps({"settings": settings.as_dict(), "burn": burn.as_dict()}, ensure_ascii=False))
    else:
        print(settings_text(settings, burn), file=sys.stderr)
    return 0


def run_search(args: argparse.Namespace, ctx: Any) -> int:
    query = check_utf8(" ".join(args.query), "the search query")
    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1 (got {args.limit})")
    with _open(ctx) as store:
        hits = store.search(query, limit=args.limit, thread_id=args.thread)
        short = store.short_message_ids(h.message_id for h in hits)
    if args.json:
        print(json.dumps([h.as_dict() for h in hits], ensure_ascii=False))
        return 0
    if not hits:
        print(safe(f"nothing matches {query!r}"), file=sys.stderr)
        return 0
    for h in hits:
        title = " ".join((h.title or "(untitled)").split())
        earlier = ", earlier version" if h.status in ("replaced", "escalated") else ""
        print(safe(f"{h.thread_id[:8]}  {short[h.message_id]}  {h.role}{earlier}  {title}"))
        print(safe("    " + " ".join(h.snippet.split())))
    print(f"{len(hits)} match{'es' if len(hits) != 1 else ''}; open one with `baton threads show ID`",
          file=sys.stderr)
    return 0


def run_export(args: argparse.Namespace, ctx: Any) -> int:
    with _open(ctx) as store:
        view = ThreadView.read(store, args.id)
        findings = store.gate_findings(view.thread.id) if args.format == "json" else []
    if args.format == "json":
        print(json.dumps(view.export_doc(findings), ensure_ascii=False))
    else:
        sys.stdout.write(markdown(view))
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
