"""A loopback OpenAI-compatible server of our own that speaks whatever odd dialect a test scripts.

Each request is answered by the next queued ``Reply`` (the last one repeats when the queue runs dry):
a status, headers, and a body given either whole (``body``) or as server-sent events (``events``: a
dict becomes ``data: <json>`` + a blank line, a str or bytes is written as it is). The framing is
chunked (default) or close-delimited (``framing="close"``: the end of the body is the connection
closing, so a missing ``[DONE]`` is a clean end of the stream); ``cut=True`` drops the connection
before the chunked body's last chunk, which a client sees as a broken stream.

    with DialectServer() as srv:
        srv.enqueue(Reply(events=[delta("Hi"), finish(None), "data: [DONE]\\n\\n"]))
        CloudClient(Endpoint("t", srv.base_url, "m"), "sk-test", offline=True)

Every request is kept in ``requests`` (method, path, headers, parsed JSON body).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.helpers.tcp import accept_loop

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            408: "Request Timeout", 413: "Payload Too Large", 422: "Unprocessable Entity",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    events: Any = field(default_factory=list)  # or a function of the Request giving the list
    body: Any = None  # a whole body (bytes) instead of events, or a function of the Request giving it
    content_type: str | None = None  # default: text/event-stream for events, application/json for a body
    framing: str = "chunked"  # or "close"
    cut: bool = False


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    json: Any


def chunk(content: str | None = None, finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    """One ``chat.completion.chunk`` with a delta (``content`` None: an empty delta)."""
    delta = {} if content is None else {"content": content}
    doc = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
    doc.update(extra)
    return doc


def usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}


DONE = "data: [DONE]\n\n"


def json_body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


class DialectServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._replies: deque[Reply] = deque()
        self._last = Reply(events=[chunk("ok", "stop"), DONE])
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._accept_loop, name="dialect-server", daemon=True)
        self._workers: list[threading.Thread] = []

    def enqueue(self, *replies: Reply) -> "DialectServer":
        with self._lock:
            self._replies.extend(replies)
        return self

    def __enter__(self) -> "DialectServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        except OSError:
            pass
        self._sock.close()
        self._thread.join(timeout=5)
        for t in self._workers:
            t.join(timeout=5)

    def _accept_loop(self) -> None:
        accept_loop(self._sock, self._stop, self._serve, self._workers)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                method, path, headers, body = _read_request(conn)
            except (OSError, ValueError):
                return
            try:
                doc = json.loads(body) if body else None
            except ValueError:
                doc = None
            request = Request(method, path, headers, doc)
            with self._lock:
                self.requests.append(request)
                reply = self._replies.popleft() if self._replies else self._last
                self._last = reply
            if callable(reply.body):
                reply = dataclasses.replace(reply, body=reply.body(request))
            if callable(reply.events):
                reply = dataclasses.replace(reply, events=reply.events(request))
            try:
                _write_reply(conn, reply)
            except OSError:
                pass


def _read_request(conn: socket.socket) -> tuple[str, str, dict[str, str], bytes]:
    conn.settimeout(30)
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            raise ValueError("closed before a request")
        buf += data
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        data = conn.recv(65536)
        if not data:
            break
        body += data
    return method, path, headers, body


def _encode_event(ev: Any) -> bytes:
    if isinstance(ev, bytes):
        return ev
    if isinstance(ev, str):
        return ev.encode("utf-8", "surrogatepass")
    return f"data: {json.dumps(ev)}\n\n".encode()


def _write_reply(conn: socket.socket, reply: Reply) -> None:
    whole = reply.body is not None
    ctype = reply.content_type or ("application/json" if whole else "text/event-stream")
    lines = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}", f"Content-Type: {ctype}",
             "Connection: close"]
    pieces = [reply.body] if whole else [_encode_event(ev) for ev in reply.events]
    if reply.framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
    lines += [f"{k}: {v}" for k, v in reply.headers.items()]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    for piece in pieces:
        if not piece:
            continue
        if reply.framing == "chunked":
            conn.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        else:
            conn.sendall(piece)
    if reply.cut:
        conn.shutdown(socket.SHUT_RDWR)
        return
    if reply.framing == "chunked":
        conn.sendall(b"0\r\n\r\n")
    conn.shutdown(socket.SHUT_WR)
