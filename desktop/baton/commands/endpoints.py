"""`baton endpoints`: add, list, remove and test remote OpenAI-compatible tiers.

Endpoints live in config.toml WITHOUT their keys: a key comes from the env var named by
``--key-env`` or from the OS keyring (`baton keys set NAME`).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from baton.config import Endpoint
from baton.core.errors import BatonError, UsageError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def register(sub: Any) -> None:
    p = sub.add_parser("endpoints", help="manage remote OpenAI-compatible tiers",
                       description="Remote tiers (a LAN llama.cpp/vLLM/Ollama server or a paid cloud). "
                                   "Keys are never stored in the config: use `baton keys set NAME` or --key-env.")
    p.set_defaults(func=run_list, json=False)
    actions = p.add_subparsers(dest="endpoints_command", metavar="ACTION")

    add = actions.add_parser("add", help="add a remote tier")
    add.add_argument("name", help="a short name, e.g. openai or lan")
    add.add_argument("--base-url", required=True, help="OpenAI-compatible base URL, e.g. https://api.openai.com/v1")
    add.add_argument("--model", required=True, help="model id the endpoint serves")
    add.add_argument("--key-env", default="", help="environment variable that holds the key (e.g. OPENAI_API_KEY)")
    add.add_argument("--usd-per-mtok-in", type=float, default=0.0, help="USD per million prompt tokens")
    add.add_argument("--usd-per-mtok-out", type=float, default=0.0, help="USD per million answer tokens")
    add.add_argument("--j-per-token", type=float, default=0.0,
                     help="estimated joules per token on the remote side (shown as an estimate)")
    add.add_argument("--context-window", type=int, default=8192, help="the model's context window in tokens")
    add.add_argument("--timeout-s", type=float, default=60.0, help="first-byte and between-chunk timeout")
    add.add_argument("--replace", action="store_true", help="replace an endpoint of the same name")
    add.add_argument("--json", action="store_true", help="print the stored endpoint as JSON")
    add.set_defaults(func=run_add)

    ls = actions.add_parser("list", help="list remote tiers")
    ls.add_argument("--json", action="store_true", help="print one JSON document")
    ls.set_defaults(func=run_list)

    rm = actions.add_parser("remove", aliases=["rm"], help="remove a remote tier (and its stored key)")
    rm.add_argument("name")
    rm.add_argument("--keep-key", action="store_true", help="leave its key in the OS keyring")
    rm.add_argument("--json", action="store_true", help="print one JSON document")
    rm.set_defaults(func=run_remove)

    test = actions.add_parser("test", help="call /v1/models on a tier and say what is wrong")
    test.add_argument("name")
    test.add_argument("--json", action="store_true", help="print one JSON document")
    test.set_defaults(func=run_test)


def _credentials(ctx: Any) -> Any:
    creds = getattr(ctx, "credentials", None)
    if creds is not None:
        return creds
    from baton.core.cloud.credentials import Credentials

    return Credentials()


def _check_number(flag: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{flag} must be a number >= 0 (got {value})")


def _validate(args: argparse.Namespace) -> Endpoint:
    if not _NAME_RE.match(args.name):
        raise UsageError(f"endpoint name '{args.name}' must be letters, digits, '.', '_' or '-' (max 64)")
    url = args.base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--base-url '{url}' is not an http(s) URL; e.g. https://api.openai.com/v1")
    if parts.password or parts.username:
        raise UsageError("--base-url must not carry a user or password; store the key with "
                         f"`baton keys set {args.name}` or name an env var with --key-env")
    from baton.core import privacy

    if privacy.scan(url):
        raise UsageError("--base-url seems to contain a key or token; keys never go in the config: use "
                         f"`baton keys set {args.name}` or --key-env")
    if args.key_env and not _ENV_RE.match(args.key_env):
        raise UsageError(f"--key-env '{args.key_env}' is not an environment variable name (e.g. OPENAI_API_KEY)")
    if args.key_env and privacy.looks_random(args.key_env, 20):
        raise UsageError("--key-env takes the NAME of an environment variable, not the key itself")
    if not args.model.strip():
        raise UsageError("--model must name the model the endpoint serves")
    for flag in ("usd_per_mtok_in", "usd_per_mtok_out", "j_per_token"):
        _check_number("--" + flag.replace("_", "-"), getattr(args, flag))
    if args.context_window < 256:
        raise UsageError("--context-window must be at least 256 tokens")
    if not math.isfinite(args.timeout_s) or args.timeout_s <= 0:
        raise UsageError("--timeout-s must be a positive number of seconds")
    return Endpoint(name=args.name, base_url=url, model=args.model.strip(), key_env=args.key_env,
                    usd_per_mtok_in=args.usd_per_mtok_in, usd_per_mtok_out=args.usd_per_mtok_out,
                    j_per_token=args.j_per_token, context_window=args.context_window, timeout_s=args.timeout_s)


def _doc(ep: Endpoint, key_source: str) -> dict[str, Any]:
    from baton.core.cloud.client import is_loopback_url

    d = asdict(ep)
    d["key"] = key_source  # where the key comes from, never the key
    d["loopback"] = is_loopback_url(ep.base_url)
    return d


def _key_source(ctx: Any, ep: Endpoint) -> str:
    try:
        return str(_credentials(ctx).source(ep))
    except BatonError:
        return "none"


def run_add(args: argparse.Namespace, ctx: Any) -> int:
    ep = _validate(args)
    existing = [e for e in ctx.settings.endpoints if e.name == ep.name]
    if existing and not args.replace:
        raise UsageError(f"an endpoint named '{ep.name}' exists; pass --replace or remove it first")
    ctx.settings.endpoints = [e for e in ctx.settings.endpoints if e.name != ep.name] + [ep]
    ctx.save_settings()
    source = _key_source(ctx, ep)
    if args.json:
        print(json.dumps(_doc(ep, source)))
    print(f"baton: {'replaced' if existing else 'added'} endpoint {ep.name}: {ep.model} at {ep.base_url}",
          file=sys.stderr)
    if source == "none":
        hint = f"export {ep.key_env}=..." if ep.key_env else "add --key-env VAR"
        print(f"baton: no key found for {ep.name}; if it needs one, run `baton keys set {ep.name}` or {hint}",
              file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace, ctx: Any) -> int:
    docs = [_doc(ep, _key_source(ctx, ep)) for ep in ctx.settings.endpoints]
    if getattr(args, "json", False):
        print(json.dumps(docs))
        return 0
    if not docs:
        print("baton: no endpoints yet; add one with `baton endpoints add NAME --base-url URL --model MODEL`",
              file=sys.stderr)
        return 0
    print(f"{'NAME':<12}  {'MODEL':<24}  {'$/Mtok in/out':>15}  {'J/tok':>6}  {'KEY':<18}  BASE URL")
    for d in docs:
        prices = f"{d['usd_per_mtok_in']:g}/{d['usd_per_mtok_out']:g}"
        print(f"{d['name']:<12}  {d['model']:<24}  {prices:>15}  {d['j_per_token']:>6g}  {d['key']:<18}  "
              f"{d['base_url']}")
    return 0


def run_remove(args: argparse.Namespace, ctx: Any) -> int:
    ep = ctx.settings.endpoint(args.name)  # clear error for an unknown name
    ctx.settings.endpoints = [e for e in ctx.settings.endpoints if e.name != ep.name]
    ctx.save_settings()
    key_removed = False
    if not args.keep_key:
        try:
            key_removed = bool(_credentials(ctx).delete(ep.name))
        except BatonError:
            key_removed = False  # no keyring here: nothing was stored in one
    if args.json:
        print(json.dumps({"removed": ep.name, "key_removed": key_removed}))
    print(f"baton: removed endpoint {ep.name}" + (" and its stored key" if key_removed else ""), file=sys.stderr)
    return 0


def run_test(args: argparse.Namespace, ctx: Any) -> int:
    from baton.core.cloud.client import CloudClient

    ep = ctx.settings.endpoint(args.name)
    creds = _credentials(ctx)
    key = creds.get(ep)
    result: dict[str, Any] = {"name": ep.name, "base_url": ep.base_url, "model": ep.model,
                              "key": _key_source(ctx, ep), "ok": False, "models": [], "model_found": False,
                              "latency_s": None, "error": None}
    client = CloudClient(ep, key, offline=ctx.settings.is_offline, max_retries=0)
    t0 = time.perf_counter()
    try:
        models = client.list_models()
        result["latency_s"] = round(time.perf_counter() - t0, 3)
        result["models"] = models
        result["model_found"] = ep.model in models
        result["ok"] = result["model_found"]
        if not result["model_found"]:
            shown = ", ".join(models[:10]) + (" ..." if len(models) > 10 else "") or "none"
            result["error"] = (f"model '{ep.model}' is not served at {ep.base_url} (it serves: {shown}); "
                               f"fix it with `baton endpoints add {ep.name} ... --model ID --replace`")
    except BatonError as e:  # offline refusal, refused key, unreachable, 404...
        result["latency_s"] = round(time.perf_counter() - t0, 3)
        result["error"] = str(e)
    finally:
        client.close()
    if args.json:
        print(json.dumps(result))
    elif result["ok"]:
        print(f"baton: {ep.name} ok: {ep.model} is served at {ep.base_url} ({len(result['models'])} models, "
              f"{result['latency_s']:.2f} s, key from {result['key']})", file=sys.stderr)
    if not result["ok"]:
        print(f"baton: {result['error']}", file=sys.stderr)
        return 1
    return 0
