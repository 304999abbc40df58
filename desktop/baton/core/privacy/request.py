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
from baton.core.privacy.shapes import TOKEN_PREFIX, prefix_kind, shape_spans
from baton.core.privacy.text import HEX_RE, UUID_RE, entropy_bits, is_placeholder, wordiness

_WINDOW = 4000  # characters each side of a junction between two messages
_MAX_TAILS = 200  # candidate second halves examined per message
_PARTIAL = "partial_"  # kind prefix of a token's first half seen without its rest
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


_VOWELS = frozenset("aeiouyAEIOUY")


def _is_word(piece: str) -> bool:
    """An ordinary word ("answer", "Noted", "is", "IMPORTANT"): never one half of a split token."""
    p = piece.strip().strip(".,;:!?()[]\"'`")
    if not p.isalpha() or not (p.islower() or p.istitle() or p.isupper()):
        return False
    vowels = sum(c in _VOWELS for c in p) / len(p)
    if p.isupper() and len(p) > 3:  # capitals: a word can be read aloud, a random run mostly cannot
        return vowels >= 0.3
    return len(p) <= 3 or (vowels >= 0.2 and entropy_bits(p) < 3.7)


def _tail_candidate(tail: str) -> bool:
    """A piece that may be the rest of a token, for a provider rule to judge: six characters or
    more, not a word nor a placeholder, with digits, mixed case, or all in capitals."""
    if len(tail) < 6 or is_placeholder(tail) or entropy_bits(tail) < 2.0:
        return False
    if re.fullmatch(r"[A-Z]+", tail):  # an AKIA id's rest may hold no digit; a rule checks its length
        return True
    return not _is_word(tail) and bool(re.search(r"\d", tail) or (re.search(r"[a-z]", tail)
                                                                   and re.search(r"[A-Z]", tail)))


def _tail_ok(tail: str, min_len: int = 6) -> bool:
    """A piece that is random enough to be the rest of a token with no rule to judge the whole:
    long enough, not a word nor a placeholder, letters mixed with digits or in mixed case."""
    if len(tail) < min_len or _is_word(tail) or is_placeholder(tail) or entropy_bits(tail) < 2.5:
        return False
    letters, digits = re.search(r"[A-Za-z]", tail), re.search(r"\d", tail)
    return bool(letters and digits) or bool(re.search(r"[a-z]", tail) and re.search(r"[A-Z]", tail)
                                            and wordiness(tail) < 3.4 and entropy_bits(tail) >= 3.0)


def _map_joined(col: _Collector, hits: list[Hit], parts: list[tuple[int, int, int, int]],
                texts: list[str] | None = None) -> None:
    """Map the hits of a joined text that run across messages back to each message they touch;
    ``parts`` is (message, offset in the joined text, offset in the message, length). Only shapes
    count here (priority 3 and up): a credential rule reading one message's end and the next one's
    start as "name = value" would see secrets in ordinary turns."""
    for start, end, kind, prio, enc in hits:
        pieces = [(i, max(start, j0) - j0 + m0, min(end, j0 + ln) - j0 + m0)
                  for i, j0, m0, ln in parts if start < j0 + ln and j0 < end]
        pieces = [p for p in pieces if p[2] > p[1]]
        if texts is not None and any("\n" not in texts[i][s:e] and _is_word(texts[i][s:e]) for i, s, e in pieces):
            continue  # a token's start read together with the next turn's first word
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


def _fragments(text: str) -> list[tuple[int, int, int]]:
    """(start, end, prefix length) of tokens that start like a provider key, with a few characters
    after the prefix (a bare prefix named in prose is not the start of a secret; a prefix cut at a
    junction is left to the direct join of the two messages)."""
    out = []
    for m in TOKEN_PREFIX.finditer(text):
        tok = m.group(0).rstrip(".")
        if len(tok) - len(m.group("prefix")) >= 4 and not is_placeholder(tok):
            out.append((m.start(), m.start() + len(tok), len(m.group("prefix"))))
    return out


_TAIL_TOKEN = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*")
_PARTIAL_MARK = re.compile(r"\[REDACTED:" + _PARTIAL + r"([a-z0-9_]+)\]")


def _tails(text: str) -> list[tuple[int, int]]:
    """Spans of the words of ``text`` that may be the rest of a token (punctuation around them cut)."""
    out = []
    for m in _TAIL_TOKEN.finditer(text):
        if _tail_candidate(m.group(0)):
            out.append(m.span())
            if len(out) >= _MAX_TAILS:
                break
    return out


def _join_kind(head: str, prefix_len: int, tail: str, head_kind: str | None, complete: bool) -> str | None:
    """The kind of token that ``head`` + ``tail`` make, or None. A provider rule must read across
    the junction; a first half too short for its rule (``head_kind``) also joins a random-looking rest
    whose length a real token could have. A head that is a whole token by itself (many tokens have
    no fixed length) joins a rest that is not a hash (the sha of a commit named later is not its
    second half). An upper-case rest without digits joins only where a rule reads the whole token."""
    if complete and (HEX_RE.match(tail) or UUID_RE.match(tail)):
        return None
    if tail.isalpha() and tail.isupper() and not re.fullmatch(r"[A-Z0-9]+", head[prefix_len:]):
        return None  # capitals continue only a head in capitals (an AKIA id), never another token
    joined = head + tail
    for s, e, kind, _ in shape_spans(joined):
        if s < len(head) and e > len(head) + 1:
            return kind
    body = joined[prefix_len:]
    if (head_kind and not complete and len(body) >= 16 and entropy_bits(body) >= 3.3
            and wordiness(head[prefix_len:]) < 3.0 and _tail_ok(tail)):
        return head_kind
    return None


def _scan_split(col: _Collector, texts: list[str], messages: Sequence[Any]) -> None:
    for a, b in _pairs(messages):
        ta, tb = texts[a], texts[b]
        ra, lb = ta.rstrip(), tb.lstrip()
        a0, b0 = max(0, len(ra) - _WINDOW), len(tb) - len(lb)
        for sep in ("", "\n") if b != a + 1 else ("",):
            joined = ra[a0:] + sep + lb[:_WINDOW]
            cut = len(ra) - a0
            hits = [h for h in text_hits(joined) if h[0] < cut and h[1] > cut + len(sep)]
            _map_joined(col, hits, [(a, 0, a0, cut), (b, cut + len(sep), b0, min(_WINDOW, len(lb)))], texts)
    tails = [_tails(t) if len(texts) > 1 else [] for t in texts]
    for a, ta in enumerate(texts):
        for fs, fe, plen in _fragments(ta):
            head = ta[fs:fe]
            complete = any(s == 0 and e >= len(head) for s, e, *_ in shape_spans(head + " "))
            head_kind = None if complete else prefix_kind(head)
            # A rest is the first piece of a turn that completes the head: an incomplete head looks in
            # its neighbours and its author's other turns; a whole token only in its author's next turn.
            partners = [b for b in range(len(texts)) if b != a and (abs(b - a) == 1 or messages[b].role ==
                                                                    messages[a].role)] if not complete else \
                [b for b in range(a + 1, len(texts)) if messages[b].role == messages[a].role][:1]
            for b in partners:
                for ts, te in tails[b]:
                    kind = _join_kind(head, plen, texts[b][ts:te], head_kind, complete)
                    if kind:
                        col.add(a, fs, fe, kind, 5, "", True)
                        col.add(b, ts, te, kind, 5, "", True)
                        break
        for m in _PARTIAL_MARK.finditer(ta):  # a first half already redacted: its rest in a later turn
            for b in range(a + 1, len(texts)):
                if messages[b].role == messages[a].role:
                    rest = next(((ts, te) for ts, te in tails[b] if _tail_ok(texts[b][ts:te], 8)), None)
                    if rest is not None:
                        col.add(b, *rest, m.group(1), 5, "", True)


def _partials(col: _Collector, i: int, text: str) -> None:
    """The first half of a provider token with no rest in the request: still half a secret."""
    for fs, fe, plen in _fragments(text):
        body = text[fs + plen:fe]
        if (text[fs:fs + 3] == "eyJ" or len(body) < 8 or not _tail_ok(body) or wordiness(body) >= 3.0
                or col.has(i, fs, fe)):  # "sk-test-1234" in a test is a name, not half a key
            continue
        kind = prefix_kind(text[fs:fe])
        if kind:
            col.add(i, fs, fe, _PARTIAL + kind, 3, "", False)


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
        _map_joined(col, text_hits("\n".join(texts)), parts, texts)
        _scan_split(col, texts, messages)
    for i, t in enumerate(texts):
        _partials(col, i, t)
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


def redact_in_context(messages: Sequence[Any], context: Sequence[Any]) -> list[Any]:
    """``messages`` redacted as they read when sent after ``context`` (the earlier turns of the same
    request): the rest of a token whose first half is in ``context`` is redacted too, which
    redacting ``messages`` alone would miss. Returns copies of ``messages`` (same length and order);
    ``context`` is only read. Use it to store a new question exactly as the request sent it."""
    out, _ = redact_messages([*context, *messages])
    return out[len(context):]
