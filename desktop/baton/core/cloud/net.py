"""Network plumbing for the cloud client: loopback detection (no name resolved), ``Retry-After``,
the proxy the environment names (used online only), timeouts, and the transport that switches to the
between-chunks timeout once the headers are in."""

from __future__ import annotations

import email.utils
import ipaddress
import math
import time
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from baton.config import Endpoint
from baton.core.errors import CloudError


def load_httpx() -> Any:
    """The ``httpx`` module (the cloud extra), or a CloudError that says how to install it."""
    try:
        import httpx
    except ImportError:  # pragma: no cover - the cloud extra is part of `make setup`
        raise CloudError("the `httpx` package is missing; install Baton's `cloud` extra "
                         "(pip install 'baton[cloud]')") from None
    return httpx


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is 127.0.0.0/8, ::1 or ``localhost`` (no name is resolved)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def env_proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``https_proxy``, ``all_proxy``...; ``no_proxy``
    honoured), never one for a loopback host. Used online only."""
    if is_loopback_url(url):
        return None
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not proxies or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


@dataclass(frozen=True)
class CloudTimeouts:
    """Connect, first byte (response headers) and between chunks (each read of the streamed body). Units: s."""

    connect_s: float = 10.0
    first_byte_s: float = 60.0
    between_chunks_s: float = 60.0
    write_s: float = 30.0

    @classmethod
    def for_endpoint(cls, endpoint: Endpoint) -> "CloudTimeouts":
        """The endpoint's ``timeout_s`` for first byte and between chunks; connect at most 10 s."""
        t = float(endpoint.timeout_s or 60.0)
        return cls(connect_s=min(10.0, t), first_byte_s=t, between_chunks_s=t)

    def to_httpx(self, http: Any) -> Any:
        """An ``httpx.Timeout`` (read = first byte; the transport switches it to between-chunks later)."""
        return http.Timeout(connect=self.connect_s, read=self.first_byte_s, write=self.write_s,
                            pool=self.connect_s)


def make_transport(http: Any, between_chunks_s: float, **kw: Any) -> Any:
    """An ``httpx.HTTPTransport`` (``kw``: its options, e.g. ``proxy``, ``trust_env``) whose body reads use
    ``between_chunks_s`` (seconds) once the response headers are in."""
    class _BodyTimeoutTransport(http.HTTPTransport):  # type: ignore[misc, name-defined]
        """Once the headers are in, reads of the body use the between-chunks timeout."""

        def handle_request(self, request: Any) -> Any:
            response = super().handle_request(request)
            timeouts = request.extensions.get("timeout")
            if isinstance(timeouts, dict):
                timeouts["read"] = between_chunks_s
            return response

    return _BodyTimeoutTransport(**kw)
