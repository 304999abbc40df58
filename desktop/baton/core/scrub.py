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
    text = _HEADER.sub(_header_repl, text)
    text = _BEARER.sub(lambda m: f"{m['scheme']} {REDACTED}", text)
    text = _URL_PARAM.sub(lambda m: f"{m['name']}{REDACTED}", text)
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    return text


def _header_repl(m: re.Match[str]) -> str:
    return f"{m['name']}{m['quote']}{m['value']}{REDACTED}"
