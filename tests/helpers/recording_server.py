"""A recording OpenAI-style server on loopback: keeps every request body, answers a valid chat
completion (SSE when the request asks to stream, one JSON document otherwise)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RecordingServer:
    """``with RecordingServer() as srv:`` serves on 127.0.0.1:``srv.port``; ``srv.bodies`` holds the raw
    bytes of each request (GET and POST) in arrival order."""

    def __init__(self, reply: str = "Noted.") -> None:
        self.reply = reply
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _record(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with owner._lock:
                    owner.bodies.append(body)
                    owner.paths.append(self.path)
                return body

            def _send(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._record()
                self._send(200, {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "test"}]})

            def do_POST(self) -> None:  # noqa: N802
                try:
                    req = json.loads(self._record() or b"{}")
                except ValueError:
                    self._send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                    return
                created, usage = int(time.time()), {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
                if not req.get("stream"):
                    self._send(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": created,
                                     "model": req.get("model", "m"), "usage": usage,
                                     "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant", "content": owner.reply}}]})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": created,
                        "model": req.get("model", "m")}
                events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": owner.reply},
                                                "finish_reason": None}]},
                          {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                          {**base, "choices": [], "usage": usage}]
                for ev in events:
                    self.wfile.write(b"data: " + json.dumps(ev).encode() + b"\n\n")
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def chat_bodies(self) -> list[bytes]:
        with self._lock:
            return [b for b, p in zip(self.bodies, self.paths) if p.endswith("/chat/completions")]

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
