"""Provider token shapes and private-key armour: the rules that recognise a secret by its form.

``shape_spans(text)`` returns ``Span`` tuples ``(start, end, kind, priority)`` (character offsets,
end exclusive); higher priority wins where spans overlap. Pure functions, no state.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from baton.core.privacy.text import HEX_RE, entropy_bits, is_documented_example, is_placeholder, looks_random

Span = tuple[int, int, str, int]  # start, end (exclusive), kind, priority


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    group: int = 0
    priority: int = 3
    check: Callable[[str], bool] | None = None
    bounded: bool = False  # the match must not continue a longer token on its left


def _body_random(prefix: int, min_len: int = 12, min_entropy: float = 3.0) -> Callable[[str], bool]:
    def check(v: str) -> bool:
        body = v[prefix:]
        return not is_placeholder(v) and len(body) >= min_len and entropy_bits(body) >= min_entropy

    return check


_B = "<B>"  # marks a rule whose match must start at a token boundary ('-' and '_' count as token chars)
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_E = r"(?![A-Za-z0-9_\-])"


def _r(kind: str, pattern: str, group: int = 0, priority: int = 3, check: Callable[[str], bool] | None = None,
       flags: int = 0) -> _Rule:
    # The left boundary is checked in Python: a pattern that starts with a literal lets the regex
    # engine jump between occurrences of the prefix instead of trying every position.
    bounded = pattern.startswith(_B)
    return _Rule(kind, re.compile(pattern[len(_B):] if bounded else pattern, flags), group, priority, check, bounded)


RULES: tuple[_Rule, ...] = (
    _r("putty_private_key", r"PuTTY-User-Key-File-\d: [^\n]+\n(?:[^\n]*\n){0,40}?Private-Lines: \d+\n"
       r"(?:[A-Za-z0-9+/=]+\n?)+", priority=5),
    _r("age_secret_key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    _r("aws_access_key", _B + r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}" + _E,
       check=_body_random(4, 16, 2.5)),
    # The secret key named as such: `=`, `:`, `=>`, JSON, or a space (`aws configure set NAME VALUE`).
    # `aws configure` asks "AWS Secret Access Key [None]: "; consoles show "Secret access key: ".
    _r("aws_secret_access_key", r"(?i:aws[ _]?secret(?:[ _]?access)?[ _]?key|secret[ _]?access[ _]?key)[\"']?"
       r"(?:[ \t]*\[[^\]\n]{0,40}\])?(?:[ \t]*(?:=|:|=>)[ \t]*|[ \t]+)[\"']?([A-Za-z0-9/+=]{30,64})(?![A-Za-z0-9/+=])",
       group=1, priority=4, check=_body_random(0, 30, 3.5)),
    _r("github_token", _B + r"gh[pousr]_[A-Za-z0-9]{30,255}" + _E, check=_body_random(4)),
    _r("github_token", _B + r"github_pat_[A-Za-z0-9_]{22,255}" + _E, check=_body_random(11)),
    _r("gitlab_token", _B + r"gl(?:pat|dt|rt|ptt|ft|imt|agent|oas|cbt|soat)-[A-Za-z0-9_\-]{20,}" + _E,
       check=_body_random(6)),
    _r("slack_token", _B + r"xox[abposrce]-(?:\d+-)?[A-Za-z0-9\-]{10,}" + _E, check=_body_random(5, 10, 2.5)),
    _r("slack_token", _B + r"xapp-\d-[A-Z0-9]+-\d+-[a-f0-9]{32,}" + _E),
    _r("slack_webhook", r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]{20,}"),
    _r("teams_webhook", r"https?://[\w.\-]*(?:webhook\.office\.com|outlook\.office\.com)/webhook(?:b2)?/"
       r"[A-Za-z0-9@\-]{20,}(?:/IncomingWebhook/[A-Za-z0-9/\-]{20,})?"),
    _r("stripe_key", _B + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}" + _E, check=_body_random(8)),
    _r("stripe_webhook_secret", _B + r"whsec_[A-Za-z0-9+/=]{24,}" + _E, check=_body_random(6)),
    _r("anthropic_key", _B + r"sk-ant-(?:api|admin|sid|oat)\d{2}-[A-Za-z0-9_\-]{40,}" + _E, priority=4,
       check=_body_random(14)),
    _r("openai_key", _B + r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}" + _E,
       check=lambda v: bool(re.search(r"[A-Za-z0-9]{16}", v)) and _body_random(3, 20, 3.5)(v)),
    _r("square_token", _B + r"EAAA[A-Za-z0-9_\-]{50,70}" + _E, check=_body_random(4, 50, 4.0)),
    _r("google_api_key", _B + r"AIza[0-9A-Za-z_\-]{30,40}" + _E, check=_body_random(4)),
    _r("google_oauth_secret", _B + r"GOCSPX-[A-Za-z0-9_\-]{24,40}" + _E, check=_body_random(7)),
    _r("google_oauth_token", _B + r"ya29\.[0-9A-Za-z_\-]{30,}" + _E, check=_body_random(5)),
    _r("google_refresh_token", _B + r"1//0[0-9A-Za-z_\-]{40,}" + _E, check=_body_random(4)),
    _r("jwt", _B + r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}" + _E, check=_body_random(0)),
    _r("twilio_key", r"\b(?:SK|AC)[0-9a-f]{32}\b", check=_body_random(2, 32, 3.0)),
    _r("sendgrid_key", _B + r"SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{30,64}" + _E, check=_body_random(3, 40, 3.5)),
    _r("npm_token", _B + r"npm_[A-Za-z0-9]{30,40}" + _E, check=_body_random(4)),
    _r("pypi_token", _B + r"pypi-AgE[A-Za-z0-9_\-]{50,}" + _E),
    _r("azure_connection_string", r"(?i:AccountKey|SharedAccessKey|SharedAccessSignature)=([A-Za-z0-9+/%=&:\-]{30,})",
       group=1, priority=4),
    _r("azure_client_secret", _B + r"[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}" + _E, check=_body_random(5)),
    _r("azure_sas_signature", r"[?&]sig=([A-Za-z0-9%+/=]{30,})", group=1),
    _r("heroku_api_key", _B + r"HRKU-[A-Za-z0-9_\-]{20,}" + _E, check=_body_random(5)),
    _r("heroku_api_key", r"(?i:heroku)[A-Za-z0-9_]*[\"']?\s*[:=]\s*[\"']?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
       r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b", group=1, priority=4),
    _r("discord_bot_token", _B + r"[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,40}" + _E,
       check=_body_random(0, 40, 3.5)),
    _r("discord_webhook", r"https?://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]{40,}"),
    _r("telegram_bot_token", r"(?:(?<=/bot)|(?<![A-Za-z0-9_\-]))\d{5,16}:A[A-Za-z0-9_\-]{30,40}" + _E,
       check=_body_random(0, 30, 3.5)),
    _r("mailgun_key", _B + r"key-[0-9a-f]{32}" + _E, check=_body_random(4, 32, 3.0)),
    _r("mailgun_key", r"\b[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8}\b", check=_body_random(0, 48, 3.0)),
    _r("digitalocean_token", _B + r"do[opr]_v1_[a-f0-9]{64}" + _E),
    _r("huggingface_token", _B + r"(?:hf_|api_org_)[A-Za-z0-9]{28,48}" + _E, check=_body_random(3)),
    _r("shopify_token", _B + r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}" + _E),
    _r("databricks_token", _B + r"dapi[a-f0-9]{32}(?:-\d)?" + _E, check=_body_random(4)),
    _r("vault_token", _B + r"hv[sbr]\.[A-Za-z0-9_\-]{24,}" + _E, check=_body_random(4)),
    _r("groq_key", _B + r"gsk_[A-Za-z0-9]{40,}" + _E, check=_body_random(4)),
    _r("replicate_token", _B + r"r8_[A-Za-z0-9]{30,45}" + _E, check=_body_random(3)),
    _r("linear_key", _B + r"lin_api_[A-Za-z0-9]{32,48}" + _E, check=_body_random(8)),
    _r("postman_key", _B + r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}" + _E),
    _r("atlassian_token", _B + r"ATATT3[A-Za-z0-9_\-=]{50,}" + _E, check=_body_random(6)),
    _r("square_token", _B + r"sq0(?:atp|csp)-[A-Za-z0-9_\-]{22,43}" + _E, check=_body_random(7)),
    _r("newrelic_key", _B + r"NRAK-[A-Z0-9]{22,32}" + _E),
    _r("bearer_token", r"(?i:\bbearer)[ \t]+([A-Za-z0-9\-._~+/]{20,}=*)", group=1, priority=2,
       check=lambda v: looks_random(v, 20, 3.0)),
    _r("basic_auth_header", r"(?i:authorization:[ \t]*basic)[ \t]+([A-Za-z0-9+/]{8,}={0,2})", group=1, priority=2),
    # user:password@host inside a URL: the password part only.
    _r("url_password", r"\b([a-zA-Z][a-zA-Z0-9+.\-]{1,20})://[^\s:/@'\"<>]*:([^\s@/'\"<>]{1,200})@[^\s/'\"<>@]+",
       group=2, priority=4),
)
_DB_SCHEMES = frozenset({"postgres", "postgresql", "mysql", "mariadb", "mongodb", "mongodb+srv", "redis", "rediss",
                         "amqp", "amqps", "mssql", "sqlserver", "oracle", "cockroachdb", "clickhouse", "jdbc",
                         "postgresql+psycopg2", "postgresql+asyncpg", "mysql+pymysql", "snowflake", "neo4j"})

# ---- private keys in any armour ------------------------------------------------------------------

_BEGIN = re.compile(r"-{3,5} ?BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)? ?-{3,5}")
_END = re.compile(r"-{3,5} ?END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)? ?-{3,5}")
_NEWLINE = re.compile(r"\r?\n|(?:\\)+r(?:\\)+n|(?:\\)+n")  # real or escaped (\n, \\n) line breaks
_B64_LINE = re.compile(r"^=?[A-Za-z0-9+/]+={0,2}$")
_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9\-]*: ?\S.*$")
_B64_WORD = re.compile(r"[A-Za-z0-9+/=]{16,}")
_MAX_ARMOUR = 40_000  # characters searched for a key's end


def _segments(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each line of text[start:end], lines broken by real or escaped newlines."""
    out, pos = [], start
    for m in _NEWLINE.finditer(text, start, end):
        out.append((pos, m.start()))
        pos = m.end()
    out.append((pos, end))
    return out


def _clean(line: str) -> str:
    return line.strip().strip("\"'`,;+()[] \t")


def _body_is_key(body: str) -> bool:
    words = _B64_WORD.findall(body)
    joined = "".join(words)
    return len(joined) >= 40 and entropy_bits(joined) >= 3.5 and not is_placeholder(joined)


def _armour_spans(text: str) -> list[Span]:
    spans: list[Span] = []
    covered_to = -1
    for b in _BEGIN.finditer(text):
        if b.start() < covered_to:
            continue
        nxt = _BEGIN.search(text, b.end(), b.end() + _MAX_ARMOUR)
        limit = nxt.start() if nxt else min(len(text), b.end() + _MAX_ARMOUR)
        e = _END.search(text, b.end(), limit)
        if e is not None:
            if _body_is_key(text[b.end():e.start()]):
                spans.append((b.start(), e.end(), "private_key", 5))
                covered_to = e.end()
            continue
        # No END line (a key cut short, or its end sent in a later message): the armour runs while
        # lines are base64, header lines (Proc-Type:, DEK-Info:, Comment:, Version:) or blank.
        last, seen = b.end(), []
        for s, t in _segments(text, b.end(), limit):
            line = _clean(text[s:t])
            if not line or (_HEADER_LINE.match(line) and not seen):
                continue
            words = line.split()
            if not all(_B64_LINE.match(w) for w in words):
                break
            seen += words
            last = t
        if _body_is_key("\n".join(seen)):
            spans.append((b.start(), last, "private_key", 5))
            covered_to = last
    for e in _END.finditer(text):  # the end of a key whose beginning is elsewhere
        if any(s <= e.start() < t for s, t, _, _ in spans):
            continue
        lo = max(0, e.start() - _MAX_ARMOUR)
        segs = _segments(text, lo, e.start())
        first, seen = e.start(), []
        for s, t in reversed(segs[1:] if lo else segs):
            line = _clean(text[s:t])
            if not line and not seen:
                continue
            words = line.split()
            if not words or not all(_B64_LINE.match(w) for w in words):
                break
            seen += words
            first = s + (len(text[s:t]) - len(text[s:t].lstrip()))
        if _body_is_key("\n".join(seen)):
            spans.append((first, e.end(), "private_key", 5))
    return spans


# ---- secrets recognised by what they decode to, or by what sits next to them ---------------------

_AWS_ID = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_AWS_SECRET_NEAR = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{36,48}(?![A-Za-z0-9/+=])")
_NEAR = 400  # characters either side of an AWS key id searched for its secret key


def _aws_pair_spans(text: str) -> list[Span]:
    """A secret key (40 characters, a few more or less) next to an AWS key id, whatever names them (CSV exports, ``aws
    configure`` answers, two values on one line): the secret half of the pair."""
    out: list[Span] = []
    for m in _AWS_ID.finditer(text):
        lo, hi = max(0, m.start() - _NEAR), min(len(text), m.end() + _NEAR)
        for s in _AWS_SECRET_NEAR.finditer(text, lo, hi):
            v = s.group(0)
            if (not HEX_RE.match(v) and re.search(r"[a-z]", v) and re.search(r"[A-Z]", v) and re.search(r"\d", v)
                    and entropy_bits(v) >= 4.0 and not is_placeholder(v)):
                out.append((s.start(), s.end(), "aws_secret_access_key", 3))
    return out


_JWT = re.compile(r"(?<![A-Za-z0-9_\-.])(e[wy][A-Za-z0-9_\-]{8,}={0,2})((?:\.[A-Za-z0-9_\-+/]*={0,2}){2,4})"
                  r"(?![A-Za-z0-9_\-+/=])")


def _b64url_json(seg: str) -> object | None:
    try:
        raw = base64.urlsafe_b64decode(seg.rstrip("=") + "=" * (-len(seg.rstrip("=")) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def _jwt_spans(text: str) -> list[Span]:
    """Signed JWTs (header.payload.signature) and encrypted ones (five parts) found by decoding: the
    header is a JSON object naming ``alg``; a token without a signature, or the documented jwt.io
    example, is not a secret."""
    out: list[Span] = []
    for m in _JWT.finditer(text):
        parts = [m.group(1), *m.group(2).split(".")[1:]]
        header = _b64url_json(parts[0])
        if not isinstance(header, dict) or "alg" not in header:
            continue
        last = parts[-1].rstrip("=")
        if len(parts) == 3:
            ok = (len(last) >= 16 and isinstance(_b64url_json(parts[1]), dict | list | str | int)
                  and entropy_bits(last) >= 3.5)
        else:
            ok = len(parts) == 5 and "enc" in header and len(parts[3]) >= 8
        if ok and not is_documented_example(m.group(0)):
            out.append((m.start(), m.end(), "jwt", 3))
    return out


def shape_spans(text: str) -> list[Span]:
    """Spans of every provider-shaped secret and private-key block in ``text``."""
    spans = _armour_spans(text) + _aws_pair_spans(text) + _jwt_spans(text)
    for rule in RULES:
        for m in rule.pattern.finditer(text):
            if rule.bounded and m.start() > 0 and text[m.start() - 1] in _TOKEN_CHARS:
                continue
            value = m.group(rule.group)
            if not value or (rule.check is not None and not rule.check(value)):
                continue
            kind = rule.kind
            if kind == "url_password":
                if is_placeholder(value) or value.startswith(("$", "%", "{")):
                    continue
                kind = "connection_string_password" if m.group(1).lower() in _DB_SCHEMES else "url_password"
            elif rule.priority < 5 and is_placeholder(value):
                continue
            spans.append((m.start(rule.group), m.end(rule.group), kind, rule.priority))
    return spans


# Prefixes of provider tokens: a token that starts with one but is too short to match its rule may
# be the first half of a secret whose rest is in another message.
TOKEN_PREFIX = re.compile(
    r"(?<![A-Za-z0-9_\-])(?P<prefix>sk-(?:proj-|ant-(?:api|admin)\d\d-|svcacct-|admin-)?|gh[pousr]_|github_pat_"
    r"|gl(?:pat|dt|rt|ptt|ft|imt|agent|oas|cbt|soat)-|xox[abposrce]-|xapp-|AKIA|ASIA|[sr]k_(?:live|test)_|whsec_|hf_"
    r"|api_org_|AIza|eyJ|npm_|pypi-AgE|SG\.|do[opr]_v1_|gsk_|r8_|shp(?:at|ss|ca|pa)_|hv[sbr]\.|ya29\.|GOCSPX-|dapi"
    r"|HRKU-|lin_api_|AGE-SECRET-KEY-1|EAAA|sq0(?:atp|csp)-|NRAK-|PMAK-|ATATT3|1//0)(?P<body>[A-Za-z0-9_\-.]*)")

# Bodies appended to a prefix to learn which rule it starts (base62, upper case and digits, hex).
_FILLERS = ("Q7xK2mP9vL4nR8tW3zY6bH1cJ5dF0gS4hN7kT2wX9qM3rV6pB8eU5aZ1yG0fD4sA7jC2uE9iO3lH6oI8",
            "Q7XK2MP9VL4NR8TW3ZY6BH1CJ5DF0GS4HN7KT2WX9QM3RV6PB8EU5AZ1YG0FD4SA7JC2UE9IO3LH6",
            "3f9a1c7e5b2d8f4a6c0e9b1d7f3a5c2e8b4d6f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e")


def prefix_kind(start: str) -> str | None:
    """The kind of provider token that ``start`` (a prefix and the first characters of a body) begins,
    found by completing it with random-looking bodies of several lengths; None when no rule fits."""
    tails = [f[:n] for f in _FILLERS for n in range(2, 82, 2)] + [_FILLERS[0][:n] + "." + _FILLERS[0][:43]
                                                                  for n in range(2, 34, 2)]
    for tail in tails:
        for s, e, kind, _ in shape_spans(start + tail):
            if s == 0 and e > len(start):
                return kind
    return None
