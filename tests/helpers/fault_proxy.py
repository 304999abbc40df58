"""A small fault-injecting HTTP proxy of our own, for tests of the cloud client against a real server.

It sits on loopback between a client and an upstream server, relays raw bytes (so a streamed SSE
body keeps its chunked framing), and applies one ``Fault`` per request, in the order they were
queued; requests beyond the queue pass through untouched. It records every request it saw, with
the time it arrived, so tests can check retries and their spacing.

    with FaultProxy("http://127.0.0.1:8080") as proxy:
        proxy.enqueue(Fault(status=429, headers={"Retry-After": "1"}), PASS)
        client = CloudClient(Endpoint("t", proxy.base_url + "/v1", "m"), None, offline=True)
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.helpers.tcp import accept_loop

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Fault:
    status: int | None = None  # answer with this status instead of forwarding
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # default: an OpenAI-style error document
    delay_s: float = 0.0  # wait this long before the first byte of the reply
    cut_after_bytes: int | None = None  # forward, then drop the connection after this many body bytes
    stall_after_bytes: int | None = None  # forward, then stop sending for stall_s after this many body bytes
    stall_s: float = 0.0


PASS = Fault()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at_s: float  # time.monotonic() when the request line arrived
    fault: Fault


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.requests: list[Seen] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"

    # ---- control -------------------------------------------------------------------------------
    def enqueue(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()

    def __enter__(self) -> "FaultProxy":
        t = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        try:
            self._sock.close()
        except OSError:
            pass
        for t in list(self._threads):
            t.join(timeout=5)

    # ---- serving --------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        self._sock.settimeout(0.2)
        accept_loop(self._sock, self._stop, self._handle, self._threads)

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                head, body = _read_request(conn)
            except (OSError, ValueError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
            with self._lock:
                fault = self._faults.popleft() if self._faults else PASS
                self.requests.append(Seen(method, path, headers, body, time.monotonic(), fault))
            if fault.delay_s and self._stop.wait(fault.delay_s):
                return
            try:
                if fault.status is not None:
                    conn.sendall(_error_response(fault))
                else:
                    self._forward(conn, head, body, fault)
            except OSError:
                return  # the client went away (it timed out, or was cut on purpose)

    def _forward(self, conn: socket.socket, head: bytes, body: bytes, fault: Fault) -> None:
        # One request per upstream connection: ask the upstream to close when done.
        lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
        request = b"\r\n".join(lines + [b"Connection: close"]) + b"\r\n\r\n" + body
        with socket.create_connection(self.upstream, timeout=300) as up:
            up.sendall(request)
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = up.recv(65536)
                if not data:
                    conn.sendall(buf)
                    return
                buf += data
            resp_head, rest = buf.split(b"\r\n\r\n", 1)
            conn.sendall(resp_head + b"\r\n\r\n")
            sent = 0
            stalled = False
            pending = rest
            while True:
                if pending:
                    if fault.cut_after_bytes is not None and sent + len(pending) >= fault.cut_after_bytes:
                        conn.sendall(pending[:fault.cut_after_bytes - sent])
                        conn.shutdown(socket.SHUT_RDWR)  # drop mid-body: the client sees a broken stream
                        return
                    if (fault.stall_after_bytes is not None and not stalled
                            and sent + len(pending) >= fault.stall_after_bytes):
                        k = fault.stall_after_bytes - sent
                        conn.sendall(pending[:k])
                        sent += k
                        pending = pending[k:]
                        stalled = True
                        if self._stop.wait(fault.stall_s):
                            return
                        continue
                    conn.sendall(pending)
                    sent += len(pending)
                pending = up.recv(65536)
                if not pending:
                    return


def _read_request(conn: socket.socket) -> tuple[bytes, bytes]:
    conn.settimeout(30)
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            raise ValueError("client closed before sending a request")
        buf += data
    head, body = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        data = conn.recv(65536)
        if not data:
            break
        body += data
    return head, body


def _error_response(fault: Fault) -> bytes:
    code = fault.status or 500
    body = fault.body if fault.body is not None else json.dumps(
        {"error": {"message": f"injected HTTP {code}", "type": "fault_proxy", "code": code}}).encode()
    lines = [f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in fault.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
