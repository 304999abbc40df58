"""`baton keys`: store or remove an endpoint's API key in the OS keyring.

The key is read from a hidden prompt (on a terminal) or from stdin, never from the command line,
and is never printed, logged or written to the config file. A key with a control character (a line
break, CR, tab, NUL...) is refused without being echoed; so is stdin that is not UTF-8.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from baton.core.errors import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("keys", help="store endpoint keys in the OS keyring",
                       description="`baton keys set NAME` reads a key from a hidden prompt (or stdin) and stores it "
                                   "in the OS keyring; `baton keys rm NAME` removes it.")
    p.set_defaults(func=lambda args, ctx: _usage())
    actions = p.add_subparsers(dest="keys_command", metavar="ACTION")
    st = actions.add_parser("set", help="store the key for an endpoint (hidden prompt, or stdin)")
    st.add_argument("name", help="endpoint name (see `baton endpoints list`)")
    st.add_argument("--json", action="store_true", help="print one JSON document")
    st.set_defaults(func=run_set)
    rm = actions.add_parser("rm", aliases=["remove"], help="remove the stored key for an endpoint")
    rm.add_argument("name")
    rm.add_argument("--json", action="store_true", help="print one JSON document")
    rm.set_defaults(func=run_rm)


def _usage() -> int:
    raise UsageError("say what to do: `baton keys set NAME` or `baton keys rm NAME`")


def _credentials(ctx: Any) -> Any:
    creds = getattr(ctx, "credentials", None)
    if creds is not None:
        return creds
    from baton.core.cloud.credentials import Credentials

    return Credentials()


def _read_key(name: str) -> str:
    """The key from a hidden prompt (terminal) or stdin: one line, valid UTF-8, never echoed in an error."""
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            return getpass.getpass(f"API key for {name} (input hidden): ")
        except (EOFError, KeyboardInterrupt):
            raise UsageError(f"no key was given for '{name}'; nothing was stored") from None
    if sys.stdin is None:
        return ""
    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    if isinstance(raw, bytes):
        try:
            data = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError("the key on stdin is not valid UTF-8 text; pipe the key alone "
                             "(e.g. `printenv VAR | baton keys set NAME`)") from None
    else:
        data = raw
    data = data.strip("\r\n")
    lines = [ln.strip() for ln in data.split("\n") if ln.strip()]
    if len(lines) > 1:
        raise UsageError("stdin held more than one line; pipe the key alone (e.g. `printenv VAR | baton keys set NAME`)")
    return lines[0] if lines else ""


def run_set(args: argparse.Namespace, ctx: Any) -> int:
    endpoints = {e.name: e for e in ctx.settings.endpoints}
    key = _read_key(args.name)
    if not key:
        raise UsageError(f"no key was given for '{args.name}'; nothing was stored")
    ep = endpoints.get(args.name)
    _credentials(ctx).set(args.name, key, key_env=ep.key_env if ep is not None else "")
    if args.json:
        print(json.dumps({"stored": args.name, "endpoint_exists": ep is not None}))
    print(f"baton: stored the key for {args.name} in the OS keyring", file=sys.stderr)
    if ep is None:
        print(f"baton: note: there is no endpoint named {args.name} yet; add it with "
              f"`baton endpoints add {args.name} --base-url URL --model MODEL`", file=sys.stderr)
    return 0


def run_rm(args: argparse.Namespace, ctx: Any) -> int:
    removed = bool(_credentials(ctx).delete(args.name))
    if args.json:
        print(json.dumps({"removed": args.name if removed else None}))
    print(f"baton: {'removed the stored key for' if removed else 'no key was stored for'} {args.name}",
          file=sys.stderr)
    return 0
