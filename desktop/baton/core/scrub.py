"""Remove secrets from text before it is shown, logged or stored.

``scrub(text, secrets)`` replaces:

- every known secret value (an API key, a token), and the forms it takes on its way through HTTP
  libraries and servers: URL-encoded (``quote`` and ``quote_plus``), base64 (standard and URL-safe,
  with or without padding), JSON- and Python-escaped (``"\\n"`` for a line break), and, for a secret
  that holds a control character, each long enough piece between them;
- the value of every ``Authorization`` / ``Proxy-Authorization`` header (``Bearer ...``, ``Basic ...``,
  any scheme), every ``api-key`` / ``x-api-key`` (and similar) header, a bare ``Bearer <token>``,
  ``?api_key=`` / ``?key=`` / ``?access_token=`` URL parameters, and the password in ``scheme://user:pass@``,
  whether written as a header line, JSON (``"Authorization": "Bearer ..."``) or a Python dict repr;

- any run of ``FRAGMENT_CHARS`` or more characters copied from a known secret of ``MIN_FRAGMENT_SOURCE`` or
  more characters ("key ending 789abcdefXYZ"), and any base64 blob whose decoded bytes hold a secret or such a
  fragment (a server echoing ``base64("Bearer <key>")``);

with ``[redacted]``. Secrets shorter than ``MIN_SECRET_CHARS`` are not replaced as values (they would
mangle ordinary words); their header forms still are. Pure function, no state.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 4
_PIECE_MIN_CHARS = 8  # a piece of a secret split at a control character is scrubbed from this length
FRAGMENT_CHARS = 10  # a copied run of a secret this long is scrubbed (a key's last 12 characters, say)
MIN_FRAGMENT_SOURCE = 16  # only secrets at least this long are searched for fragments
_B64_BLOB = re.compile(r"[A-Za-z0-9+/_\-]{16,}={0,2}")

# Header names whose value is a credential (case-insensitive), as a line, JSON or a dict repr.
_HEADER_NAMES = (r"(?:proxy-)?authorization|x-api-key|api[-_]?key|x-goog-api-key|openai-api-key|"
                 r"x-auth-token|x-access-token|cookie|set-cookie")
_HEADER = re.compile(
    r"(?P<name>[\"']?\b(?:" + _HEADER_NAMES + r")[\"']?\s*[:=]\s*)"
    r"(?P<quote>[\"']?)"
    r"(?P<value>(?:(?:bearer|basic|token|digest|negotiate|apikey)\s+)?)"
    r"(?!\[redacted\])(?!(?:bearer|basic|token|digest|negotiate|apikey)\s)(?P<secret>[^\s\"',;}\]\)]+)",
    re.IGNORECASE | re.MULTILINE)
_BEARER = re.compile(r"\b(?P<scheme>bearer)\s+(?!\[redacted\])(?P<secret>[A-Za-z0-9\-._~+/=:%]{4,})", re.IGNORECASE)
_URL_PARAM = re.compile(r"(?P<name>[?&;](?:api[-_]?key|key|access[-_]?token|token|auth|sig|signature)=)"
                        r"(?P<secret>[^&\s\"'#<>]+)", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.\-]*://)(?P<user>[^/\s:@\"']*):(?P<secret>[^/\s@\"']+)@",
                           re.IGNORECASE)


def has_control_chars(value: str) -> bool:
    """True when ``value`` holds a C0 or C1 control character (line break, CR, tab, NUL, ...), DEL, or a
    Unicode line/paragraph separator or invisible format character (zero-width space, BOM...)."""
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value)


def secret_forms(secret: str) -> list[str]:
    """The spellings of ``secret`` worth looking for in an error text, longest first (no duplicates)."""
    if not secret or len(secret) < MIN_SECRET_CHARS:
        return []
    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret, safe="/:+=")}
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms.add(json.dumps(secret)[1:-1])
    forms.add(repr(secret)[1:-1])
    forms.add(secret.encode("unicode_escape").decode("ascii"))
    raw = secret.encode("utf-8", "surrogatepass")
    for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = enc.decode("ascii")
        forms.update((text, text.rstrip("=")))
    if has_control_chars(secret) or any(c.isspace() for c in secret):
        forms.update(p for p in re.split(r"[\x00-\x20\x7f-\x9f\u2028\u2029]+", secret) if len(p) >= _PIECE_MIN_CHARS)
    forms.add(secret.strip())
    return sorted((f for f in forms if len(f) >= MIN_SECRET_CHARS), key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret (in its encoded forms) and every credential header value
    replaced by ``[redacted]``. ``secrets`` may hold ``None`` or empty strings (ignored)."""
    if not text:
        return text
    forms: list[str] = []
    for s in secrets:
        if s:
            forms.extend(secret_forms(s))
    if forms:
        unique = sorted(set(forms), key=len, reverse=True)
        text = re.sub("|".join(re.escape(f) for f in unique), REDACTED, text)
    long_secrets = [str(x) for x in secrets if x and len(str(x)) >= MIN_FRAGMENT_SOURCE]
    if long_secrets:
        text = _scrub_fragments(text, long_secrets)
        text = _B64_BLOB.sub(lambda m: REDACTED if _decodes_to_secret(m.group(0), long_secrets) else m.group(0),
                             text)
    text = _HEADER.sub(_header_repl, text)
    text = _BEARER.sub(lambda m: f"{m['scheme']} {REDACTED}", text)
    text = _URL_PARAM.sub(lambda m: f"{m['name']}{REDACTED}", text)
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    return text


def _header_repl(m: re.Match[str]) -> str:
    return f"{m['name']}{m['quote']}{m['value']}{REDACTED}"


def _fragment_windows(secret: str) -> set[str]:
    return {secret[i:i + FRAGMENT_CHARS] for i in range(len(secret) - FRAGMENT_CHARS + 1)}


def _scrub_fragments(text: str, secrets: list[str]) -> str:
    """Replace every maximal run of text that is a run of one secret and at least FRAGMENT_CHARS long."""
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        windows = _fragment_windows(secret)
        i = 0
        while i <= len(text) - FRAGMENT_CHARS:
            piece = text[i:i + FRAGMENT_CHARS]
            if piece in windows:
                start = secret.find(piece)
                end = i + FRAGMENT_CHARS
                # extend while the text keeps following the secret
                j = start + FRAGMENT_CHARS
                while end < len(text) and j < len(secret) and text[end] == secret[j]:
                    end, j = end + 1, j + 1
                spans.append((i, end))
                i = end
            else:
                i += 1
    if not spans:
        return text
    out, last = [], 0
    for a, b in sorted(spans):
        if a < last:
            a = last
        if a >= b:
            continue
        out.append(text[last:a])
        out.append(REDACTED)
        last = b
    out.append(text[last:])
    return "".join(out)


def _decodes_to_secret(blob: str, secrets: list[str]) -> bool:
    """True when ``blob`` is base64 (standard or URL-safe) of bytes that hold a secret or a fragment of one."""
    core = blob.rstrip("=")
    for offset in range(4):  # a blob cut out of a longer one may start mid-group
        piece = core[offset:]
        piece = piece[: len(piece) - len(piece) % 4] if len(piece) % 4 == 1 else piece
        padded = piece + "=" * (-len(piece) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decode(padded)
            except ValueError:
                continue
            text = raw.decode("utf-8", "ignore")
            if any(s in text or any(w in text for w in _fragment_windows(s)) for s in secrets):
                return True
    return False
