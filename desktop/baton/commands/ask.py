"""`baton ask`: one prompt through the same pipeline the GUI uses."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from baton.core.errors import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("ask", help="answer one prompt and print its receipt",
                       description="Answer one prompt (use - to read it from stdin), stream the text to stdout "
                                   "and print a one-line receipt to stderr. With a ladder (`baton config set "
                                   "routing.ladder A,B,C`) and nothing pinned, the tiers are tried cheapest first, one "
                                   "step up at a time; the receipt lists each step (--json: \"ladder\": [{tier, where, "
                                   "tokens, energy_j, usd, verdict, score, verification}]).")
    p.add_argument("prompt", help="the prompt, or - to read stdin")
    p.add_argument("--model", help="model id, name or .gguf path (default: the default model)")
    p.add_argument("--tier", choices=("local", "auto", "cloud"), default="auto")
    p.add_argument("--endpoint", help="answer on this remote endpoint (a name from `baton endpoints list`)")
    p.add_argument("--thread", help="continue this thread (id or unique prefix)")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None, help="0 (greedy) to 2 (default: engine.temperature)")
    p.add_argument("--seed", type=int, default=None, help="repeatable sampling: the same seed gives the same answer")
    p.add_argument("--json", action="store_true", help="print the receipt as one JSON document")
    p.set_defaults(func=run)


def approve_on_tty(plan: Any) -> bool:
    """Ask on the terminal before text leaves the machine (routing mode `ask`); False without a terminal."""
    if not sys.stdin.isatty():
        print("baton: routing mode is `ask` and there is no terminal to approve the escalation; "
              "rerun on a terminal, or use --tier local/cloud", file=sys.stderr)
        return False
    print(f"\nEscalate to {plan.endpoint} ({plan.model} at {plan.base_url})? Reason: {plan.reason}\n"
          f"Estimated cost ${plan.est_usd:.4f}. This text will be sent:\n---\n{plan.text_to_send}\n---",
          file=sys.stderr)
    return input("Send it? [y/N] ").strip().lower() in ("y", "yes")


def callbacks(streamed: bool) -> dict[str, Any]:
    """``on_text``/``on_status``/``approve`` for a terminal: text to stdout as it streams (made safe for a
    terminal), status lines to stderr."""
    from baton.commands.textio import safe_for_terminal
    from baton.core.pipeline.turn import Phase

    tty = sys.stdout.isatty()

    def on_text(text: str) -> None:
        sys.stdout.write(safe_for_terminal(text) if tty else text)
        sys.stdout.flush()

    def on_status(status: str) -> None:
        if getattr(status, "phase", None) in (Phase.ESCALATING, Phase.ASKING):
            if streamed:
                sys.stdout.write("\n")
            print(f"baton: {status}", file=sys.stderr)

    return {"on_text": on_text if streamed else None, "on_status": on_status, "approve": approve_on_tty}


def print_result(result: Any, as_json: bool) -> int:
    """The receipt: one JSON document on stdout with ``--json``; notices and the one-line receipt on stderr."""
    from baton.commands.textio import safe_for_terminal

    if as_json:
        json.dump(result.receipt(), sys.stdout)
    sys.stdout.write("\n")
    for note in result.notices:
        print(f"baton: {safe_for_terminal(note)}", file=sys.stderr)
    ladder = getattr(result, "ladder", None)
    if ladder:  # the tiers the ladder tried, what each cost and its verdict; the receipt's reason says why it stopped
        from baton.core.pipeline.ladder import ladder_line

        print(f"baton: {safe_for_terminal(ladder_line(ladder))}", file=sys.stderr)
    elif getattr(result, "verification", None):
        print(f"baton: examples: {safe_for_terminal(str(result.verification.get('sentence', '')))}", file=sys.stderr)
    print(safe_for_terminal(result.one_line()), file=sys.stderr)
    print(f"thread {result.thread_id}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace, ctx: Any) -> int:
    from baton.commands.textio import read_prompt

    prompt = read_prompt(args.prompt)
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")
    from baton.core.types import SamplingParams

    service = ctx.service()
    params = SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed)
    result = service.ask(prompt, thread_id=args.thread, model=args.model, tier=args.tier, endpoint=args.endpoint,
                         params=params, **callbacks(not args.json))
    return print_result(result, args.json)
