"""`baton serve`: an OpenAI-compatible endpoint (``GET /v1/models``, ``POST /v1/chat/completions``, streamed or
not) backed by the same service as `baton ask`, so editors and scripts get local-first routing and a receipt.

- The client's messages go to the model as sent (its own system prompt, its turns); ``temperature``, ``top_p``,
  ``stop``, ``seed`` and ``max_tokens`` are honoured; what Baton cannot honour (``n`` > 1, tools, logprobs, JSON
  mode) is refused with HTTP 400. The accepted body is documented in serve_protocol.py.
- ``model``: ``baton`` (the router decides), ``baton-local``, ``baton-cloud``, a local model id, or an endpoint
  name: exactly the ids ``/v1/models`` lists. ``baton_thread_id`` (or ``X-Baton-Thread-Id``) continues a
  stored thread; escalation in `ask` mode needs the header ``X-Baton-Approve-Escalation: yes``.
- Each answer carries its receipt (route, energy, cost) in a ``baton`` field (a stream: in its last chunk);
  non-streamed answers also in ``X-Baton-*`` headers.
- Requests are answered one at a time, in arrival order; up to ``--queue`` (default 64) wait their turn, more
  get HTTP 429 with ``Retry-After``. A client that leaves stops its answer at the next token (stored as
  cancelled).
- Security: a bearer token on every request (kept in the OS keyring, or in a 0600 file ``serve-token`` in
  Baton's config dir; printed once, when made). Loopback only unless ``--allow-remote``; the ``Host`` header
  must name this server (loopback names, the bound address, and the names given to ``--allow-remote``), which
  stops web pages reaching it by DNS rebinding. No CORS headers unless ``--cors-origin`` names an origin.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import stat
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from baton.commands.serve_dispatch import DEFAULT_QUEUE
from baton.core.errors import BatonError, UsageError

TOKEN_NAME = "serve-token"
DEFAULT_PORT = 8741


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve an OpenAI-compatible API backed by Baton's router",
                       description="OpenAI-compatible /v1/models and /v1/chat/completions on loopback, "
                                   "with a receipt on every answer. A bearer token is required.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT}; 0 picks a free one and prints it)")
    p.add_argument("--allow-remote", nargs="*", metavar="HOST", default=None,
                   help="allow a non-loopback --host; clients may then name the server by the bound address and "
                        "by each HOST given (the token is still required)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="send CORS headers to this web origin (repeatable; none by default)")
    p.add_argument("--queue", type=int, default=DEFAULT_QUEUE, metavar="N",
                   help=f"requests that may wait their turn (default {DEFAULT_QUEUE}); more get HTTP 429")
    p.add_argument("--show-token", action="store_true", help="print the bearer token to stderr")
    p.add_argument("--rotate-token", action="store_true", help="make a new token (the old one stops working)")
    p.set_defaults(func=run)


# ---- the bearer token ------------------------------------------------------------------------------

def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable and writable by its owner only (0600), atomically: the file holds the
    old text or the new, never part; no temporary file is left behind, even when writing fails.
    Errors: OSError from the file system."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _token_file(ctx: Any) -> Path:
    return Path(ctx.paths.config_dir) / TOKEN_NAME


def load_or_create_token(ctx: Any, rotate: bool = False) -> tuple[str, str, bool]:
    """``(token, where it is kept, made_now)``. The OS keyring first; else a 0600 file in the config dir (an
    existing file that others could read is made private again). Errors: BatonError when it cannot be kept."""
    from baton.core.cloud.credentials import Credentials

    creds = Credentials()
    path = _token_file(ctx)
    if not rotate:
        stored = creds.get_stored(TOKEN_NAME)
        if stored:
            return stored, "the OS keyring", False
        if path.is_file():
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o600)
            token = path.read_text(encoding="ascii", errors="replace").strip()
            if token and token.isascii() and token.isprintable():
                return token, str(path), False
    token = secrets.token_urlsafe(32)
    try:
        creds.set(TOKEN_NAME, token)
        path.unlink(missing_ok=True)
        return token, "the OS keyring", True
    except BatonError:
        pass
    try:
        write_private_file(path, token + "\n")
    except OSError as e:
        raise BatonError(f"cannot keep the server's token in {path} ({e.strerror or e}); check that Baton's "
                         "config dir is writable (or set BATON_HOME)") from None
    return token, str(path), True


# ---- where it listens ------------------------------------------------------------------------------

def _is_loopback(host: str) -> bool:
    from baton.core.cloud.client import is_loopback_url

    return is_loopback_url(f"http://[{host}]/" if ":" in host else f"http://{host}/")


def allowed_host_names(host: str, extra: list[str] | None) -> frozenset[str]:
    """The names a request's ``Host`` may carry: loopback names, the bound address (unless it is a wildcard)
    and each of ``extra`` (``--allow-remote`` names; a port in them is ignored)."""
    from baton.commands.serve_app import LOOPBACK_NAMES, host_name

    names = set(LOOPBACK_NAMES)
    if host not in ("0.0.0.0", "::", ""):
        names.add(host_name(f"[{host}]" if ":" in host else host))
    for name in extra or []:
        h = host_name(name)
        if not h or "/" in h:
            raise UsageError(f"--allow-remote takes host names or addresses (got {name!r})")
        names.add(h)
    return frozenset(names)


def bind_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one) with room for ``backlog`` connections
    not yet accepted. Errors: BatonError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)  # connections queue in the kernel from now on, before the server accepts them
    except OSError as e:
        sock.close()
        raise BatonError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick another with --port") from None
    sock.set_inheritable(True)
    return sock


def _stop_on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace, ctx: Any) -> int:
    import uvicorn

    from baton.commands.serve_app import ServeConfig, build_app

    host = args.host.strip("[]")
    if not _is_loopback(host) and args.allow_remote is None:
        raise UsageError(f"--host {args.host} is reachable from other machines; Baton serves loopback only "
                         "unless you pass --allow-remote (a bearer token is required either way)")
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    if not 1 <= args.queue <= 100_000:
        raise UsageError("--queue must be between 1 and 100000")
    for origin in args.cors_origin:
        if not origin.startswith(("http://", "https://")) or origin.endswith("/"):
            raise UsageError(f"--cors-origin takes an origin like https://app.example.com (got {origin!r})")
    allowed = allowed_host_names(host, args.allow_remote)
    token, where, made = load_or_create_token(ctx, rotate=args.rotate_token)
    backlog = max(2048, 4 * args.queue)
    sock = bind_socket(host, args.port, backlog)
    service = ctx.service()
    app = build_app(service, ServeConfig(token=token, allowed_hosts=allowed, cors_origins=list(args.cors_origin),
                                         queue=args.queue, workers=max(1, service.settings.engine.parallel)))
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"baton: serving an OpenAI-compatible API at http://{shown}:{port}/v1 (Ctrl-C to stop; "
          f"{args.queue} requests may wait)", file=sys.stderr)
    if made or args.show_token:
        print(f"baton: bearer token (kept in {where}): {token}", file=sys.stderr)
    else:
        print(f"baton: bearer token kept in {where}; `baton serve --show-token` prints it", file=sys.stderr)
    if args.allow_remote is not None and not _is_loopback(host):
        print("baton: warning: listening beyond this machine; anyone with the token can spend your budget. "
              f"Clients must call it by one of: {', '.join(sorted(allowed))}", file=sys.stderr)
    sys.stderr.flush()
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, lifespan="off",
                            http="h11", loop="asyncio", backlog=backlog,
                            timeout_graceful_shutdown=5)
    if threading.current_thread() is threading.main_thread():
        # uvicorn stops gracefully on SIGTERM, then raises it again: make that an exception, so the answer
        # being generated is stopped and stored as cancelled before the process ends.
        signal.signal(signal.SIGTERM, _stop_on_signal)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        app.state.dispatcher.close()
        sock.close()
        print("baton: stopped", file=sys.stderr)
    return 0
