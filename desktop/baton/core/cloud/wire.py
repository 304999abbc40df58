"""What OpenAI-compatible servers send, read leniently: server-sent events, the chunks inside them,
error documents in their many shapes, and token counts when a server reports none.

Pure functions and one small stateful joiner; no I/O. Used by ``baton.core.cloud.client``.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import Any

CHARS_PER_TOKEN = 4.0  # the stated rule when no tokenizer is at hand: one token per 4 characters, rounded
MESSAGE_OVERHEAD_TOKENS = 4  # per chat message (role, separators), added to the prompt estimate
Tokenizer = Callable[[str], int]  # text -> number of tokens

_HIGH = range(0xD800, 0xDC00)
_SURROGATE = re.compile("[\ud800-\udfff]")


# ---- server-sent events -------------------------------------------------------------------------

def iter_sse(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``(event, data)`` for each event in a stream of SSE lines (``event`` is "" when unnamed).

    Follows the SSE rules (``data:`` lines joined by newlines, a blank line ends an event, ``:``
    comments ignored), and also yields an event left without its closing blank line at the end.
    """
    event, data = "", []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value.strip()
    if data:
        yield event, "\n".join(data)


class NotJson(ValueError):
    """A whole (non-streamed) answer that is not JSON."""


def documents(content_type: str, read_body: Callable[[], bytes], lines: Iterable[str]) -> Iterator[Any]:
    """The JSON documents of a response body, then None for the end (``[DONE]``). A non-streamed JSON
    answer (a server that ignored ``stream``) is one document followed by None (``read_body`` reads it;
    if it turns out to be server-sent events after all, they are read as such; ``NotJson`` otherwise).
    An SSE event named ``error`` becomes ``{"error": ...}``; data that is not JSON (keep-alives in odd
    forms) is skipped."""
    ctype = content_type.lower()
    if "json" in ctype and "event-stream" not in ctype:
        raw = read_body()
        try:
            doc = json.loads(raw)
        except ValueError:
            if not raw.lstrip().startswith((b"data:", b"event:", b":")):
                raise NotJson("not JSON") from None
            lines = raw.decode("utf-8", "replace").splitlines()
        else:
            yield doc
            yield None
            return
    for event, data in iter_sse(lines):
        if data.strip() == "[DONE]":
            yield None
            return
        try:
            docs = parse_data(data)
        except ValueError:
            if event == "error":
                yield {"error": {"message": data}}
            continue
        for doc in docs:
            yield {"error": doc} if event == "error" and isinstance(doc, dict) and "error" not in doc else doc
        if is_done(data):
            yield None
            return


def finish_reason(reason: str | None) -> str:
    """Our finish reason ("stop", "length", or the server's word) for a server's (None: a normal end)."""
    if reason in (None, "stop", "eos", "end_turn", "stop_sequence", "STOP", "eos_token"):
        return "stop"
    if reason in ("length", "max_tokens", "MAX_TOKENS"):
        return "length"
    return str(reason)


def parse_data(data: str) -> list[Any]:
    """The JSON documents in one event's data: one, or one per line when a server left out the blank
    lines between events. Raises ``ValueError`` when none parses."""
    try:
        return [json.loads(data)]
    except ValueError:
        if "\n" not in data:
            raise
    docs = []
    for line in data.split("\n"):
        line = line.strip()
        if line and line != "[DONE]":
            docs.append(json.loads(line))
    return docs


def is_done(data: str) -> bool:
    """True for the ``[DONE]`` marker that ends an OpenAI-style stream."""
    return data.strip() == "[DONE]" or any(ln.strip() == "[DONE]" for ln in data.split("\n")[-1:])


def chunk_parts(doc: Any) -> tuple[str | None, str | None]:
    """``(text, finish_reason)`` of the first choice of one ``chat.completion.chunk`` (or of a whole
    ``chat.completion``, or a legacy ``text`` completion). Either may be None."""
    if not isinstance(doc, dict):
        return None, None
    choices = doc.get("choices")
    if not isinstance(choices, list):
        return None, None
    for ch in choices:
        if not isinstance(ch, dict) or ch.get("index", 0) not in (0, None):
            continue
        delta = ch.get("delta")
        if not isinstance(delta, dict):
            delta = ch.get("message") if isinstance(ch.get("message"), dict) else {}
        text = _content_text(delta.get("content"))
        if text is None and isinstance(ch.get("text"), str):
            text = ch["text"]
        finish = ch.get("finish_reason")
        return text, (str(finish) if finish else None)
    return None, None


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}]
        parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "".join(parts) if parts else None
    return None


def usage_counts(doc: Any) -> tuple[int | None, int | None]:
    """``(prompt_tokens, completion_tokens)`` from a document's ``usage`` (None where not reported)."""
    usage = doc.get("usage") if isinstance(doc, dict) else None
    if not isinstance(usage, dict):
        return None, None
    return _count(usage.get("prompt_tokens", usage.get("input_tokens"))), \
        _count(usage.get("completion_tokens", usage.get("output_tokens")))


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return n if n >= 0 else None


def stream_error(doc: Any) -> tuple[str, int | None] | None:
    """``(message, status)`` when a streamed document is an error (``{"error": ...}``), else None."""
    if not isinstance(doc, dict) or not doc.get("error"):
        return None
    err = doc["error"]
    status = None
    if isinstance(err, dict):
        for key in ("status", "code", "status_code"):
            n = _count(err.get(key))
            if n is not None and 100 <= n <= 599:
                status = n
                break
    return (message_from_doc(doc) or "the server reported an error without a message"), status


# ---- error documents ------------------------------------------------------------------------------

def message_from_doc(doc: Any, depth: int = 0) -> str:
    """The human message in an error document, whatever its shape (OpenAI, FastAPI, gateways)."""
    if depth > 4:
        return ""
    if isinstance(doc, str):
        return doc
    if isinstance(doc, list):
        found = [message_from_doc(d, depth + 1) for d in doc[:5]]
        return "; ".join(m for m in found if m)
    if not isinstance(doc, dict):
        return ""
    for key in ("error", "message", "detail", "msg", "error_description", "errors", "title", "reason"):
        value = doc.get(key)
        if value:
            text = message_from_doc(value, depth + 1)
            if text:
                return text
    return ""


def server_message(body: bytes, content_type: str = "", limit: int = 300) -> str:
    """The server's own words in an HTTP error body: the message of a JSON error document, else the
    text (tags stripped from HTML), on one line, at most ``limit`` characters."""
    text = body.decode("utf-8", "replace")
    try:
        msg = message_from_doc(json.loads(text))
    except ValueError:
        msg = ""
    if not msg:
        if "html" in content_type.lower() or re.search(r"<\s*(html|body|title|h1)\b", text, re.IGNORECASE):
            title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
            body_text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.IGNORECASE | re.DOTALL)
            body_text = html.unescape(re.sub(r"<[^>]+>", " ", body_text))
            msg = body_text if not title else (html.unescape(title[1]) + ": " + body_text)
        else:
            msg = text
    return one_line(msg, limit)


def one_line(text: str, limit: int = 300) -> str:
    """``text`` made safe for a one-line message: surrogates repaired, control characters (escape
    sequences included) turned into spaces, whitespace collapsed, cut at ``limit`` characters."""
    text = fix_surrogates(text)
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---- UTF-16 surrogates -------------------------------------------------------------------------------

def fix_surrogates(text: str) -> str:
    """Pair UTF-16 surrogate halves into their characters; a half left alone becomes U+FFFD."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class SurrogateJoiner:
    """Joins a character whose two UTF-16 halves came in consecutive chunks (JSON ``"\\ud83d"`` then
    ``"\\ude00"``): a high half at the end of a piece waits for the next piece."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, piece: str) -> str:
        """The text of ``piece`` that is complete now (a trailing high half is held back)."""
        text = self._pending + piece
        self._pending = ""
        if text and ord(text[-1]) in _HIGH:
            self._pending, text = text[-1], text[:-1]
        return fix_surrogates(text)

    def flush(self) -> str:
        """What is still held back at the end of the stream (a lone half, as U+FFFD)."""
        text, self._pending = self._pending, ""
        return fix_surrogates(text)


# ---- token estimates --------------------------------------------------------------------------------

def estimate_tokens(text: str, tokenizer: Tokenizer | None = None) -> int:
    """Tokens in ``text``: ``tokenizer(text)`` when given (and it works), else ``len / CHARS_PER_TOKEN``
    rounded half up, at least 1 for any non-empty text."""
    if not text:
        return 0
    if tokenizer is not None:
        try:
            n = int(tokenizer(text))
            if n >= 0:
                return n
        except Exception:  # noqa: BLE001 - a tokenizer that fails falls back to the stated rule
            pass
    return max(1, int(len(text) / CHARS_PER_TOKEN + 0.5))


def estimate_prompt_tokens(contents: Iterable[str], tokenizer: Tokenizer | None = None) -> int:
    """Tokens of a chat prompt: each message's content estimated, plus ``MESSAGE_OVERHEAD_TOKENS`` each."""
    return sum(estimate_tokens(c, tokenizer) + MESSAGE_OVERHEAD_TOKENS for c in contents)


def request_body(model: str, request: Any, with_usage: bool = True) -> dict[str, Any]:
    """The JSON body of a streamed chat completion for ``request``: the messages exactly as given (roles and
    contents, nothing added) and every sampling field that is set (max_tokens, temperature, top_p, seed, stop);
    ``with_usage`` asks the server for a usage chunk (``stream_options``)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": True,
    }
    for name in ("max_tokens", "temperature", "top_p", "seed"):
        value = getattr(request, name, None)
        if value is not None:
            body[name] = value
    stop = getattr(request, "stop", None)
    if stop:
        body["stop"] = [stop] if isinstance(stop, str) else list(stop)
    if with_usage:
        body["stream_options"] = {"include_usage": True}
    return body
