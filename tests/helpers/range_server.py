"""A loopback HTTP file server of our own, with HTTP Range support and switchable faults.

``RangeServer({"name.gguf": path_or_bytes})`` serves each file at ``/name.gguf`` with ``ETag``,
``Accept-Ranges`` and ``206 Partial Content`` (and ``If-Range``). Faults, settable at any time:
``ignore_range`` (answer 200 with the whole file, as some servers do), ``drop_after_bytes`` (send
the headers for the full length, then close the connection after N body bytes), ``status`` (answer
every request with this code, e.g. 404 or 500), ``ignore_if_range`` (answer a Range request with
206 even when its ``If-Range`` names another version, as some servers and CDNs do), ``etag_mode``
("strong", "weak" or "none"), ``last_modified`` (a ``Last-Modified`` value to send, per file name) and
``hold_after_bytes`` (send N body bytes, then wait until ``release`` is set: a download caught mid-way).
Replace a file with ``add`` to simulate it changing on the server. Every request is logged in ``requests``.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from pathlib import Path
from typing import Any


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up: that is what some tests do

    def _get(self) -> None:
        owner: RangeServer = self.server.owner
        owner.requests.append({"path": self.path, "range": self.headers.get("Range"),
                               "if_range": self.headers.get("If-Range")})
        if owner.status is not None:
            self._plain(owner.status, b"injected failure")
            return
        if self.path in owner.redirects:
            self.send_response(302)
            self.send_header("Location", owner.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = owner.files.get(self.path.lstrip("/").split("?")[0])
        if data is None:
            self._plain(404, b"no such file")
            return
        name = self.path.lstrip("/").split("?")[0]
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if owner.etag_mode == "weak":
            etag = "W/" + etag
        modified = owner.last_modified.get(name)
        start, status = 0, 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        same = if_range is None or owner.ignore_if_range or \
            (if_range == etag and owner.etag_mode == "strong") or (modified is not None and if_range == modified)
        if rng and not owner.ignore_range and same:
            m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
            if m:
                start = int(m[1])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    if owner.etag_mode != "none":
                        self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if owner.etag_mode != "none":
            self.send_header("ETag", etag)
        if modified is not None:
            self.send_header("Last-Modified", modified)
        if not owner.ignore_range:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        limit = owner.drop_after_bytes
        if limit is not None:
            self.wfile.write(body[:limit])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # SHUT_RDWR: the client sees the stream end early
            return
        hold = owner.hold_after_bytes
        for i in range(0, len(body), 1 << 16):
            if hold is not None and i >= hold:
                self.wfile.flush()
                owner.held.set()
                owner.release.wait(30)
                hold = None
            self.wfile.write(body[i : i + (1 << 16)])

    def _plain(self, code: int, text: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)


class RangeServer:
    def __init__(self, files: dict[str, Path | bytes] | None = None) -> None:
        self.files: dict[str, bytes] = {}
        for name, src in (files or {}).items():
            self.add(name, src)
        self.ignore_range = False
        self.ignore_if_range = False
        self.etag_mode = "strong"
        self.last_modified: dict[str, str] = {}
        self.drop_after_bytes: int | None = None
        self.hold_after_bytes: int | None = None
        self.held = threading.Event()  # set once a response reached hold_after_bytes
        self.release = threading.Event()  # set to let a held response go on
        self.status: int | None = None
        self.redirects: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="range-server", daemon=True)

    def add(self, name: str, src: Path | bytes) -> None:
        self.files[name] = src if isinstance(src, bytes) else Path(src).read_bytes()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> "RangeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
