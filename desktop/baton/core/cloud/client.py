"""An OpenAI-compatible remote tier (a paid cloud, or a bigger model on a LAN server) that streams
like our engines: text chunks, then a last chunk carrying the ``Completion``.

Built on ``httpx`` directly (the wire format is read leniently by ``baton.core.cloud.wire``):
- the request carries the messages exactly as given (roles and order, nothing added) and every
  sampling field: ``max_tokens``, ``temperature``, ``top_p``, ``seed`` and ``stop``;
- a stream ends normally at ``data: [DONE]`` (finish "stop" when no chunk named a reason) or when the
  server closes after a finish reason; a stream cut before either is an error that keeps the text
  received so far in ``partial_text``; an ``{"error": ...}`` document inside a 200 stream is an error
  carrying the server's message; a character whose UTF-16 halves came in two chunks is joined;
- a server that reports no usage gets token counts estimated from the text (a tokenizer callable
  when one is given; else the larger of 4 characters a token, ``wire.CHARS_PER_TOKEN``, and the number
  of text deltas received, since most servers send a token per delta), marked ``Usage.estimated``;
  prices and joules follow the counts;
- retries (exponential backoff, honouring ``Retry-After`` in seconds or as an HTTP date) happen
  for 429, 5xx and refused connections, and only BEFORE the first text arrives;
- three timeouts: connect, first byte (response headers) and between chunks (every body read);
- every failure becomes a ``baton.core.errors.CloudError`` child whose message carries the server's
  own words, says what to do, and has the key and every credential header scrubbed out
  (``baton.core.scrub``); the chain to the HTTP library's exception is dropped, since its text may
  hold the key;
- offline mode refuses any base URL whose host is not loopback before a name is resolved or a
  socket opened, and ignores proxy variables (``trust_env=False``); online, a loopback endpoint is
  never sent through a proxy.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from baton import __version__
from baton.config import Endpoint
from baton.core.cloud import wire
from baton.core.cloud.net import (  # noqa: F401 - is_loopback_url and parse_retry_after are part of this API
    CloudTimeouts,
    env_proxy_for,
    is_loopback_url,
    load_httpx,
    make_transport,
    parse_retry_after,
)
from baton.core.errors import (
    BatonError,
    CloudAuthError,
    CloudError,
    CloudRateLimited,
    CloudTimeout,
    CloudUnavailable,
    PolicyError,
    UsageError,
)
from baton.core.scrub import has_control_chars, scrub
from baton.core.types import Chunk, Completion, EnergyPart, Timing, TokenSignals, Usage

_ALLOWED_SCHEMES = ("http", "https")
_ERROR_BODY_LIMIT = 64 << 10
MIN_DECODE_SPAN_S = 0.05  # below this, a decode rate from first token to last is noise (Units: s)


class _Retryable(Exception):
    def __init__(self, error: CloudError, retry_after_s: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after_s = retry_after_s


class _StatusError(Exception):
    """An HTTP status >= 300, with the start of its body, before it is mapped to our errors."""

    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.headers, self.body = status, headers, body


class CloudClient:
    """One remote endpoint. ``stream(request, cancel)`` has the same shape as ``Engine.stream``.

    ``api_key``: sent as ``Authorization: Bearer``; None or "" sends no Authorization header.
    ``tokenizer``: text -> token count, used when the server reports no usage (else 4 chars a token).
    Errors: ``PolicyError`` (offline and not loopback), ``UsageError`` (not an http(s) URL),
    ``CloudError`` and its children for everything that goes wrong on the wire.
    """

    def __init__(self, endpoint: Endpoint, api_key: str | None, offline: bool, *,
                 timeouts: CloudTimeouts | None = None, max_retries: int = 2, backoff_s: float = 0.5,
                 max_backoff_s: float = 8.0, max_retry_after_s: float = 60.0,
                 tokenizer: wire.Tokenizer | None = None, transport: Any = None) -> None:
        scheme = urlsplit(endpoint.base_url).scheme
        if scheme not in _ALLOWED_SCHEMES or not urlsplit(endpoint.base_url).hostname:
            raise UsageError(f"endpoint '{endpoint.name}' has base URL '{scrub(endpoint.base_url)}', which is not "
                             "an http(s) URL; fix it with `baton endpoints add` (e.g. https://api.openai.com/v1)")
        self.endpoint = endpoint
        self.offline = offline
        self.timeouts = timeouts or CloudTimeouts.for_endpoint(endpoint)
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.tokenizer = tokenizer
        self._transport = transport  # an httpx transport for tests (httpx.MockTransport), else the real one
        self.usage_source = ""  # "server" or "estimated", for the last stream
        self.attempts = 0  # HTTP attempts made by the last call
        self._api_key = api_key or ""
        self._has_key = bool(api_key)
        self._http: Any = None
        self._body_started = False

    # ---- secrets --------------------------------------------------------------------------------------
    def known_secrets(self) -> tuple[str, ...]:
        """The secret values this client knows (its key), for ``baton.core.scrub.scrub``."""
        return (self._api_key,) if self._api_key else ()

    def scrub(self, text: str) -> str:
        """``text`` with this client's key and every credential header value replaced by ``[redacted]``."""
        return scrub(text, self.known_secrets())

    def _scrubbed(self, err: BaseException) -> BaseException:
        if err.args and isinstance(err.args[0], str):
            err.args = (self.scrub(err.args[0]), *err.args[1:])
        return err

    # ---- plumbing ---------------------------------------------------------------------------------
    def _guard(self) -> None:
        ep = self.endpoint
        if self.offline and not is_loopback_url(ep.base_url):
            host = urlsplit(ep.base_url).hostname
            raise PolicyError(
                f"offline mode: endpoint '{ep.name}' is at {host}, not on this machine, and Baton "
                "opens no connection to anything but loopback while offline; turn offline mode off "
                "(`baton config set offline false`, unset BATON_OFFLINE) or use a local tier")
        if self._has_key and (has_control_chars(self._api_key) or not self._api_key.isascii()):
            where = f"the env var {ep.key_env} or " if ep.key_env else ""
            raise CloudAuthError(
                f"the key for endpoint '{ep.name}' contains a control or non-ASCII character (a line break, tab "
                f"or similar), so it was not sent; fix {where}the keyring entry with `baton keys set {ep.name}`")

    def _client(self) -> Any:
        self._guard()
        if self._http is None:
            http = load_httpx()
            proxy = None if self.offline else env_proxy_for(self.endpoint.base_url)
            transport = self._transport or make_transport(http, self.timeouts.between_chunks_s, proxy=proxy,
                                                           trust_env=not self.offline)
            headers = {"User-Agent": f"baton/{__version__}", "Accept-Encoding": "identity"}
            if self._has_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._http = http.Client(transport=transport, timeout=self.timeouts.to_httpx(http), headers=headers,
                                     trust_env=not self.offline, follow_redirects=False)
        return self._http

    def _url(self, path: str) -> str:
        parts = urlsplit(self.endpoint.base_url)
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))

    def close(self) -> None:
        """Close the connection pool (the client can be used again afterwards)."""
        if self._http is not None:
            self._http.close()
            self._http = None

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
                    raise r.error from None
                if cancel is not None:
                    if cancel.wait(delay):
                        raise r.error from None
                else:
                    time.sleep(delay)
                attempt += 1

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The response, headers read and body not; a status >= 300 raises ``_StatusError``."""
        http = self._client()
        request = http.build_request(method, self._url(path), json=body,
                                     headers={"Accept": "text/event-stream"} if body and body.get("stream") else None)
        response = http.send(request, stream=True)
        if response.status_code >= 300:
            try:
                data = b""
                for block in response.iter_bytes():
                    data += block
                    if len(data) >= _ERROR_BODY_LIMIT:
                        break
            except Exception:  # noqa: BLE001 - an error body cut short still has its status
                pass
            finally:
                response.close()
            raise _StatusError(response.status_code, response.headers, data)
        return response

    # ---- errors -------------------------------------------------------------------------------------
    def _key_hint(self) -> str:
        name = self.endpoint.name
        env = f"the env var {self.endpoint.key_env}" if self.endpoint.key_env else \
            f"an env var named with `baton endpoints add {name} ... --key-env VAR`"
        return f"set it with `baton keys set {name}` or {env}"

    def _status(self, code: int, detail: str, headers: Any = None) -> CloudError | _Retryable:
        """The error for HTTP ``code``; ``detail`` is the server's own message (already one line)."""
        ep = self.endpoint
        said = f"HTTP {code}: {detail}" if detail else f"HTTP {code}"
        if code in (401, 403):
            what = "was refused" if self._has_key else "is missing"
            return CloudAuthError(f"the key for endpoint '{ep.name}' {what} ({said}); {self._key_hint()}")
        if code == 404:
            return CloudUnavailable(f"endpoint '{ep.name}': model '{ep.model}' or URL {ep.base_url} was not "
                                    f"found ({said}); check both with `baton endpoints test {ep.name}`")
        if code == 413:
            return CloudError(f"endpoint '{ep.name}' refused the request as too large ({said}); shorten the "
                              "conversation or lower max tokens")
        if 300 <= code < 400:
            where = (headers or {}).get("location", "another address")
            return CloudError(f"endpoint '{ep.name}' answered with a redirect to {where} ({said}); set the "
                              f"address it names as the base URL with `baton endpoints add {ep.name} ... --replace`")
        retry_after = parse_retry_after(headers)
        if code == 429:
            wait = f"; the server asks to wait {retry_after:.0f} s" if retry_after is not None else ""
            return _Retryable(CloudRateLimited(f"endpoint '{ep.name}' is rate limiting requests ({said}){wait}; "
                                               "try again later or lower the request rate", retry_after), retry_after)
        if code >= 500 or code == 408:
            err = CloudUnavailable(f"endpoint '{ep.name}' failed with {said}; try again later or use another tier")
            return _Retryable(err, retry_after)
        return CloudError(f"endpoint '{ep.name}' rejected the request (HTTP {code}): {detail or 'no reason given'}")

    def _map(self, exc: BaseException, partial_text: str = "") -> CloudError | _Retryable:
        """Turn a status or transport exception into our error; _Retryable wraps the retryable ones."""
        http = load_httpx()
        ep = self.endpoint
        if isinstance(exc, _StatusError):
            ctype = exc.headers.get("content-type", "") if exc.headers is not None else ""
            return self._status(exc.status, self.scrub(wire.server_message(exc.body, ctype)), exc.headers)
        if isinstance(exc, http.TimeoutException) and not isinstance(exc, http.ConnectTimeout):
            if partial_text or self._body_started:
                err = CloudTimeout(f"endpoint '{ep.name}' stalled for more than {self.timeouts.between_chunks_s:g} s "
                                   f"in the middle of the answer ({len(partial_text)} characters received, kept); "
                                   "try again or raise the endpoint's timeout")
                err.partial_text = partial_text
                return err
            return CloudTimeout(f"endpoint '{ep.name}' sent no first byte within {self.timeouts.first_byte_s:g} s; "
                                "the server is busy or unreachable; try again or raise the endpoint's timeout")
        cause = wire.one_line(self.scrub(str(exc) or type(exc).__name__), 200)
        if isinstance(exc, http.ConnectTimeout):
            return CloudTimeout(f"could not connect to endpoint '{ep.name}' at {ep.base_url} within "
                                f"{self.timeouts.connect_s:g} s; check the URL and the network")
        if isinstance(exc, http.ProxyError):
            return CloudUnavailable(f"the proxy refused the connection to endpoint '{ep.name}' ({cause}); check "
                                    "the https_proxy / http_proxy variables")
        if isinstance(exc, (http.LocalProtocolError, http.UnsupportedProtocol, UnicodeError)):
            return CloudError(f"endpoint '{ep.name}': the request could not be sent ({cause}); check the endpoint's "
                              f"URL and key (`baton endpoints test {ep.name}`)")
        if isinstance(exc, http.TransportError):
            if self._body_started:
                return CloudUnavailable(
                    f"the connection to endpoint '{ep.name}' broke in the middle of the answer after "
                    f"{len(partial_text)} characters (kept) ({cause}); try again or use another tier", partial_text)
            return _Retryable(CloudUnavailable(f"could not connect to endpoint '{ep.name}' at {ep.base_url} "
                                               f"({cause}); check the URL and that the server is running"), None)
        return CloudError(f"endpoint '{ep.name}': unexpected {type(exc).__name__}: {cause}")

    def _raise_clean(self, err: BaseException) -> None:
        """Raise ``err`` (a BatonError, else wrapped in CloudError) scrubbed, without its chain."""
        if not isinstance(err, BatonError):
            mapped = self._map(err)
            err = mapped.error if isinstance(mapped, _Retryable) else mapped
        raise self._scrubbed(err) from None

    # ---- API ----------------------------------------------------------------------------------------
    def list_models(self) -> list[str]:
        """Model ids served at ``<base_url>/models``, sorted."""
        self._body_started = False

        def call() -> list[str]:
            try:
                response = self._send("GET", "/models")
                try:
                    raw = response.read()
                finally:
                    response.close()
            except (BatonError, _Retryable):
                raise
            except Exception as e:  # noqa: BLE001 - every transport error is mapped
                raise self._map(e) from None
            try:
                doc = json.loads(raw)
            except ValueError:
                raise CloudError(f"endpoint '{self.endpoint.name}' answered /models with something that is not "
                                 "JSON; check the base URL (it usually ends in /v1)") from None
            items = doc.get("data", doc.get("models", [])) if isinstance(doc, dict) else doc
            ids = [m.get("id") or m.get("name") for m in items or [] if isinstance(m, dict)]
            return sorted(str(i) for i in ids if i)

        try:
            return self._with_retries(call, None)
        except Exception as e:  # noqa: BLE001
            self._raise_clean(e)
            raise  # unreachable

    def stream(self, request: Any, cancel: threading.Event | None = None) -> Iterator[Chunk]:
        """Yield text chunks, then a chunk whose ``completion`` has usage, timing and finish reason.

        ``request`` has ``messages`` (``role``, ``content``), ``max_tokens``, ``temperature``, ``top_p``,
        ``seed`` and ``stop``. The offline refusal and a bad key raise here, before iteration.
        """
        try:
            self._guard()
        except BatonError as e:
            self._raise_clean(e)
        return self._scrubbing(self._stream(request, cancel))

    def _scrubbing(self, inner: Iterator[Chunk]) -> Iterator[Chunk]:
        try:
            yield from inner
        except Exception as e:  # noqa: BLE001 - every error leaves scrubbed, as one of ours
            self._raise_clean(e)

    def _open(self, request: Any, cancel: threading.Event | None) -> Any:
        state = {"with_usage": True}

        def call() -> Any:
            self._body_started = False
            try:
                return self._send("POST", "/chat/completions", wire.request_body(self.endpoint.model, request, state["with_usage"]))
            except _StatusError as e:
                if state["with_usage"] and e.status in (400, 422) and b"stream_options" in e.body:
                    state["with_usage"] = False  # an older server: estimate the counts ourselves
                    return call()
                raise self._map(e) from None
            except (BatonError, _Retryable):
                raise
            except Exception as e:  # noqa: BLE001
                raise self._map(e) from None

        return self._with_retries(call, cancel)

    def _stream(self, request: Any, cancel: threading.Event | None) -> Iterator[Chunk]:
        t0 = time.perf_counter()
        response = self._open(request, cancel)
        self._body_started = True
        parts: list[str] = []
        joiner = wire.SurrogateJoiner()
        counts: tuple[int | None, int | None] = (None, None)
        finish: str | None = None
        done = False
        ttft = 0.0
        n_pieces = 0  # non-empty text deltas: most servers send one token per delta
        try:
            for doc in self._documents(response):
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
                if doc is None:  # [DONE]
                    done = True
                    break
                error = wire.stream_error(doc)
                if error is not None:
                    raise self._stream_error(error, joiner, parts)
                prompt_n, completion_n = wire.usage_counts(doc)
                if prompt_n is not None or completion_n is not None:
                    counts = (prompt_n if prompt_n is not None else counts[0],
                              completion_n if completion_n is not None else counts[1])
                text, reason = wire.chunk_parts(doc)
                n_pieces += 1 if text else 0
                piece = joiner.feed(text) if text else ""
                if piece:
                    if not parts:
                        ttft = time.perf_counter() - t0
                    parts.append(piece)
                    yield Chunk(piece)
                if reason:
                    finish = reason
            tail = joiner.flush()
            if tail and finish != "cancelled":
                parts.append(tail)
                yield Chunk(tail)
        except GeneratorExit:
            response.close()
            raise
        except BatonError:
            response.close()
            raise
        except Exception as e:  # noqa: BLE001
            response.close()
            partial = "".join(parts) + joiner.flush()
            mapped = self._map(e, partial)
            err = mapped.error if isinstance(mapped, _Retryable) else mapped
            if not isinstance(err, (CloudTimeout, CloudUnavailable)):
                err = CloudUnavailable(str(err), partial)
            err.partial_text = partial
            raise err from None
        response.close()
        text = "".join(parts)
        if finish != "cancelled" and not done and finish is None:
            raise CloudUnavailable(
                f"the stream from endpoint '{self.endpoint.name}' ended before the answer was finished, after "
                f"{len(text)} characters (kept); try again or use another tier", text)
        total = time.perf_counter() - t0
        usage = self._usage(request, text, counts, n_pieces)
        # tokens after the first over the time after it; when (nearly) all text came in one chunk that interval says
        # nothing, so the rate is taken over the whole answer instead of dividing by a few microseconds
        span = total - ttft
        if n_pieces < 3 or span < MIN_DECODE_SPAN_S:
            decode = usage.completion_tokens / total if total > 0 else 0.0
        else:
            decode = (usage.completion_tokens - 1) / span if usage.completion_tokens > 1 else 0.0
        yield Chunk("", Completion(
            text=text, model=self.endpoint.model, finish_reason=wire.finish_reason(finish), usage=usage,
            timing=Timing(load_s=0.0, ttft_s=ttft, total_s=total, decode_tokens_per_s=decode),
            signals=TokenSignals(n_tokens=usage.completion_tokens)))

    def _documents(self, response: Any) -> Iterator[Any]:
        ctype = response.headers.get("content-type", "")
        try:
            yield from wire.documents(ctype, response.read, response.iter_lines())
        except wire.NotJson:
            raise CloudUnavailable(f"endpoint '{self.endpoint.name}' sent an answer that is not JSON; "
                                   "check the base URL") from None

    def _stream_error(self, error: tuple[str, int | None], joiner: wire.SurrogateJoiner,
                      parts: list[str]) -> CloudError:
        message, status = error
        partial = "".join(parts) + joiner.flush()
        detail = self.scrub(wire.one_line(message))
        if status is not None and status != 200:
            mapped = self._status(status, detail)
            err = mapped.error if isinstance(mapped, _Retryable) else mapped
            err = err if isinstance(err, (CloudAuthError, CloudRateLimited, CloudUnavailable)) else \
                CloudUnavailable(str(err), partial)
        else:
            err = CloudUnavailable(f"endpoint '{self.endpoint.name}' reported an error in the middle of the answer: "
                                   f"{detail}; try again or use another tier", partial)
        err.partial_text = partial
        return err

    def _usage(self, request: Any, text: str, counts: tuple[int | None, int | None], n_pieces: int) -> Usage:
        """The server's counts where it sent them; the rest estimated (``estimated=True``): the prompt from
        the messages (tokenizer, else 4 characters a token + 4 a message), the answer by the tokenizer, else
        the larger of the number of text deltas received and 4 characters a token."""
        prompt_n, completion_n = counts
        estimated = False
        if prompt_n is None or (prompt_n == 0 and request.messages):
            prompt_n = wire.estimate_prompt_tokens((m.content for m in request.messages), self.tokenizer)
            estimated = True
        if completion_n is None or (completion_n == 0 and text):
            completion_n = wire.estimate_tokens(text, self.tokenizer)
            if self.tokenizer is None:
                completion_n = max(completion_n, n_pieces)
            estimated = True
        self.usage_source = "estimated" if estimated else "server"
        return Usage(prompt_n, completion_n, estimated=estimated)

    # ---- prices and energy ----------------------------------------------------------------------------
    def cost_usd(self, usage: Usage) -> float:
        """Dollars for ``usage`` at the endpoint's prices (per million tokens in and out)."""
        ep = self.endpoint
        return (usage.prompt_tokens * ep.usd_per_mtok_in + usage.completion_tokens * ep.usd_per_mtok_out) / 1e6

    def energy_estimate_j(self, usage: Usage) -> float:
        """Joules the remote tier is estimated to spend: every token (prompt and answer) x J/token."""
        return (usage.prompt_tokens + usage.completion_tokens) * self.endpoint.j_per_token

    def energy_part(self, usage: Usage) -> EnergyPart:
        """The remote part of a receipt's energy: always ``estimated`` (scope ``remote``)."""
        ep = self.endpoint
        tokens = usage.prompt_tokens + usage.completion_tokens
        counted = " (token count estimated from the text)" if getattr(usage, "estimated", False) else ""
        note = (f"{ep.name}: {tokens} tokens x {ep.j_per_token:g} J/token (endpoint setting, not measured){counted}"
                if ep.j_per_token else f"{ep.name}: no J/token set for this endpoint (`baton endpoints add "
                                       f"{ep.name} ... --j-per-token J`)")
        return EnergyPart("remote", "estimated", self.energy_estimate_j(usage), note)
