"""The ASGI application behind `baton serve` (Starlette; run by uvicorn in serve.py).

Every request passes, in order: the Host check (only the names the server was started for, against DNS
rebinding: 421 otherwise), CORS (only when origins were configured), the bearer token (401), then its route.
``POST /v1/chat/completions`` reads at most ``max_body_bytes`` (413 beyond), checks the body (serve_protocol),
resolves the model against what ``GET /v1/models`` lists, and hands the call to the Dispatcher's worker thread
(429 with ``Retry-After`` when its queue is full). A client that leaves, while its request waits or while it
is answered, sets the request's cancel event: the service stops at the next token and stores the answer as
cancelled.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from baton.commands.serve_dispatch import Dispatcher, QueueFull
from baton.commands.serve_protocol import (
    ApiError,
    ChatRequest,
    ChunkMaker,
    api_error_for,
    completion_doc,
    finish_reason,
    parse_chat_request,
    receipt_headers,
    resolve_model,
    resolve_model_id,
    to_json_bytes,
)
from baton.core.errors import BatonError

MAX_BODY_BYTES = 4 << 20
DRAIN_LIMIT_BYTES = 64 << 20  # an over-long body is read (and dropped) up to this, so the 413 reaches the client
CATALOG_TTL_S = 30.0
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass
class ServeConfig:
    """How one server was started. ``allowed_hosts``: lower-case host names (no port, IPv6 without
    brackets) that a request's ``Host`` header may name; ``cors_origins``: origins that get CORS headers
    (none by default); ``queue``: how many requests may wait; ``max_body_bytes``: the largest request body;
    ``workers``: how many requests are answered at once."""

    token: str
    allowed_hosts: frozenset[str] = LOOPBACK_NAMES
    cors_origins: list[str] = field(default_factory=list)
    queue: int = 64
    max_body_bytes: int = MAX_BODY_BYTES
    workers: int = 1  # requests answered at once (the local engine's slots, engine.parallel)


class SafeJSONResponse(JSONResponse):
    """JSON that never fails to render: non-finite numbers become null, lone surrogates their escapes."""

    def render(self, content: Any) -> bytes:
        return to_json_bytes(content)


def error_response(err: ApiError) -> JSONResponse:
    """An OpenAI error body with the error's status and headers."""
    return SafeJSONResponse(err.body(), status_code=err.status, headers=err.headers)


def host_name(header: str) -> str:
    """The host part of a ``Host`` header, lower-case, without port, brackets or a trailing dot
    (``"[::1]:8741"`` -> ``"::1"``)."""
    h = header.strip().lower()
    if h.startswith("["):
        h = h[1:].split("]", 1)[0]
    elif h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


class HostGuard:
    """ASGI middleware: refuses (421) a request whose ``Host`` is not one of ``allowed`` (DNS rebinding)."""

    def __init__(self, app: Any, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raw = dict(scope.get("headers") or []).get(b"host", b"")
            if host_name(raw.decode("latin-1")) not in self.allowed:
                err = ApiError(421, "this server answers only to the host names it was started for; connect to "
                                    "it by one of them (see `baton serve --allow-remote`)",
                               "invalid_request_error", None, "host_not_allowed")
                await error_response(err)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class TokenGuard:
    """ASGI middleware: every request needs ``Authorization: Bearer <token>`` (compared in constant time)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode("latin-1")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            got = dict(scope.get("headers") or []).get(b"authorization", b"")
            scheme, _, value = got.partition(b" ")
            if not (scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), self.token)):
                said = "missing" if not value.strip() or scheme.lower() != b"bearer" else "wrong"
                err = ApiError(401, f"the bearer token is {said}: send `Authorization: Bearer TOKEN` with the token "
                                    "`baton serve --show-token` prints (in the app: File > API server, Copy)",
                               "authentication_error",
                               None, "invalid_api_key", {"WWW-Authenticate": "Bearer"})
                await error_response(err)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Catalog:
    """The ids ``/v1/models`` lists: the virtual ones, local model ids (from ``service.models()``, cached for
    ``ttl_s`` seconds) and endpoint names (read fresh each time)."""

    def __init__(self, service: Any, ttl_s: float = CATALOG_TTL_S) -> None:
        self.service = service
        self.ttl_s = ttl_s
        self._local: list[str] = []
        self._at = -1e9
        self._lock = threading.Lock()

    def local_ids(self) -> list[str]:
        with self._lock:
            if time.monotonic() - self._at > self.ttl_s:
                try:
                    self._local = [m.id for m in self.service.models()]
                except BatonError:
                    self._local = []
                self._at = time.monotonic()
            return list(self._local)

    def endpoint_names(self) -> list[str]:
        settings = getattr(self.service, "settings", None)
        return [ep.name for ep in getattr(settings, "endpoints", None) or []]


async def _until_left(receive: Any) -> None:
    """Returns when the client has gone (an ``http.disconnect``); the request body must be read already."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    size, parts, too_big = 0, [], False
    if declared is not None and (not declared.isdigit() or int(declared) > DRAIN_LIMIT_BYTES):
        raise ApiError(413, f"the request body is over {limit} bytes", "invalid_request_error", None,
                       "request_too_large", {"Connection": "close"})
    async for chunk in request.stream():
        size += len(chunk)
        too_big = too_big or size > limit
        if size > DRAIN_LIMIT_BYTES:
            break
        if not too_big:
            parts.append(chunk)
    if too_big:
        raise ApiError(413, f"the request body is over {limit} bytes; send a shorter conversation",
                       "invalid_request_error", None, "request_too_large")
    raw = b"".join(parts)
    if not raw.strip():
        raise ApiError(400, "the request body is empty; send a JSON object with `messages`",
                       "invalid_request_error", None, "invalid_json")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:
        where = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
        raise ApiError(400, f"the request body is not valid JSON{where}; send a JSON object with `messages`",
                       "invalid_request_error", None, "invalid_json") from None


def _sse(doc: Any) -> bytes:
    return b"data: " + to_json_bytes(doc) + b"\n\n"


class _EventStream:
    """An ASGI response that sends server-sent events from ``events`` (an asyncio.Queue of ("text", str),
    ("done", AskResult) or ("error", exception)), ends with ``data: [DONE]``, and calls ``on_leave`` the
    moment the client goes away."""

    def __init__(self, req: ChatRequest, first: tuple[str, Any], events: asyncio.Queue, on_leave: Callable[[], None],
                 thread_given: bool) -> None:
        self.req, self.first, self.events, self.on_leave = req, first, events, on_leave
        self.thread_given = thread_given
        self.maker = ChunkMaker(req.model_arg)

    def _docs(self, kind: str, value: Any) -> list[Any]:
        if kind == "text":
            return [self.maker.chunk({"content": value})]
        if kind == "error":
            return [api_error_for(value, self.thread_given).body()]
        docs = [self.maker.chunk({}, finish_reason(value.finish_reason), baton=value.receipt())]
        if self.req.include_usage:
            docs.append(self.maker.usage(value.usage))
        return docs

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
                                (b"x-accel-buffering", b"no")]})
        leave = asyncio.ensure_future(_until_left(receive))
        item: tuple[str, Any] | None = self.first
        try:
            await send({"type": "http.response.body", "body": _sse(self.maker.chunk({"role": "assistant"})),
                        "more_body": True})
            while item is not None:
                body = b"".join(_sse(d) for d in self._docs(*item))
                if item[0] != "text":
                    body += b"data: [DONE]\n\n"
                await send({"type": "http.response.body", "body": body, "more_body": item[0] == "text"})
                if item[0] != "text":
                    return
                get = asyncio.ensure_future(self.events.get())
                done, _ = await asyncio.wait({get, leave}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    return
                item = get.result()
        finally:
            leave.cancel()
            self.on_leave()  # no-op when the answer is complete


def build_app(service: Any, config: ServeConfig, dispatcher: Dispatcher | None = None) -> Starlette:
    """The Starlette app for ``service`` (a BatonService, or anything with its ``ask``/``models``/``settings``).
    ``dispatcher`` runs the service calls (default: a new one with ``config.queue`` places); the app's
    ``state.dispatcher`` holds it, to be closed by whoever stops the server."""
    dispatcher = dispatcher or Dispatcher(config.queue, workers=config.workers)
    catalog = Catalog(service)

    async def list_models(request: Request) -> Response:
        local = await run_in_threadpool(catalog.local_ids)
        now = int(time.time())
        ids = ["baton", "baton-local", "baton-cloud", *local, *catalog.endpoint_names()]
        return SafeJSONResponse({"object": "list", "data": [
            {"id": i, "object": "model", "created": now, "owned_by": "baton"} for i in dict.fromkeys(ids)]})

    async def get_model(request: Request) -> Response:
        wanted = request.path_params["model"]
        local = await run_in_threadpool(catalog.local_ids)
        resolve_model_id(wanted, local, catalog.endpoint_names())
        return SafeJSONResponse({"id": wanted, "object": "model", "created": int(time.time()), "owned_by": "baton"})

    def submit(req: ChatRequest, cancel: threading.Event, approve: Any, on_text: Any = None,
               push: Callable[[tuple[str, Any]], None] | None = None) -> Any:
        def call() -> Any:
            try:
                result = service.ask(messages=req.messages, thread_id=req.thread_id, model=req.model, tier=req.tier,
                                     endpoint=req.endpoint, params=req.params, on_text=on_text, cancel=cancel,
                                     approve=approve)
            except BaseException as e:
                if push is not None:
                    push(("error", e))
                raise
            if push is not None:
                push(("done", result))
            return result

        try:
            return dispatcher.submit(call, cancel)
        except QueueFull as e:
            raise ApiError(429, f"Baton is busy: {e.capacity} requests are waiting already; try again in "
                                f"{e.retry_after_s} s", "rate_limit_error", None, "queue_full",
                           {"Retry-After": str(e.retry_after_s)}) from None

    async def complete(request: Request, req: ChatRequest, cancel: threading.Event, approve: Any) -> Response:
        fut = submit(req, cancel, approve)
        answer = asyncio.wrap_future(fut)
        leave = asyncio.ensure_future(_until_left(request.receive))
        try:
            await asyncio.wait({answer, leave}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not answer.done():  # the client left (or the server is stopping): stop at the next token
                cancel.set()
                fut.cancel()
            leave.cancel()
        if not answer.done():
            await asyncio.wait({answer}, timeout=30)  # let the worker store the answer as cancelled
            return Response(status_code=499)  # nobody is there to read it
        if answer.cancelled():
            return Response(status_code=499)
        err = answer.exception()
        if err is not None:
            raise api_error_for(err, req.thread_id is not None)
        result = answer.result()
        doc = completion_doc(result, req.model_arg)
        return SafeJSONResponse(doc, headers=receipt_headers(doc["baton"]))

    async def stream(request: Request, req: ChatRequest, cancel: threading.Event, approve: Any) -> Any:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()

        def push(item: tuple[str, Any]) -> None:
            loop.call_soon_threadsafe(events.put_nowait, item)

        fut = submit(req, cancel, approve, on_text=lambda t: push(("text", t)), push=push)

        def stop() -> None:
            if not fut.done():
                cancel.set()
                fut.cancel()

        first = asyncio.ensure_future(events.get())
        leave = asyncio.ensure_future(_until_left(request.receive))
        try:
            await asyncio.wait({first, leave}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            leave.cancel()
            if not first.done():
                first.cancel()
                stop()
        if not first.done() or first.cancelled():
            return Response(status_code=499)
        item = first.result()
        if item[0] == "error":  # nothing was streamed yet: answer with the error's own status
            raise api_error_for(item[1], req.thread_id is not None)
        return _EventStream(req, item, events, stop, req.thread_id is not None)

    async def chat(request: Request) -> Any:
        body = await _read_json(request, config.max_body_bytes)
        req = parse_chat_request(body, request.headers.get("x-baton-thread-id"))
        local = await run_in_threadpool(catalog.local_ids)
        resolve_model(req, local, catalog.endpoint_names())
        approved = request.headers.get("x-baton-approve-escalation", "").lower() in ("1", "yes", "true")
        approve = (lambda _plan: True) if approved else None
        cancel = threading.Event()
        if req.stream:
            return await stream(request, req, cancel, approve)
        return await complete(request, req, cancel, approve)

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return error_response(ApiError(404, "no such route; this server has GET /v1/models and "
                                                "POST /v1/chat/completions", "invalid_request_error", None,
                                           "unknown_url"))
        return error_response(ApiError(exc.status_code, str(exc.detail), "invalid_request_error", None, None,
                                       dict(exc.headers or {})))

    async def on_crash(request: Request, exc: Exception) -> Response:
        print(f"baton: serve: internal error answering {request.url.path}: {type(exc).__name__}", file=sys.stderr)
        return error_response(api_error_for(exc))

    middleware = [Middleware(HostGuard, allowed=config.allowed_hosts)]
    if config.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                                     allow_methods=["GET", "POST"],
                                     allow_headers=["Authorization", "Content-Type", "X-Baton-Thread-Id",
                                                    "X-Baton-Approve-Escalation"],
                                     expose_headers=["Retry-After", *receipt_headers({})]))
    middleware.append(Middleware(TokenGuard, token=config.token))
    app = Starlette(
        routes=[Route("/v1/models", list_models, methods=["GET"]),
                Route("/v1/models/{model:path}", get_model, methods=["GET"]),
                Route("/v1/chat/completions", chat, methods=["POST"])],
        middleware=middleware,
        exception_handlers={ApiError: on_api_error, HTTPException: on_http_error, Exception: on_crash},
    )
    app.state.dispatcher = dispatcher
    return app
