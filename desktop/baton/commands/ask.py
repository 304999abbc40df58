"""`baton ask`: one prompt through the same pipeline the GUI uses."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from baton.core.errors import BatonError


def register(sub: Any) -> None:
    p = sub.add_parser("ask", help="answer one prompt and print its receipt",
                       description="Answer one prompt (use - to read it from stdin), stream the text to stdout "
                                   "and print a one-line receipt to stderr.")
    p.add_argument("prompt", help="the prompt, or - to read stdin")
    p.add_argument("--model", help="model id, name or .gguf path (default: the default model)")
    p.add_argument("--tier", choices=("local", "auto", "cloud"), default="auto")
    p.add_argument("--thread", help="continue this thread (id or unique prefix)")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print the receipt as one JSON document")
    p.set_defaults(func=run)


def _approve_on_tty(plan: Any) -> bool:
    if not sys.stdin.isatty():
        print("baton: routing mode is `ask` and there is no terminal to approve the escalation; "
              "rerun on a terminal, or use --tier local/cloud", file=sys.stderr)
        return False
    print(f"\nEscalate to {plan.endpoint} ({plan.model} at {plan.base_url})? Reason: {plan.reason}\n"
          f"Estimated cost ${plan.est_usd:.4f}. This text will be sent:\n---\n{plan.text_to_send}\n---",
          file=sys.stderr)
    return input("Send it? [y/N] ").strip().lower() in ("y", "yes")


def run(args: argparse.Namespace, ctx: Any) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if args.max_tokens is not None and args.max_tokens < 1:
        raise BatonError("--max-tokens must be at least 1")
    service = ctx.service()
    streamed = not args.json

    def on_text(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def on_status(status: str) -> None:
        if status.startswith(("escalating", "asking")):
            if streamed:
                sys.stdout.write("\n")
            print(f"baton: {status}", file=sys.stderr)

    result = service.ask(prompt, thread_id=args.thread, model=args.model, tier=args.tier,
                         max_tokens=args.max_tokens, on_text=on_text if streamed else None,
                         approve=_approve_on_tty, on_status=on_status)
    if args.json:
        json.dump(result.receipt(), sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("\n")
    for note in result.notices:
        print(f"baton: {note}", file=sys.stderr)
    print(result.one_line(), file=sys.stderr)
    print(f"thread {result.thread_id}", file=sys.stderr)
    return 0
