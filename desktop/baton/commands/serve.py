"""`baton serve`: an OpenAI-compatible endpoint (/v1/models, /v1/chat/completions, streaming or not)
backed by the same pipeline as `baton ask`, so editors and scripts get local-first routing.

- Loopback only unless --allow-remote. A bearer token is required on every request: it is made on
  first start and kept in the OS keyring, or (no usable keyring) in a 0600 file ``serve-token`` in
  Baton's config dir; it is printed once, when made (`--show-token` prints it again).
- Each answer carries its receipt (route, energy, cost) in a ``baton`` field; non-streamed answers
  also in ``X-Baton-*`` headers (a stream's headers leave before the answer exists, so a stream
  carries the receipt in its last chunk).
- ``model``: ``baton`` (router decides), ``baton-local``, ``baton-cloud``, or a local model id.
  The conversation's earlier turns are passed as context; a ``baton_thread_id`` field (or the
  ``X-Baton-Thread-Id`` header) continues a stored thread instead. Escalation in `ask` mode needs
  the header ``X-Baton-Approve-Escalation: yes``. Requests are answered one at a time.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import secrets
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from baton.core.errors import BatonError, CloudError, ModelError, PolicyError, UsageError

TOKEN_NAME = "serve-token"
MAX_BODY_BYTES = 4 << 20
VIRTUAL_MODELS = {"baton": "auto", "baton-local": "local", "baton-cloud": "cloud"}


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve an OpenAI-compatible API backed by Baton's router",
                       description="OpenAI-compatible /v1/models and /v1/chat/completions on loopback, "
                                   "with a receipt on every answer. A bearer token is required.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8741, help="port (default 8741; 0 picks a free one)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (token still required)")
    p.add_argument("--show-token", action="store_true", help="print the bearer token to stderr")
    p.add_argument("--rotate-token", action="store_true", help="make a new token (the old one stops working)")
    p.set_defaults(func=run)


# ---- the bearer token ------------------------------------------------------------------------------

def _token_file(ctx: Any) -> Path:
    return Path(ctx.paths.config_dir) / TOKEN_NAME


def load_or_create_token(ctx: Any, rotate: bool = False) -> tuple[str, str, bool]:
    """(token, where it is kept, made_now). Keyring first; else a 0600 file in the config dir."""
    from baton.core.cloud.credentials import Credentials

    creds = Credentials()
    path = _token_file(ctx)
    if not rotate:
        stored = creds.get_stored(TOKEN_NAME)
        if stored:
            return stored, "the OS keyring", False
        if path.is_file():
            token = path.read_text(encoding="ascii").strip()
            if token:
                return token, str(path), False
    token = secrets.token_urlsafe(32)
    try:
        creds.set(TOKEN_NAME, token)
        path.unlink(missing_ok=True)
        return token, "the OS keyring", True
    except BatonError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    os.replace(tmp, path)
    return token, str(path), True


# ---- request mapping ------------------------------------------------------------------------------

def _prompt_from_messages(messages: Any) -> str:
    """The last user turn, with earlier turns (and system text) given as context."""
    if not isinstance(messages, list) or not messages:
        raise UsageError("`messages` must be a non-empty list of {role, content}")
    turns: list[tuple[str, str]] = []
    for m in messages:
        if not isinstance(m, dict) or "role" not in m:
            raise UsageError("each message needs a `role` and a `content`")
        content = m.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise UsageError("message content must be text")
        turns.append((str(m["role"]), content))
    if turns[-1][0] != "user":
        raise UsageError("the last message must be the user's")
    earlier = turns[:-1]
    if not earlier:
        return turns[-1][1]
    context = "\n".join(f"{role}: {text}" for role, text in earlier)
    return f"Earlier in this conversation:\n{context}\n\nNow answer this:\n{turns[-1][1]}"


def _finish(reason: str) -> str:
    return "length" if reason == "length" else "stop"


def receipt_headers(receipt: dict[str, Any]) -> dict[str, str]:
    route, energy = receipt.get("route", {}), receipt.get("energy", {})

    def clean(v: Any) -> str:
        return "".join(c if 32 <= ord(c) < 127 else "?" for c in str(v))[:300]

    return {
        "X-Baton-Tier": clean(route.get("tier", "")), "X-Baton-Model": clean(route.get("model", "")),
        "X-Baton-Endpoint": clean(route.get("endpoint") or ""),
        "X-Baton-Escalated": "true" if route.get("escalated") else "false",
        "X-Baton-Reason": clean(route.get("reason", "")),
        "X-Baton-Energy-J": f"{energy.get('total_j', 0.0):.4f}",
        "X-Baton-Energy-Measured-J": f"{energy.get('measured_j', 0.0):.4f}",
        "X-Baton-Energy-Estimated-J": f"{energy.get('estimated_j', 0.0):.4f}",
        "X-Baton-Cost-USD": f"{receipt.get('cost', {}).get('usd', 0.0):.6f}",
        "X-Baton-Thread-Id": clean(receipt.get("thread_id", "")),
        "X-Baton-Message-Id": clean(receipt.get("message_id", "")),
        "X-Baton-Total-S": f"{receipt.get('timing', {}).get('total_s', 0.0):.3f}",
    }


def _status_for(e: BaseException) -> tuple[int, str]:
    if isinstance(e, UsageError):
        return 400, "invalid_request_error"
    if isinstance(e, PolicyError):
        return 403, "policy_refused"
    if isinstance(e, CloudError):
        return 502, "upstream_error"
    if isinstance(e, ModelError):
        return 500, "model_error"
    return 500, "server_error"


# ---- the server -----------------------------------------------------------------------------------

class BatonHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: Any, token: str) -> None:
        super().__init__(address, _Handler)
        self.service = service
        self.token = token
        self.ask_lock = threading.Lock()  # one answer at a time: one local model, one owner thread

    def model_ids(self) -> list[str]:
        ids = list(VIRTUAL_MODELS)
        try:
            ids += [m.id for m in self.service.models()]
        except BatonError:
            pass
        return ids


class _Handler(BaseHTTPRequestHandler):
    server: BatonHTTPServer
    server_version = "baton"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - no request logs (prompts stay private)
        pass

    # ---- plumbing ----
    def _send_json(self, code: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(code, {"error": {"message": message, "type": kind, "code": code}}, headers)

    def _authorized(self) -> bool:
        got = self.headers.get("Authorization", "")
        scheme, _, token = got.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.server.token.encode()):
            return True
        self._error(401, "a bearer token is required: use the token `baton serve` printed when it made it "
                         "(`baton serve --show-token` prints it again)", "authentication_error",
                    {"WWW-Authenticate": "Bearer"})
        return False

    # ---- routes ----
    def do_GET(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            now = int(time.time())
            data = [{"id": i, "object": "model", "created": now, "owned_by": "baton"} for i in self.server.model_ids()]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._error(404, f"no route {self.path}; try /v1/models or /v1/chat/completions", "not_found")

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}; try /v1/chat/completions", "not_found")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY_BYTES:
                raise UsageError(f"the request body must be JSON of 1 byte to {MAX_BODY_BYTES} bytes")
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict):
                raise UsageError("the request body must be a JSON object")
            prompt = _prompt_from_messages(body.get("messages"))
            model_arg = str(body.get("model") or "baton")
            tier = VIRTUAL_MODELS.get(model_arg, "auto")
            model = None if model_arg in VIRTUAL_MODELS else model_arg
            max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
            if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
                raise UsageError("max_tokens must be a positive integer")
            thread_id = body.get("baton_thread_id") or self.headers.get("X-Baton-Thread-Id") or None
        except (ValueError, UsageError) as e:
            self._error(400, str(e) if isinstance(e, UsageError) else f"the body is not valid JSON ({e})",
                        "invalid_request_error")
            return
        approved = self.headers.get("X-Baton-Approve-Escalation", "").lower() in ("1", "yes", "true")
        kwargs = dict(prompt=prompt, thread_id=thread_id, model=model, tier=tier, max_tokens=max_tokens,
                      approve=(lambda plan: True) if approved else None)
        options = body.get("stream_options") or {}
        if body.get("stream"):
            self._stream(kwargs, model_arg, bool(isinstance(options, dict) and options.get("include_usage")))
        else:
            self._complete(kwargs, model_arg)

    def _complete(self, kwargs: dict[str, Any], model_arg: str) -> None:
        try:
            with self.server.ask_lock:
                result = self.server.service.ask(**kwargs)
        except BatonError as e:
            code, kind = _status_for(e)
            self._error(code, str(e), kind)
            return
        receipt = result.receipt()
        doc = {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model_arg,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text},
                         "finish_reason": _finish(result.finish_reason)}],
            "usage": {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens,
                      "total_tokens": result.usage.prompt_tokens + result.usage.completion_tokens},
            "baton": receipt,
        }
        self._send_json(200, doc, receipt_headers(receipt))

    def _stream(self, kwargs: dict[str, Any], model_arg: str, include_usage: bool) -> None:
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        cancel = threading.Event()

        def event(doc: dict[str, Any]) -> None:
            if cancel.is_set():
                return
            try:
                self.wfile.write(b"data: " + json.dumps(doc).encode() + b"\n\n")
                self.wfile.flush()
            except OSError:
                cancel.set()  # the client went away: stop generating

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
            return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model_arg,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}

        with self.server.ask_lock:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.close_connection = True
            event(chunk({"role": "assistant"}))
            try:
                result = self.server.service.ask(**kwargs, on_text=lambda t: event(chunk({"content": t})),
                                                 cancel=cancel)
            except BatonError as e:
                code, kind = _status_for(e)
                event({"error": {"message": str(e), "type": kind, "code": code}})
            else:
                receipt = result.receipt()
                event(chunk({}, _finish(result.finish_reason), baton=receipt))
                if include_usage:
                    u = result.usage
                    event({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model_arg,
                           "choices": [], "usage": {"prompt_tokens": u.prompt_tokens,
                                                    "completion_tokens": u.completion_tokens,
                                                    "total_tokens": u.prompt_tokens + u.completion_tokens}})
            if not cancel.is_set():
                try:
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except OSError:
                    pass


def make_server(service: Any, host: str, port: int, token: str) -> BatonHTTPServer:
    try:
        return BatonHTTPServer((host, port), service, token)
    except OSError as e:
        raise BatonError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick another with --port") from None


def run(args: argparse.Namespace, ctx: Any) -> int:
    from baton.core.cloud.client import is_loopback_url

    host = args.host.strip("[]")
    if not is_loopback_url(f"http://[{host}]/" if ":" in host else f"http://{host}/") and not args.allow_remote:
        raise UsageError(f"--host {args.host} is reachable from other machines; Baton serves loopback only "
                         "unless you pass --allow-remote (a bearer token is required either way)")
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    token, where, made = load_or_create_token(ctx, rotate=args.rotate_token)
    server = make_server(ctx.service(), host, args.port, token)
    port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"baton: serving an OpenAI-compatible API at http://{shown}:{port}/v1 (Ctrl-C to stop)", file=sys.stderr)
    if made or args.show_token:
        print(f"baton: bearer token (kept in {where}): {token}", file=sys.stderr)
    else:
        print(f"baton: bearer token kept in {where}; `baton serve --show-token` prints it", file=sys.stderr)
    if args.allow_remote and not is_loopback_url(f"http://{shown}/"):
        print("baton: warning: listening beyond this machine; anyone with the token can spend your budget",
              file=sys.stderr)
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        print("baton: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
