"""Small text tests the privacy rules share: entropy, placeholders, random-looking values.

Pure functions over ``str``; no state. A *placeholder* is a value that leaks nothing when sent
(``<your-key>``, ``${TOKEN}``, ``sk-...``, ``xxxx``, ``YOUR_API_KEY``, documented example keys).
"""

from __future__ import annotations

import math
import re

PLACEHOLDER_WORDS = frozenset({
    "changeme", "change_me", "change-me", "changeit", "password", "passwd", "secret", "token",
    "apikey", "api_key", "none", "null", "nil", "true", "false", "undefined", "example", "sample",
    "dummy", "placeholder", "redacted", "todo", "tbd", "fixme", "test", "string", "str", "required",
    "optional", "n/a", "na", "empty", "default", "hidden", "masked", "your-key", "yourkey", "pass", "pwd",
    "pw", "replace_me", "replaceme", "notset", "unset",
})
_PLACEHOLDER_RE = re.compile(
    r"""^(?:<[^<>]*>|\[[^\[\]]*\]|\$\{[^}]*\}|\$\(?[A-Za-z_]\w*\)?|\$env:\w+|%\w+%|\{\{.*\}\}|%\(?\w*\)?[sd]
    |\{[\w.]*\}|(.)\1*|\.\.\.+|ENC\[.*\]|(?:op|vault|env|secret|ssm|awssm|gcpsm)://.*|env:.*)$""",
    re.X | re.S,
)
_PLACEHOLDER_PARTS = re.compile(
    r"xxxx|XXXX|\*\*\*|\.\.\.|…|your[_\- ]|_here\b|-here\b|placeholder|redacted|changeme|replace[_\-]?me"
    r"|<[a-z_\- ]+>|\$\{|\{\{|not[_\-]a[_\-]real|fake[_\-]?(?:key|token|secret)|insert[_\-]", re.I)
# Words that mark a documentation value, unless the rest of the value is itself a long random string
# ("wJalr.../bPxRfiCYzEXAMPLEKEYq" is a key with a word inside; "sk_live_EXAMPLE123" is an example).
_MARKER_WORDS = re.compile(r"example|dummy", re.I)
_MARKER_FILLER = re.compile(r"key|token|secret|id|[_\-.]", re.I)
_ALPHABET_RUN = re.compile(r"abcdef|bcdefg|cdefgh|defghi|ghijkl|mnopqr|stuvwx|uvwxyz|012345|123456|345678|456789"
                           r"|a1b2c3|1a2b3c")
_WORD_PIECE = re.compile(r"[A-Z]{2,}(?![a-z])|[A-Z]?[a-z]+|[A-Z]|\d+")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9+/=_\-.~:]+$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_FILE_EXT_RE = re.compile(r"\.(?:txt|json|ya?ml|pem|key|env|ini|cfg|conf|toml|crt|p12|pfx|gpg|asc|pub)$", re.I)

# Values published in vendors' documentation as examples: look-alikes, not secrets.
DOCUMENTED_EXAMPLES = frozenset({
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_test_BQokikJOvBiI2HlWgH4olfQ2", "rk_test_4eC39HqLyjWDarjtT1zdp7dc", "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    "KMUFsIDTnFmyG3nMiGM6H9FNFUROf3wh7SmqJp-QV30", "AKIAI44QH8DHBEXAMPLE",
    "xoxb-not-a-real-token-this-will-not-work", "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
})


def entropy_bits(s: str) -> float:
    """Shannon entropy of ``s`` in bits per character (0.0 for an empty string)."""
    if not s:
        return 0.0
    counts: dict[str, int] = {}
    for ch in s:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


_PIECES = re.compile(r"[^.\s:=,;\"'`]+")


def is_documented_example(value: str) -> bool:
    """True for a key that vendors print in their documentation (e.g. ``AKIAIOSFODNN7EXAMPLE``): the
    value, or one of its dot/colon-separated pieces (a JWT's signature), is exactly such a key. A
    longer value that merely contains one (``...EXAMPLEKEYq7``) is not an example."""
    v = value.strip().strip("\"'`")
    return v in DOCUMENTED_EXAMPLES or any(p in DOCUMENTED_EXAMPLES for p in _PIECES.findall(v))


def _marked_example(v: str) -> bool:
    """True when ``v`` holds a word such as EXAMPLE and, without it, is too short or too plain to be a key."""
    if not _MARKER_WORDS.search(v):
        return False
    rest = _MARKER_FILLER.sub("", _MARKER_WORDS.sub("", v))
    return (len(rest) < 20 or entropy_bits(rest) < 3.8 or wordiness(rest) >= 3.0
            or bool(_ALPHABET_RUN.search(rest.lower())))


def is_placeholder(value: str) -> bool:
    """True when ``value`` stands for a secret without being one (``<your-key>``, ``${X}``, ``sk-...``)."""
    v = value.strip().strip("\"'`")
    if not v:
        return True
    if v.lower() in PLACEHOLDER_WORDS or _PLACEHOLDER_RE.match(v):
        return True
    return bool(_PLACEHOLDER_PARTS.search(v)) or is_documented_example(v) or _marked_example(v)


def wordiness(value: str) -> float:
    """Mean length of the word-like pieces of ``value`` (camelCase, snake_case, digits): about 1.9
    for random base62 strings (99th percentile 2.8), 4 or more for identifiers made of words."""
    pieces = _WORD_PIECE.findall(value)
    return sum(len(p) for p in pieces) / max(1, len(pieces))


def looks_random(value: str, min_len: int = 16, min_entropy: float = 3.3) -> bool:
    """A token-like value: at least ``min_len`` characters, letters and digits mixed, entropy of at
    least ``min_entropy`` bits per character, and not made of words."""
    if len(value) < min_len or is_placeholder(value) or not _TOKEN_RE.match(value):
        return False
    if not HEX_RE.match(value) and wordiness(value) >= 3.4:
        return False
    if not (re.search(r"[A-Za-z]", value) and re.search(r"\d", value)):
        return False
    if _ALPHABET_RUN.search(value.lower()):  # "abcdefgh...0123456789" is a character set, not a key
        return False
    return entropy_bits(value) >= min_entropy


def looks_like_path(v: str) -> bool:
    """A file path or a path-like reference (``./key.pem``, ``~/.ssh/id_rsa``, ``a/b/c``)."""
    if v.startswith(("/", "./", "../", "~/", "file:", "C:\\", "\\\\")) or _FILE_EXT_RE.search(v):
        return True
    return bool("/" in v and re.fullmatch(r"[a-z0-9_.\-]+(?:/[a-z0-9_.\-]+)+/?", v))
