"""Scan one text: shape and credential rules, then the decoded form of every encoded blob.

``text_hits(text)`` returns ``Hit`` tuples ``(start, end, kind, priority, encoding)`` with overlaps
resolved (higher priority, then longer, wins). A secret found inside a decoded blob (base64, hex,
URL encoding, string escapes such as ``\\n``) is reported on the whole blob, with ``encoding`` naming
the outermost encoding; otherwise ``encoding`` is ``""``. Pure functions, no state.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import unquote

from baton.core.privacy.creds import credential_spans
from baton.core.privacy.shapes import Span, shape_spans

Hit = tuple[int, int, str, int, str]  # start, end (exclusive), kind, priority, encoding

MAX_DEPTH = 3  # encodings nested inside each other that are still opened
_MAX_VIEWS = 400  # decoded blobs examined per text, to bound the work on huge inputs
_B64 = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{20,}={0,2}(?![A-Za-z0-9+/=_\-])")
_B64_BLOCK = re.compile(r"(?m)(?:^[ \t]*[A-Za-z0-9+/]{40,}={0,2}[ \t]*(?:\r?\n|$)){2,}")  # a wrapped blob
_HEX = re.compile(r"(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2}[ :]?){10,}(?![0-9A-Za-z])|(?:\\x[0-9A-Fa-f]{2}){8,}")
_PCT = re.compile(r"[^\s\"'<>]*(?:%[0-9A-Fa-f]{2}[^\s\"'<>%]*)+")
_QUOTED = re.compile(r"\"((?:[^\"\\\n]|\\.)*\\(?:[^\"\\\n]|\\.)*)\"")
_ESCAPED_RUN = re.compile(r"\S*\\[nrt]\S*")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "'": "'", "/": "/", "\\": "\\"}
_PKCS_ENCRYPTED_OID = bytes.fromhex("06092a864886f70d01050d")  # PBES2: an encrypted PKCS#8 key


def _printable(data: bytes) -> str | None:
    """``data`` as text when it reads as text (UTF-8, almost all printable), else None."""
    if len(data) < 8:
        return None
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    ok = sum(ch.isprintable() or ch in "\n\r\t" for ch in s)
    return s if ok >= 0.97 * len(s) and sum(ch.isalnum() for ch in s) >= 0.4 * len(s) else None


def _der_len(data: bytes, i: int) -> int | None:
    """Index just past a DER length field at ``data[i]``, or None."""
    if i >= len(data):
        return None
    first = data[i]
    if first < 0x80:
        return i + 1
    n = first & 0x7F
    return i + 1 + n if 0 < n <= 4 else None


def is_private_key_der(data: bytes) -> bool:
    """True for the bytes of a private key without its armour: DER PKCS#1/PKCS#8/SEC1/DSA
    (a SEQUENCE opening with INTEGER version 0 or 1), encrypted PKCS#8, or an OpenSSH key."""
    if data.startswith(b"openssh-key-v1\0"):
        return True
    if len(data) < 16 or data[0] != 0x30:
        return False
    i = _der_len(data, 1)
    if i is None or i + 3 > len(data):
        return False
    if data[i:i + 3] in (b"\x02\x01\x00", b"\x02\x01\x01") and i + 3 < len(data):
        return data[i + 3] in (0x02, 0x04, 0x30)
    return data[i] == 0x30 and _PKCS_ENCRYPTED_OID in data[i:i + 24]


def _unescape(s: str) -> str:
    try:
        return str(json.loads(f'"{s}"'))
    except ValueError:
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), s)


def _b64_bytes(blob: str) -> bytes | None:
    s = re.sub(r"\s+", "", blob).rstrip("=")
    if len(s) < 16 or len(s) % 4 == 1:
        return None
    alt = b"-_" if ("-" in s or "_" in s) else None
    if alt and ("+" in s or "/" in s):
        return None
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), altchars=alt, validate=True)
    except (binascii.Error, ValueError):
        return None


def _views(text: str, taken: list[Span]) -> list[tuple[int, int, str, str | None, bytes | None]]:
    """(start, end, encoding, decoded text or None, raw bytes or None) for each encoded blob."""
    out: list[tuple[int, int, str, str | None, bytes | None]] = []

    def inside(a: int, b: int) -> bool:
        return any(s <= a and b <= e and p >= 3 for s, e, _, p in taken)

    for m in [*_B64.finditer(text), *_B64_BLOCK.finditer(text)]:
        blob = m.group(0).rstrip()
        lead = len(blob) - len(blob.lstrip())
        if not inside(m.start() + lead, m.start() + len(blob)):
            raw = _b64_bytes(blob)
            if raw is not None:
                out.append((m.start() + lead, m.start() + len(blob), "base64", _printable(raw), raw))
    for m in _HEX.finditer(text):
        blob = m.group(0).rstrip(" :")
        digits = re.sub(r"\\x|[ :]", "", blob)
        if len(digits) % 2 == 0 and not inside(m.start(), m.start() + len(blob)):
            raw = bytes.fromhex(digits)
            out.append((m.start(), m.start() + len(blob), "hex", _printable(raw), raw))
    for m in _PCT.finditer(text):
        decoded = unquote(m.group(0))
        if decoded != m.group(0):
            out.append((m.start(), m.end(), "url", decoded, None))
    for m in _QUOTED.finditer(text):
        out.append((m.start(1), m.end(1), "escaped", _unescape(m.group(1)), None))
    for m in _ESCAPED_RUN.finditer(text):
        out.append((m.start(), m.end(), "escaped", _unescape(m.group(0)), None))
    return out[:_MAX_VIEWS]


def resolve(hits: list[Hit]) -> list[Hit]:
    """Non-overlapping hits, in order of position: higher priority, then the longer span, wins."""
    chosen: list[Hit] = []
    for h in sorted(hits, key=lambda h: (-h[3], -(h[1] - h[0]), h[0])):
        if all(h[1] <= o[0] or h[0] >= o[1] for o in chosen):
            chosen.append(h)
    return sorted(chosen)


def text_hits(text: str, depth: int = 0) -> list[Hit]:
    """Every secret in ``text`` (plain, or inside an encoded blob), overlaps resolved."""
    spans = shape_spans(text) + credential_spans(text)
    hits: list[Hit] = [(s, e, k, p, "") for s, e, k, p in spans]
    if depth < MAX_DEPTH:
        for start, end, encoding, decoded, raw in _views(text, spans):
            inner: list[Hit] = []
            if decoded is not None and decoded != text[start:end]:
                inner = text_hits(decoded, depth + 1)
            elif raw is not None and is_private_key_der(raw):
                inner = [(0, len(raw), "private_key", 5, "")]
            if inner:
                best = max(inner, key=lambda h: h[3])
                hits.append((start, end, best[2], best[3], encoding))
    return resolve(hits)
