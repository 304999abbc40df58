"""An OpenAI-compatible remote tier (a paid cloud, or a bigger model on a LAN server) that streams
like our engines: text chunks, then a last chunk carrying the ``Completion``.

Built on the official ``openai`` SDK with its own retries turned off, because ours differ:
- retries (exponential backoff, honouring ``Retry-After`` in seconds or as an HTTP date) happen
  for 429, 5xx and refused connections, and only BEFORE the first text arrives: an answer that
  already produced text is never replayed;
- three timeouts: connect, first byte (response headers) and between chunks (every read of the
  body); the SDK's HTTP client is given a transport that switches the read timeout once the headers
  are in;
- every failure becomes a ``baton.core.errors.CloudError`` child whose message says what to do;
  a stream cut in the middle keeps the text received so far in ``partial_text``;
- offline mode refuses any base URL whose host is not loopback before a socket is opened.
"""

from __future__ import annotations

import email.utils
import ipaddress
import math
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from baton.config import Endpoint
from baton.core.errors import (
    CloudAuthError,
    CloudError,
    CloudRateLimited,
    CloudTimeout,
    CloudUnavailable,
    PolicyError,
    UsageError,
)
from baton.core.types import Chunk, Completion, EnergyPart, GenerationRequest, Timing, TokenSignals, Usage

NO_KEY = "baton-no-key"  # sent when an endpoint has no key, so the SDK never picks up OPENAI_API_KEY itself
_ALLOWED_SCHEMES = ("http", "https")


def _openai() -> Any:
    try:
        import openai
    except ImportError as e:  # pragma: no cover - the cloud extra is part of `make setup`
        raise CloudError("the `openai` package is missing; install Baton's `cloud` extra "
                         "(pip install 'baton[cloud]')") from e
    return openai


def _http_module(openai: Any) -> Any:
    """The HTTP library the SDK is built on (``httpx``, or ``httpx2`` in newer SDKs)."""
    base = next(c for c in openai.DefaultHttpxClient.__mro__[1:] if c.__name__ == "Client")
    return sys.modules[base.__module__.split(".")[0]]


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is 127.0.0.0/8, ::1 or ``localhost``."""
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


@dataclass(frozen=True)
class CloudTimeouts:
    """Connect, first byte (response headers) and between chunks (each read of the streamed body)."""

    connect_s: float = 10.0
    first_byte_s: float = 60.0
    between_chunks_s: float = 60.0
    write_s: float = 30.0

    @classmethod
    def for_endpoint(cls, endpoint: Endpoint) -> "CloudTimeouts":
        t = float(endpoint.timeout_s or 60.0)
        return cls(connect_s=min(10.0, t), first_byte_s=t, between_chunks_s=t)

    def to_httpx(self, http: Any) -> Any:
        return http.Timeout(connect=self.connect_s, read=self.first_byte_s, write=self.write_s,
                            pool=self.connect_s)


def _make_transport(http: Any, between_chunks_s: float) -> Any:
    class _BodyTimeoutTransport(http.HTTPTransport):  # type: ignore[misc, name-defined]
        """Once the headers are in, reads of the body use the between-chunks timeout."""

        def handle_request(self, request: Any) -> Any:
            response = super().handle_request(request)
            timeouts = request.extensions.get("timeout")
            if isinstance(timeouts, dict):
                timeouts["read"] = between_chunks_s
            return response

    return _BodyTimeoutTransport()


class _Retryable(Exception):
    def __init__(self, error: CloudError, retry_after_s: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after_s = retry_after_s


class CloudClient:
    """One remote endpoint. ``stream(request, cancel)`` has the same shape as ``Engine.stream``."""

    def __init__(self, endpoint: Endpoint, api_key: str | None, offline: bool, *,
                 timeouts: CloudTimeouts | None = None, max_retries: int = 2, backoff_s: float = 0.5,
                 max_backoff_s: float = 8.0, max_retry_after_s: float = 60.0) -> None:
        scheme = urlsplit(endpoint.base_url).scheme
        if scheme not in _ALLOWED_SCHEMES or not urlsplit(endpoint.base_url).hostname:
            raise UsageError(f"endpoint '{endpoint.name}' has base URL '{endpoint.base_url}', which is not an "
                             "http(s) URL; fix it with `baton endpoints add` (e.g. https://api.openai.com/v1)")
        self.endpoint = endpoint
        self.offline = offline
        self.timeouts = timeouts or CloudTimeouts.for_endpoint(endpoint)
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.usage_source = ""  # "server" or "counted", for the last stream
        self.attempts = 0  # HTTP attempts made by the last call
        self._has_key = bool(api_key)
        self._api_key = api_key or NO_KEY
        self._sdk: Any = None
        self._body_started = False

    # ---- plumbing ---------------------------------------------------------------------------------
    def _guard(self) -> None:
        if self.offline and not is_loopback_url(self.endpoint.base_url):
            host = urlsplit(self.endpoint.base_url).hostname
            raise PolicyError(
                f"offline mode: endpoint '{self.endpoint.name}' is at {host}, not on this machine, and Baton "
                "opens no connection to anything but loopback while offline; turn offline mode off "
                "(`baton config set offline false`, unset BATON_OFFLINE) or use a local tier")

    def _client(self) -> Any:
        self._guard()
        if self._sdk is None:
            openai = _openai()
            http = _http_module(openai)
            http_client = openai.DefaultHttpxClient(
                transport=_make_transport(http, self.timeouts.between_chunks_s),
                timeout=self.timeouts.to_httpx(http))
            self._sdk = openai.OpenAI(api_key=self._api_key, base_url=self.endpoint.base_url, max_retries=0,
                                      timeout=self.timeouts.to_httpx(http), http_client=http_client)
        return self._sdk

    def close(self) -> None:
        if self._sdk is not None:
            self._sdk.close()
            self._sdk = None

    def _delay(self, attempt: int, retry_after_s: float | None) -> float | None:
        """Seconds before the next attempt, or None when there should be no next attempt."""
        if attempt >= self.max_retries:
            return None
        if retry_after_s is not None:
            return retry_after_s if retry_after_s <= self.max_retry_after_s else None
        return min(self.max_backoff_s, self.backoff_s * (2 ** attempt))

    def _with_retries(self, call: Any, cancel: threading.Event | None) -> Any:
        attempt = 0
        self.attempts = 0
        while True:
            self.attempts += 1
            try:
                return call()
            except _Retryable as r:
                delay = self._delay(attempt, r.retry_after_s)
                if delay is None:
                    raise r.error from r.__cause__
                if cancel is not None:
                    if cancel.wait(delay):
                        raise r.error from r.__cause__
                else:
                    time.sleep(delay)
                attempt += 1

    # ---- errors -------------------------------------------------------------------------------------
    def _key_hint(self) -> str:
        name = self.endpoint.name
        env = f"the env var {self.endpoint.key_env}" if self.endpoint.key_env else \
            f"an env var named with `baton endpoints add {name} ... --key-env VAR`"
        return f"set it with `baton keys set {name}` or {env}"

    def _map(self, exc: BaseException, partial_text: str = "") -> CloudError | _Retryable:
        """Turn an SDK or transport exception into our error; _Retryable wraps the retryable ones."""
        openai = _openai()
        http = _http_module(openai)
        ep = self.endpoint
        if isinstance(exc, openai.APIStatusError):
            code = exc.status_code
            detail = _short(getattr(exc, "message", "") or "")
            if code in (401, 403):
                what = ("was refused" if self._has_key else "is missing")
                return CloudAuthError(f"the key for endpoint '{ep.name}' {what} (HTTP {code}); {self._key_hint()}")
            if code == 404:
                return CloudUnavailable(f"endpoint '{ep.name}': model '{ep.model}' or URL {ep.base_url} was not "
                                        f"found (HTTP 404); check both with `baton endpoints test {ep.name}`")
            retry_after = parse_retry_after(getattr(exc.response, "headers", None))
            if code == 429:
                wait = f"; the server asks to wait {retry_after:.0f} s" if retry_after is not None else ""
                err: CloudError = CloudRateLimited(
                    f"endpoint '{ep.name}' is rate limiting requests (HTTP 429){wait}; try again later or "
                    "lower the request rate", retry_after)
                return _Retryable(err, retry_after)
            if code >= 500:
                err = CloudUnavailable(f"endpoint '{ep.name}' failed with HTTP {code} ({detail}); try again "
                                       "later or use another tier")
                return _Retryable(err, retry_after)
            return CloudError(f"endpoint '{ep.name}' rejected the request (HTTP {code}): {detail}")
        timeouts = (openai.APITimeoutError, http.TimeoutException)
        if isinstance(exc, timeouts):
            if partial_text or self._body_started:
                err = CloudTimeout(f"endpoint '{ep.name}' stalled for more than {self.timeouts.between_chunks_s:g} s "
                                   f"in the middle of the answer ({len(partial_text)} characters received, kept); "
                                   "try again or raise the endpoint's timeout")
                err.partial_text = partial_text
                return err
            return CloudTimeout(f"endpoint '{ep.name}' sent no first byte within {self.timeouts.first_byte_s:g} s; "
                                "the server is busy or unreachable; try again or raise the endpoint's timeout")
        if isinstance(exc, (openai.APIConnectionError, http.TransportError)):
            if self._body_started:
                return CloudUnavailable(
                    f"the connection to endpoint '{ep.name}' broke in the middle of the answer after "
                    f"{len(partial_text)} characters (kept); try again or use another tier", partial_text)
            cause = _short(str(exc.__cause__ or exc))
            return _Retryable(CloudUnavailable(f"could not connect to endpoint '{ep.name}' at {ep.base_url} "
                                               f"({cause}); check the URL and that the server is running"), None)
        if isinstance(exc, openai.APIError):
            return CloudUnavailable(f"endpoint '{ep.name}' reported an error: {_short(str(exc))}; try again or "
                                    "use another tier", partial_text)
        return CloudError(f"endpoint '{ep.name}': unexpected {type(exc).__name__}: {_short(str(exc))}")

    # ---- API ----------------------------------------------------------------------------------------
    def list_models(self) -> list[str]:
        """Model ids served at ``/v1/models``."""
        self._body_started = False

        def call() -> list[str]:
            try:
                return sorted(m.id for m in self._client().models.list())
            except PolicyError:
                raise
            except Exception as e:  # noqa: BLE001 - every SDK/transport error is mapped
                mapped = self._map(e)
                raise mapped from e

        return self._with_retries(call, None)

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[Chunk]:
        """Yield text chunks, then a chunk whose ``completion`` has usage, timing and finish reason."""
        self._guard()  # before the generator starts: offline refusal is immediate
        return self._stream(request, cancel)

    def _open(self, request: GenerationRequest, with_usage: bool) -> Any:
        params: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens, "temperature": request.temperature, "top_p": request.top_p,
            "stream": True,
        }
        if with_usage:
            params["stream_options"] = {"include_usage": True}
        if request.seed is not None:
            params["seed"] = request.seed
        if request.stop:
            params["stop"] = list(request.stop)
        return self._client().chat.completions.create(**params)

    def _stream(self, request: GenerationRequest, cancel: threading.Event | None) -> Iterator[Chunk]:
        t0 = time.perf_counter()
        state: dict[str, Any] = {"with_usage": True}
        self._body_started = False

        def open_stream() -> Any:
            self._body_started = False
            try:
                return self._open(request, state["with_usage"])
            except Exception as e:  # noqa: BLE001
                openai = _openai()
                if (state["with_usage"] and isinstance(e, openai.BadRequestError)
                        and "stream_options" in str(e)):
                    state["with_usage"] = False  # an older server: count tokens ourselves
                    return open_stream()
                raise self._map(e) from e

        sdk_stream = self._with_retries(open_stream, cancel)
        self._body_started = True
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        ttft = 0.0
        n_pieces = 0
        try:
            for event in sdk_stream:
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
                if getattr(event, "usage", None) is not None:
                    u = event.usage
                    usage = Usage(int(u.prompt_tokens or 0), int(u.completion_tokens or 0))
                for choice in event.choices or []:
                    text = getattr(choice.delta, "content", None) if choice.delta is not None else None
                    if text:
                        if not parts:
                            ttft = time.perf_counter() - t0
                        parts.append(text)
                        n_pieces += 1
                        yield Chunk(text)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except GeneratorExit:
            sdk_stream.close()
            raise
        except Exception as e:  # noqa: BLE001
            sdk_stream.close()
            partial = "".join(parts)
            mapped = self._map(e, partial)
            if isinstance(mapped, _Retryable):
                mapped = mapped.error
            if not isinstance(mapped, (CloudTimeout, CloudUnavailable)):
                mapped = CloudUnavailable(str(mapped), partial)
            mapped.partial_text = partial
            raise mapped from e
        if finish == "cancelled":
            sdk_stream.close()
        elif finish is None:
            sdk_stream.close()
            raise CloudUnavailable(
                f"the stream from endpoint '{self.endpoint.name}' ended before the answer was finished, after "
                f"{len(''.join(parts))} characters (kept); try again or use another tier", "".join(parts))
        total = time.perf_counter() - t0
        text = "".join(parts)
        if usage is None or (usage.completion_tokens == 0 and n_pieces):
            self.usage_source = "counted"
            usage = Usage(_estimate_prompt_tokens(request), n_pieces)
        else:
            self.usage_source = "server"
        decode = (usage.completion_tokens - 1) / (total - ttft) if usage.completion_tokens > 1 and total > ttft else 0.0
        yield Chunk("", Completion(
            text=text, model=self.endpoint.model, finish_reason=_finish(finish), usage=usage,
            timing=Timing(load_s=0.0, ttft_s=ttft, total_s=total, decode_tokens_per_s=decode),
            signals=TokenSignals(n_tokens=usage.completion_tokens)))

    # ---- prices and energy ----------------------------------------------------------------------------
    def cost_usd(self, usage: Usage) -> float:
        ep = self.endpoint
        return (usage.prompt_tokens * ep.usd_per_mtok_in + usage.completion_tokens * ep.usd_per_mtok_out) / 1e6

    def energy_estimate_j(self, usage: Usage) -> float:
        """Joules the remote tier is estimated to spend: every token (prompt and answer) x J/token."""
        return (usage.prompt_tokens + usage.completion_tokens) * self.endpoint.j_per_token

    def energy_part(self, usage: Usage) -> EnergyPart:
        ep = self.endpoint
        tokens = usage.prompt_tokens + usage.completion_tokens
        note = (f"{ep.name}: {tokens} tokens x {ep.j_per_token:g} J/token (endpoint setting, not measured)"
                if ep.j_per_token else f"{ep.name}: no J/token set for this endpoint (`baton endpoints add "
                                       f"{ep.name} ... --j-per-token J`)")
        return EnergyPart("remote", "estimated", self.energy_estimate_j(usage), note)


def _finish(reason: str | None) -> str:
    if reason in (None, "stop", "eos", "end_turn", "stop_sequence"):
        return "stop"
    if reason in ("length", "max_tokens"):
        return "length"
    return str(reason)


def _estimate_prompt_tokens(request: GenerationRequest) -> int:
    """A server that does not report usage: about 4 characters a token plus a few per message."""
    return int(sum(len(m.content) for m in request.messages) / 4.0) + 4 * len(request.messages)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
