"""`baton retry`, `baton edit`, `baton fork`: new versions of an answer or a question, and branches of a thread."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from baton.commands.ask import callbacks, print_result


def register(sub: Any) -> None:
    p = sub.add_parser("retry", help="answer the question behind an answer again, on the tier you name",
                       description="Answer the question behind answer MESSAGE_ID again. The new answer takes the "
                                   "old one's place; the old one stays as an earlier version.")
    p.add_argument("message_id", help="the id of the answer to redo, or a unique prefix of 6+ characters "
                                      "(see `baton threads show`)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--endpoint", help="a remote endpoint by name")
    where.add_argument("--tier", choices=("local", "cloud", "auto"))
    p.add_argument("--model", help="a local model id, name or .gguf path")
    p.add_argument("--json", action="store_true", help="print the receipt as one JSON document")
    p.set_defaults(func=run_retry)

    e = sub.add_parser("edit", help="replace a question with new text and answer it",
                       description="Replace question MESSAGE_ID with TEXT and answer it; the old question and "
                                   "its answers stay as an earlier version.")
    e.add_argument("message_id", help="the id of the question to replace, or a unique prefix of 6+ characters")
    e.add_argument("text", help="the new question, or - to read stdin")
    e.add_argument("--tier", choices=("local", "auto", "cloud"), default="auto")
    e.add_argument("--model", help="a local model id, name or .gguf path")
    e.add_argument("--json", action="store_true", help="print the receipt as one JSON document")
    e.set_defaults(func=run_edit)

    f = sub.add_parser("fork", help="start a new thread from a thread's history up to a message",
                       description="A new thread holding THREAD_ID's messages up to and including MESSAGE_ID.")
    f.add_argument("thread_id", help="the thread's id or a unique prefix")
    f.add_argument("message_id", help="the last message to copy: its id or a unique prefix of 6+ characters")
    f.add_argument("--title", default="")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=run_fork)


def run_retry(args: argparse.Namespace, ctx: Any) -> int:
    result = ctx.service().retry(args.message_id, endpoint=args.endpoint, tier=args.tier, model=args.model,
                                 **callbacks(not args.json))
    return print_result(result, args.json)


def run_edit(args: argparse.Namespace, ctx: Any) -> int:
    from baton.commands.textio import read_prompt

    text = read_prompt(args.text)
    result = ctx.service().edit(args.message_id, text, tier=args.tier, model=args.model, **callbacks(not args.json))
    return print_result(result, args.json)


def run_fork(args: argparse.Namespace, ctx: Any) -> int:
    thread = ctx.service().fork(args.thread_id, args.message_id, args.title)
    if args.json:
        json.dump({"thread_id": thread.id, "title": thread.title, "messages": thread.message_count}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(thread.id)
    print(f"forked into thread {thread.id} ({thread.message_count} messages)", file=sys.stderr)
    return 0
