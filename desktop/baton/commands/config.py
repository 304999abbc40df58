"""`baton config`: read and change settings by dotted key (e.g. routing.mode, engine.n_ctx).

Endpoints are managed with `baton endpoints`; keys with `baton keys` (never in the config file).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from baton.core.errors import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("config", help="read or change settings",
                       description="Settings by dotted key, e.g. `baton config set routing.mode ask`. "
                                   "The file is config.toml under Baton's config directory.")
    p.set_defaults(func=run_list, json=False)
    actions = p.add_subparsers(dest="config_command", metavar="ACTION")
    get = actions.add_parser("get", help="print one setting")
    get.add_argument("key")
    get.add_argument("--json", action="store_true", help="print the value as JSON")
    get.set_defaults(func=run_get)
    st = actions.add_parser("set", help="change one setting and save",
                            description="Change one setting and save. routing.ladder takes its tiers comma-separated, "
                                        "cheapest first (\"\" empties it); verify.mode takes ask, on or off.")
    st.add_argument("key")
    st.add_argument("value")
    st.add_argument("--json", action="store_true", help="print the new value as JSON")
    st.set_defaults(func=run_set)
    ls = actions.add_parser("list", help="print every setting")
    ls.add_argument("--json", action="store_true", help="print one JSON document")
    ls.set_defaults(func=run_list)
    path = actions.add_parser("path", help="print the config file's path")
    path.set_defaults(func=run_path)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _leaf(ctx: Any, key: str) -> Any:
    flat = ctx.settings.flat()
    if key not in flat:
        ctx.settings.get(key)  # raises the standard "unknown setting" error for a bad key
        raise UsageError(f"'{key}' is a group of settings, not one; see `baton config list`")
    return flat[key]


def run_get(args: argparse.Namespace, ctx: Any) -> int:
    value = _leaf(ctx, args.key)
    print(json.dumps({args.key: value}) if args.json else _fmt(value))
    return 0


def run_set(args: argparse.Namespace, ctx: Any) -> int:
    old = _leaf(ctx, args.key)
    from baton.config_rules import COMMA_LISTS

    if isinstance(old, list) and args.key not in COMMA_LISTS:
        raise UsageError(f"{args.key} is a list; edit {ctx.paths.config_file} to change it")
    ctx.settings.set(args.key, args.value)
    ctx.save_settings()
    new = ctx.settings.get(args.key)
    if args.json:
        print(json.dumps({args.key: new}))
    print(f"baton: {args.key} = {_fmt(new)} (was {_fmt(old)})", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace, ctx: Any) -> int:
    flat = ctx.settings.flat()
    if getattr(args, "json", False):
        print(json.dumps(flat))
        return 0
    width = max(len(k) for k in flat)
    for k, v in flat.items():
        print(f"{k:<{width}}  {_fmt(v)}")
    n = len(ctx.settings.endpoints)
    print(f"baton: {n} endpoint{'s' if n != 1 else ''} (see `baton endpoints list`); file: {ctx.paths.config_file}",
          file=sys.stderr)
    return 0


def run_path(args: argparse.Namespace, ctx: Any) -> int:
    print(ctx.paths.config_file)
    return 0
