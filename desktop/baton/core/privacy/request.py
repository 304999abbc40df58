"""The gate over a whole request: every message, the messages joined, split tokens, encoded blobs.

``scan_messages(messages)`` lists what would leak if ``messages`` were sent as they are;
``redact_messages(messages)`` returns them with every secret replaced by ``[REDACTED:kind]`` (both
halves of a token split across messages included). A ``Finding`` names the kind and the place of a
secret, never the secret itself, so it can be shown, logged and stored.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from baton.core.privacy.scanner import Hit, resolve, text_hits
from baton.core.privacy.shapes import TOKEN_PREFIX, shape_spans
from baton.core.privacy.text import is_placeholder

_WINDOW = 4000  # characters each side of a junction between two messages
_ENCODING_NOTE = {"base64": " (base64-encoded)", "hex": " (hex-encoded)", "url": " (URL-encoded)"}


@dataclass(frozen=True)
class Finding:
    """One secret in an outgoing request: its kind, the message (0-based index in the request), the
    1-based line in that message, and its character span there (end exclusive). ``encoding`` names
    the encoding it was hidden in (``base64``, ``hex``, ``url``, ``escaped``; ``""`` for plain text);
    ``split`` is True when the secret runs across messages (each message gets its own finding).
    Holds no part of the secret."""

    kind: str
    message_index: int
    line: int
    start: int = 0
    end: int = 0
    encoding: str = ""
    split: bool = False

    def describe(self) -> str:
        """E.g. ``private key in message 2 line 3`` (message numbers count from 1, as people do)."""
        note = _ENCODING_NOTE.get(self.encoding, "") + (" (split across messages)" if self.split else "")
        return f"{self.kind.replace('_', ' ')}{note} in message {self.message_index + 1} line {self.line}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record to store with the thread: kind and place only."""
        return {"kind": self.kind, "message_index": self.message_index, "line": self.line,
                "encoding": self.encoding, "split": self.split}


def _content(m: Any) -> str:
    return m.content if isinstance(m.content, str) else str(m.content or "")


class _Collector:
    """Hits per message, as (start, end, kind, priority, encoding, split)."""

    def __init__(self, n: int) -> None:
        self.per: list[list[tuple[int, int, str, int, str, bool]]] = [[] for _ in range(n)]

    def add(self, i: int, start: int, end: int, kind: str, prio: int, encoding: str, split: bool) -> None:
        if end > start:
            self.per[i].append((start, end, kind, prio, encoding, split))

    def has(self, i: int, start: int, end: int) -> bool:
        return any(s < end and start < e for s, e, *_ in self.per[i])


def _map_joined(col: _Collector, hits: list[Hit], parts: list[tuple[int, int, int, int]]) -> None:
    """Map the hits of a joined text that run across messages back to each message they touch;
    ``parts`` is (message, offset in the joined text, offset in the message, length). Only shapes
    count here (priority 3 and up): a credential rule reading one message's end and the next one's
    start as "name = value" would see secrets in ordinary turns."""
    for start, end, kind, prio, enc in hits:
        pieces = [(i, max(start, j0) - j0 + m0, min(end, j0 + ln) - j0 + m0)
                  for i, j0, m0, ln in parts if start < j0 + ln and j0 < end]
        pieces = [p for p in pieces if p[2] > p[1]]
        if len(pieces) > 1 and prio >= 3:
            for i, s, e in pieces:
                col.add(i, s, e, kind, prio, enc, True)


def _pairs(messages: Sequence[Any]) -> list[tuple[int, int]]:
    """Message pairs whose junction may hide a split token: neighbours, and each message with the
    next one of the same role (a user's turn and their next turn, with an answer between)."""
    out = set()
    for i in range(len(messages) - 1):
        out.add((i, i + 1))
        nxt = next((j for j in range(i + 1, len(messages)) if messages[j].role == messages[i].role), None)
        if nxt is not None:
            out.add((i, nxt))
    return sorted(out)


def _fragments(text: str) -> list[tuple[int, int]]:
    """Tokens that start like a provider key, with a few characters after the prefix (a bare
    prefix named in prose is not the start of a secret; a prefix cut at a junction is left to the
    direct join of the two messages)."""
    out = []
    for m in TOKEN_PREFIX.finditer(text):
        tok = m.group(0).rstrip(".")
        if len(tok) - len(m.group("prefix")) >= 4 and not is_placeholder(tok):
            out.append((m.start(), m.start() + len(tok)))
    return out


_TAIL_TOKEN = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{6,}")


def _scan_split(col: _Collector, texts: list[str], messages: Sequence[Any]) -> None:
    for a, b in _pairs(messages):
        ta, tb = texts[a], texts[b]
        ra, lb = ta.rstrip(), tb.lstrip()
        a0, b0 = max(0, len(ra) - _WINDOW), len(tb) - len(lb)
        for sep in ("", "\n") if b != a + 1 else ("",):
            joined = ra[a0:] + sep + lb[:_WINDOW]
            cut = len(ra) - a0
            hits = [h for h in text_hits(joined) if h[0] < cut and h[1] > cut + len(sep)]
            _map_joined(col, hits, [(a, 0, a0, cut), (b, cut + len(sep), b0, min(_WINDOW, len(lb)))])
        frags = _fragments(ta)
        if not frags:
            continue
        tails = [m.span() for m in _TAIL_TOKEN.finditer(tb)][:200]
        for fs, fe in frags:
            for ts, te in tails:
                head, tail = ta[fs:fe], tb[ts:te]
                if is_placeholder(tail):
                    continue
                for s, e, kind, prio in shape_spans(head + tail):
                    if s < len(head) and e > len(head) + 1:
                        col.add(a, fs + s, fe, kind, prio, "", True)
                        col.add(b, ts, ts + e - len(head), kind, prio, "", True)


def scan_messages(messages: Sequence[Any]) -> list[Finding]:
    """Every secret in ``messages`` (``ChatMessage``-like: ``role``, ``content``) as they would be sent:
    each message, all messages joined, halves of a token split across messages, and the decoded
    form of encoded blobs. Sorted by message, then position."""
    texts = [_content(m) for m in messages]
    col = _Collector(len(texts))
    for i, t in enumerate(texts):
        for s, e, kind, prio, enc in text_hits(t):
            col.add(i, s, e, kind, prio, enc, False)
    if len(texts) > 1:
        parts, pos = [], 0
        for i, t in enumerate(texts):
            parts.append((i, pos, 0, len(t)))
            pos += len(t) + 1
        _map_joined(col, text_hits("\n".join(texts)), parts)
        _scan_split(col, texts, messages)
    out: list[Finding] = []
    for i, hits in enumerate(col.per):
        chosen = resolve([(s, e, k, p + (10 if sp else 0), f"{enc}|{int(sp)}") for s, e, k, p, enc, sp in hits])
        for s, e, kind, _, tag in chosen:
            enc, sp = tag.split("|")
            out.append(Finding(kind, i, texts[i].count("\n", 0, s) + 1, s, e, enc, sp == "1"))
    return out


def _apply(text: str, spans: list[tuple[int, int, str]]) -> str:
    merged: list[list[Any]] = []
    for s, e, kind in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e, kind])
    for s, e, kind in reversed(merged):
        text = text[:s] + f"[REDACTED:{kind}]" + text[e:]
    return text


def redact_messages(messages: Sequence[Any]) -> tuple[list[Any], list[Finding]]:
    """``messages`` with every secret replaced by ``[REDACTED:kind]`` (a split token in every message
    that holds a piece of it), and the findings (places refer to the messages as given). Messages
    are copied with ``dataclasses.replace``; the input is not changed."""
    current = list(messages)
    first: list[Finding] | None = None
    for _ in range(4):  # a redaction can expose a new junction; rescan until clean
        findings = scan_messages(current)
        if first is None:
            first = findings
        if not findings:
            break
        by_msg: dict[int, list[tuple[int, int, str]]] = {}
        for f in findings:
            by_msg.setdefault(f.message_index, []).append((f.start, f.end, f.kind))
        current = [dataclasses.replace(m, content=_apply(_content(m), by_msg[i])) if i in by_msg else m
                   for i, m in enumerate(current)]
    else:  # still not clean: withhold the messages that keep showing secrets
        dirty = {f.message_index for f in scan_messages(current)}
        current = [dataclasses.replace(m, content="[REDACTED:message]") if i in dirty else m
                   for i, m in enumerate(current)]
    return current, first or []
