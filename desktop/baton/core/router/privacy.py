"""The privacy gate: find secrets in text before it leaves the machine.

``scan(text)`` returns one ``Finding`` per secret (kind, line, column span, a masked preview);
``redact(text)`` replaces each secret with ``[REDACTED:kind]``. Pure functions, no state.

Three families of rules, most specific first:
1. Provider shapes (prefix + body): private key blocks, AWS, GitHub, GitLab, Slack, Stripe, OpenAI,
   Anthropic, Google, JWT, Twilio, SendGrid, npm, PyPI, Azure, Heroku, Discord, Telegram, Mailgun,
   DigitalOcean, Hugging Face, Shopify, Vault, age, Databricks, ...
2. Credentials inside URLs and connection strings (``postgres://user:pass@host``, basic auth).
3. Assignments to secret-ish names in env/ini/yaml/json/code style (``password=``, ``"api_key":``,
   ``token := "..."``), random-looking values inside ``.env`` blocks, and high-entropy values
   assigned to weaker names (``session_key``, ``hmac_salt``).

Placeholders are deliberately NOT flagged, because sending them leaks nothing: ``<your-key>``,
``${VAR}``, ``$VAR``, ``{{ var }}``, ``%(x)s``, ``xxxx``/``****`` (one repeated character), values
containing ``xxxx`` or ``your_``/``your-``, ``changeme``, ``example``, ``dummy``, ``redacted``,
the bare words ``password``/``secret``/``token``, empty values, and references that are code rather
than literals (``os.environ["X"]``, ``process.env.X``, ``config.password``, a plain variable name).
Known misses, by choice: a passphrase of plain words with spaces, a letters-only value that reads as
words (``"NextToken"``, ``password: hunter``), and values that look like templates (``%s``, ``{}``).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

_PLACEHOLDER_WORDS = frozenset({
    "changeme", "change_me", "change-me", "changeit", "password", "passwd", "secret", "token",
    "apikey", "api_key", "none", "null", "nil", "true", "false", "undefined", "example", "sample",
    "dummy", "placeholder", "redacted", "todo", "tbd", "fixme", "test", "string", "str", "required",
    "optional", "n/a", "na", "empty", "default", "hidden", "masked", "your-key", "yourkey", "pass", "pwd",
    "pw",
})
_PLACEHOLDER_RE = re.compile(
    r"""^(?:<[^<>]*>|\[[^\[\]]*\]|\$\{[^}]*\}|\$\(?[A-Za-z_]\w*\)?|\{\{.*\}\}|%\(?\w*\)?[sd]
    |\{[\w.]*\}|(.)\1*|\.\.\.+|ENC\[.*\]|(?:op|vault|env|secret|ssm|awssm|gcpsm)://.*|env:.*)$""",
    re.X | re.S,
)
_PLACEHOLDER_PARTS = re.compile(r"xxxx|\*\*\*|your[_\- ]|_here\b|-here\b|example|placeholder|redacted|changeme|dummy",
                                re.I)
_ALPHABET_RUN = re.compile(r"abcdef|bcdefg|cdefgh|defghi|ghijkl|mnopqr|stuvwx|uvwxyz|012345|123456|345678|456789")
_WORD_PIECE = re.compile(r"[A-Z]{2,}(?![a-z])|[A-Z]?[a-z]+|[A-Z]|\d+")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9+/=_\-.~:]+$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_IDENT_RE = re.compile(r"^[A-Za-z_]\w*$")
_DOTTED_RE = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$")
_WORDS_RE = re.compile(r"^[a-z]+(?:[-_][a-z]+)*$")
_CONST_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_PROSE_RE = re.compile(r"[A-Za-z]{2,}[^ ]* +[^ ]*[A-Za-z]{2,}[^ ]* +[^ ]*[A-Za-z]{2,}|^[A-Za-z][A-Za-z',.!?:;()\-]*"
                       r"(?: +[A-Za-z0-9',.!?:;()\-]+)+$")  # three words, or words with spaces only
_TEMPLATE_RE = re.compile(r"%[-+ 0#]*\d*(?:\.\d+)?[sdifrx]|\{\}|^#[0-9a-fA-F]{3,8}$")
_FILE_EXT_RE = re.compile(r"\.(?:txt|json|ya?ml|pem|key|env|ini|cfg|conf|toml|crt|p12|pfx|gpg|asc|pub)$", re.I)


@dataclass(frozen=True)
class Finding:
    """One secret: where it is (1-based line and columns, end exclusive) and a masked preview."""

    kind: str
    line: int
    col_start: int
    col_end: int
    preview: str
    start: int  # offset of the secret in the scanned text
    end: int
    end_line: int = 0

    @property
    def span(self) -> tuple[int, int]:
        return (self.col_start, self.col_end)

    def describe(self) -> str:
        where = f"line {self.line}, col {self.col_start}-{self.col_end}"
        if self.end_line and self.end_line != self.line:
            where = f"lines {self.line}-{self.end_line}"
        return f"{self.kind} at {where} ({self.preview})"

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "line": self.line, "col_start": self.col_start, "col_end": self.col_end,
                "end_line": self.end_line or self.line, "preview": self.preview}


# ---- helpers ----------------------------------------------------------------------------------

def entropy_bits(s: str) -> float:
    """Shannon entropy per character of ``s``."""
    if not s:
        return 0.0
    counts: dict[str, int] = {}
    for ch in s:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def is_placeholder(value: str) -> bool:
    v = value.strip().strip("\"'`")
    if not v:
        return True
    if v.lower() in _PLACEHOLDER_WORDS or _PLACEHOLDER_RE.match(v):
        return True
    return bool(_PLACEHOLDER_PARTS.search(v))


def wordiness(value: str) -> float:
    """Mean length of the word-like pieces of ``value`` (camelCase, snake_case, digits): about 1.9
    for random base62 strings (99th percentile 2.8), 4 or more for identifiers made of words."""
    pieces = _WORD_PIECE.findall(value)
    return sum(len(p) for p in pieces) / max(1, len(pieces))


def looks_random(value: str, min_len: int = 16, min_entropy: float = 3.3) -> bool:
    """A token-like value: long, letters and digits mixed, high per-character entropy, not words."""
    if len(value) < min_len or is_placeholder(value) or not _TOKEN_RE.match(value):
        return False
    if not _HEX_RE.match(value) and wordiness(value) >= 3.4:
        return False
    if not (re.search(r"[A-Za-z]", value) and re.search(r"\d", value)):
        return False
    if _ALPHABET_RUN.search(value.lower()):  # "abcdefgh...0123456789" is a character set, not a key
        return False
    return entropy_bits(value) >= min_entropy


def _looks_like_path(v: str) -> bool:
    if v.startswith(("/", "./", "../", "~/", "file:", "C:\\", "\\\\")) or _FILE_EXT_RE.search(v):
        return True
    if "/" in v and re.fullmatch(r"[a-z0-9_.\-]+(?:/[a-z0-9_.\-]+)+/?", v):
        return True
    return False


def _mask(value: str, prefix_len: int) -> str:
    v = value.strip()
    if v.startswith("-----BEGIN"):
        return v.splitlines()[0][:60].replace("\\n", "")
    if len(v) < 8:
        return "****"
    if len(v) < 16:
        return f"{v[:2]}...{v[-2:]}"
    return f"{v[:max(2, min(prefix_len, 12))]}...{v[-4:]}"


# ---- provider shapes ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    prefix_len: int = 3  # characters of public prefix shown in the preview
    group: int = 0
    priority: int = 3
    check: Callable[[str], bool] | None = None
    bounded: bool = False  # the match must not continue a longer token on its left


def _body_random(prefix: int, min_len: int = 12, min_entropy: float = 3.0) -> Callable[[str], bool]:
    def check(v: str) -> bool:
        body = v[prefix:]
        return not is_placeholder(body) and len(body) >= min_len and entropy_bits(body) >= min_entropy

    return check


def _r(kind: str, pattern: str, prefix_len: int = 3, group: int = 0, priority: int = 3,
       check: Callable[[str], bool] | None = None, flags: int = 0) -> _Rule:
    # A left boundary is checked in Python (see scan): a pattern that starts with a literal lets
    # the regex engine jump between occurrences of the prefix instead of trying every position.
    bounded = pattern.startswith(_B)
    return _Rule(kind, re.compile(pattern[len(_B):] if bounded else pattern, flags), prefix_len, group, priority,
                 check, bounded)


_B = "<B>"  # marks a rule whose match must start at a token boundary ('-' and '_' count as token chars)
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_E = r"(?![A-Za-z0-9_\-])"
_RULES: tuple[_Rule, ...] = (
    _r("private_key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:\r?\n|\\r?\\n)"
       r"[A-Za-z0-9+/=\s:,.\-\\]{40,}?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)", priority=5),
    _r("putty_private_key", r"PuTTY-User-Key-File-\d: [^\n]+\n(?:[^\n]*\n){0,40}?Private-Lines: \d+\n(?:[A-Za-z0-9+/=]+\n?)+",
       priority=5),
    _r("age_secret_key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}", 15),
    _r("aws_access_key_id", _B + r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}" + _E, 4,
       check=_body_random(4, 16, 2.5)),
    _r("aws_secret_access_key", r"(?i:aws_?secret(?:_?access)?_?key|secret_?access_?key)[\"']?\s*(?:=|:|=>)\s*[\"']?"
       r"([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])", 2, group=1, priority=4),
    _r("github_token", _B + r"gh[pousr]_[A-Za-z0-9]{36,255}" + _E, 4, check=_body_random(4)),
    _r("github_token", _B + r"github_pat_[A-Za-z0-9_]{22,255}" + _E, 11, check=_body_random(11)),
    _r("gitlab_token", _B + r"gl(?:pat|dt|rt|ptt|ft|imt|agent|oas|cbt|soat)-[A-Za-z0-9_\-]{20,}" + _E, 6,
       check=_body_random(6)),
    _r("slack_token", _B + r"xox[abposrce]-(?:\d+-)?[A-Za-z0-9\-]{10,}" + _E, 5, check=_body_random(5, 10, 2.5)),
    _r("slack_webhook", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]{20,}", 30),
    _r("stripe_key", _B + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}" + _E, 8, check=_body_random(8)),
    _r("stripe_webhook_secret", _B + r"whsec_[A-Za-z0-9+/=]{24,}" + _E, 6, check=_body_random(6)),
    _r("anthropic_key", _B + r"sk-ant-(?:api|admin|sid)\d{2}-[A-Za-z0-9_\-]{40,}" + _E, 7, priority=4,
       check=_body_random(14)),
    _r("openai_key", _B + r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}" + _E, 3,
       check=lambda v: bool(re.search(r"[A-Za-z0-9]{16}", v)) and _body_random(3, 20, 3.5)(v)),
    _r("google_api_key", _B + r"AIza[0-9A-Za-z_\-]{35}" + _E, 4, check=_body_random(4)),
    _r("google_oauth_secret", _B + r"GOCSPX-[A-Za-z0-9_\-]{28}" + _E, 7, check=_body_random(7)),
    _r("google_oauth_token", _B + r"ya29\.[0-9A-Za-z_\-]{30,}" + _E, 5, check=_body_random(5)),
    _r("jwt", _B + r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}" + _E, 3),
    _r("twilio_key", r"\b(?:SK|AC)[0-9a-f]{32}\b", 2, check=_body_random(2, 32, 3.0)),
    _r("sendgrid_key", _B + r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}" + _E, 3),
    _r("npm_token", _B + r"npm_[A-Za-z0-9]{36}" + _E, 4, check=_body_random(4)),
    _r("pypi_token", _B + r"pypi-AgE[A-Za-z0-9_\-]{50,}" + _E, 8),
    _r("azure_connection_string", r"(?i:AccountKey|SharedAccessKey|SharedAccessSignature)=([A-Za-z0-9+/%=&:\-]{30,})",
       2, group=1, priority=4),
    _r("azure_client_secret", _B + r"[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}" + _E, 2, check=_body_random(5)),
    _r("azure_sas_signature", r"[?&]sig=([A-Za-z0-9%+/=]{30,})", 2, group=1),
    _r("heroku_api_key", _B + r"HRKU-[A-Za-z0-9_\-]{20,}" + _E, 5, check=_body_random(5)),
    _r("heroku_api_key", r"(?i:heroku)[A-Za-z0-9_]*[\"']?\s*[:=]\s*[\"']?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
       r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b", 2, group=1, priority=4),
    _r("discord_bot_token", _B + r"[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,40}" + _E, 3,
       check=_body_random(0, 40, 3.5)),
    _r("discord_webhook", r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]{40,}", 30),
    _r("telegram_bot_token", r"\b\d{8,10}:AA[A-Za-z0-9_\-]{33}" + _E, 4),
    _r("mailgun_key", _B + r"key-[0-9a-f]{32}" + _E, 4, check=_body_random(4, 32, 3.0)),
    _r("mailgun_key", r"\b[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8}\b", 2, check=_body_random(0, 48, 3.0)),
    _r("digitalocean_token", _B + r"do[opr]_v1_[a-f0-9]{64}" + _E, 7),
    _r("huggingface_token", _B + r"hf_[A-Za-z0-9]{34,40}" + _E, 3, check=_body_random(3)),
    _r("shopify_token", _B + r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}" + _E, 6),
    _r("databricks_token", _B + r"dapi[a-f0-9]{32}(?:-\d)?" + _E, 4, check=_body_random(4)),
    _r("vault_token", _B + r"hv[sbr]\.[A-Za-z0-9_\-]{24,}" + _E, 4, check=_body_random(4)),
    _r("groq_key", _B + r"gsk_[A-Za-z0-9]{48,}" + _E, 4, check=_body_random(4)),
    _r("replicate_token", _B + r"r8_[A-Za-z0-9]{37}" + _E, 3, check=_body_random(3)),
    _r("linear_key", _B + r"lin_api_[A-Za-z0-9]{40}" + _E, 8, check=_body_random(8)),
    _r("postman_key", _B + r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}" + _E, 5),
    _r("atlassian_token", _B + r"ATATT3[A-Za-z0-9_\-=]{50,}" + _E, 6, check=_body_random(6)),
    _r("square_token", _B + r"sq0(?:atp|csp)-[A-Za-z0-9_\-]{22,43}" + _E, 7, check=_body_random(7)),
    _r("newrelic_key", _B + r"NRAK-[A-Z0-9]{27}" + _E, 5),
    _r("bearer_token", r"(?i:\bbearer)[ \t]+([A-Za-z0-9\-._~+/]{20,}=*)", 3, group=1, priority=2,
       check=lambda v: looks_random(v, 20, 3.0)),
    _r("basic_auth_header", r"(?i:authorization:[ \t]*basic)[ \t]+([A-Za-z0-9+/]{8,}={0,2})", 3, group=1, priority=2,
       check=lambda v: not is_placeholder(v)),
    # user:password@host inside a URL: the password part only.
    _r("url_password", r"\b([a-zA-Z][a-zA-Z0-9+.\-]{1,20})://[^\s:/@'\"<>]*:([^\s@/'\"<>]{1,200})@[^\s/'\"<>@]+",
       2, group=2, priority=4),
)
_DB_SCHEMES = frozenset({"postgres", "postgresql", "mysql", "mariadb", "mongodb", "mongodb+srv", "redis", "rediss",
                         "amqp", "amqps", "mssql", "sqlserver", "oracle", "cockroachdb", "clickhouse", "jdbc",
                         "postgresql+psycopg2", "postgresql+asyncpg", "mysql+pymysql", "snowflake", "neo4j"})

# ---- assignments ------------------------------------------------------------------------------

_STRONG_LAST = frozenset({"password", "passwd", "pwd", "pass", "passphrase", "passcode", "secret", "token",
                          "apikey", "credential", "credentials", "pw", "secretkey", "accesskey",
                          "privatekey", "authtoken", "accesstoken", "clientsecret"})
_STRONG_PAIRS = frozenset({("api", "key"), ("secret", "key"), ("access", "key"), ("private", "key"),
                           ("signing", "key"), ("encryption", "key"), ("master", "key"), ("account", "key"),
                           ("app", "key"), ("auth", "key"), ("key", "base"), ("session", "key"),
                           ("license", "key"), ("client", "secret"), ("connection", "string"),
                           ("conn", "string"), ("webhook", "secret")})
_WEAK_WORDS = frozenset({"key", "auth", "sig", "signature", "salt", "cookie", "session", "hmac", "webhook",
                         "cred", "creds", "seed", "pepper", "jwt", "bearer", "sas", "nonce", "otp", "totp"})
_NOT_SECRET_LAST = frozenset({"id", "name", "type", "file", "path", "url", "uri", "hash", "digest", "len",
                              "length", "count", "size", "env", "var", "field", "label", "header", "prefix",
                              "format", "algorithm", "alg", "expiry", "expires", "ttl", "version", "mode"})
_SECRETISH = re.compile(r"pass|pwd|secret|token|key|auth|cred|salt|sig|session|cookie|hmac|seed|pepper|jwt"
                        r"|bearer|nonce|otp|sas|pw\b|dsn|conn")  # searched in lower-cased text
_ASSIGN = re.compile(
    r"""(?P<q>["']?)(?P<key>[A-Za-z_][A-Za-z0-9_.\-]{0,80})(?P=q)
        (?:[ \t]*:[ \t]*[A-Za-z_][\w\[\]., |]*?(?=[ \t]*=[^=>]))?      # a type annotation
        (?P<op>[ \t]*(?::=|=>|=(?![=>~]))[ \t]*|:(?=[ \t"'`])[ \t]*)
        (?P<val>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`\n]*`|(?:[^\s,;'"`#&)}\]<>]|(?<=\S)\#)+)""",
    re.X,
)
_XML = re.compile(r"<([A-Za-z_][\w\-]*)>([^<>\s]{4,200})</\1>")
_FLAG = re.compile(r"(?<![\w-])--(?P<key>password|passwd|token|api-key|apikey|secret|client-secret|auth-token)"
                   r"[ \t]+(?P<val>[^\s\-$][^\s]*)")
_ENV_LINE = re.compile(r"^(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _key_words(key: str) -> list[str]:
    key = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key.split(".")[-1])
    return [w for w in re.split(r"[_\-]+", key.lower()) if w]


def _strength(key: str) -> str:
    """'strong' when the name says password/secret/token/api key, 'weak' for key/salt/session..."""
    words = _key_words(key)
    if not words or "public" in words or "pub" in words or words[-1] in _NOT_SECRET_LAST:
        return ""
    if words[-1] in _STRONG_LAST or (len(words) >= 2 and (words[-2], words[-1]) in _STRONG_PAIRS):
        return "strong"
    if any(w in _WEAK_WORDS for w in words):
        return "weak"
    return ""


def _literal_secret(raw: str, env_style: bool) -> str | None:
    """The secret text of an assigned value, or None when it is a placeholder or a reference."""
    quoted = raw[:1] in "\"'`"
    v = raw[1:-1] if quoted and len(raw) >= 2 and raw[-1] == raw[0] else raw
    if is_placeholder(v) or len(v) < 4 or _looks_like_path(v):
        return None
    if quoted:
        if v.isalpha() and wordiness(v) >= 3:  # "NextToken", "challengePassword": words, not a secret
            return None
        if ("{" in v and "}" in v or _PROSE_RE.search(v) or _TEMPLATE_RE.search(v) or _CONST_RE.match(v)
                or (_WORDS_RE.match(v) and re.search(r"[-_]", v))):
            return None
        return v
    if v[0] in "$%@{(" or "(" in v or "[" in v or _DOTTED_RE.match(v) or _WORDS_RE.match(v):
        return None
    if env_style:
        return v
    if v.isdigit():
        return None
    if _IDENT_RE.match(v):  # a bare name reads as a variable unless it mixes letters and digits
        return v if len(v) >= 6 and re.search(r"\d", v) and re.search(r"[A-Za-z]", v) and "_" not in v else None
    return v


def _secretish_lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line that mentions a secret-ish word: the only lines worth parsing."""
    spans: list[tuple[int, int]] = []
    lowered = text.lower()
    pos = 0
    while (m := _SECRETISH.search(lowered, pos)) is not None:
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        end = len(text) if end < 0 else end
        spans.append((start, end))
        pos = end + 1
    return spans


def _assignment_candidates(text: str) -> list[tuple[int, int, str, int, int]]:
    out: list[tuple[int, int, str, int, int]] = []
    matches = [m for a, b in _secretish_lines(text) for m in _ASSIGN.finditer(text, a, b)]
    for m in matches:
        key, raw = m.group("key"), m.group("val")
        strength = _strength(key)
        if not strength:
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        env_style = (m.group("op") == "=" and bool(_ENV_LINE.match(text[line_start:m.end()]))
                     and key.upper() == key)
        if raw[:1] in "\"'`" and text[m.end():m.end() + 3].lstrip()[:1] in (".", "[", "%", "+"):
            continue  # "...".join(x), "%s" % x: an expression on a string literal, not a value
        secret = _literal_secret(raw, env_style)
        if secret is None:
            continue
        if strength == "weak" and not (looks_random(secret, 16, 3.5) and " " not in secret and not _HEX_RE.match(secret)
                                       and not _UUID_RE.match(secret)):
            continue
        start = m.start("val") + (1 if raw[:1] in "\"'`" else 0)
        kind = ("password_assignment" if _key_words(key)[-1].startswith("pass") or _key_words(key)[-1] in
                ("pwd", "pw") else "secret_assignment") if strength == "strong" else "high_entropy_secret"
        out.append((start, start + len(secret), kind, 2, 2))
    for m in _XML.finditer(text):
        if _strength(m.group(1)) == "strong" and _literal_secret(m.group(2), False):
            out.append((m.start(2), m.end(2), "secret_assignment", 2, 2))
    for m in _FLAG.finditer(text):
        secret = _literal_secret(m.group("val"), True)
        if secret:
            start = m.start("val") + (1 if m.group("val")[:1] in "\"'" else 0)
            out.append((start, start + len(secret), "secret_flag", 2, 2))
    return out


def _env_block_candidates(text: str) -> list[tuple[int, int, str, int, int]]:
    """Random-looking values in runs of 3+ ``KEY=value`` lines (a pasted .env file), whatever the names."""
    out: list[tuple[int, int, str, int, int]] = []
    run: list[tuple[int, re.Match[str]]] = []
    offset = 0

    def flush() -> None:
        if len(run) >= 3:
            for line_off, m in run:
                raw = m.group(2).strip()
                v = raw[1:-1] if raw[:1] in "\"'" and raw[-1:] == raw[:1] and len(raw) >= 2 else raw
                if (looks_random(v, 16, 3.5) and not _HEX_RE.match(v) and not _UUID_RE.match(v)
                        and " " not in v and not v.endswith(",") and "://" not in v and not _looks_like_path(v)):
                    start = line_off + m.start(2) + m.group(2).index(v)
                    out.append((start, start + len(v), "env_secret", 2, 1))
        run.clear()

    for line in text.split("\n"):
        m = _ENV_LINE.match(line)
        if m:
            run.append((offset, m))
        elif line.strip() and not line.lstrip().startswith("#"):
            flush()
        offset += len(line) + 1
    flush()
    return out


# ---- public API ---------------------------------------------------------------------------------

def scan(text: str) -> list[Finding]:
    """Every secret in ``text``, in order of position."""
    cands: list[tuple[int, int, str, int, int]] = []  # start, end, kind, prefix_len, priority
    for rule in _RULES:
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
                kind = "database_url_password" if m.group(1).lower() in _DB_SCHEMES else "basic_auth_url"
            elif rule.priority < 5 and is_placeholder(value):
                continue
            cands.append((m.start(rule.group), m.end(rule.group), kind, rule.prefix_len, rule.priority))
    cands += _assignment_candidates(text)
    cands += _env_block_candidates(text)

    chosen: list[tuple[int, int, str, int, int]] = []
    for c in sorted(cands, key=lambda c: (-c[4], -(c[1] - c[0]), c[0])):
        if all(c[1] <= o[0] or c[0] >= o[1] for o in chosen):
            chosen.append(c)
    chosen.sort()

    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    findings = []
    for start, end, kind, prefix_len, _ in chosen:
        li = bisect.bisect_right(line_starts, start) - 1
        le = bisect.bisect_right(line_starts, max(start, end - 1)) - 1
        line_end = line_starts[li + 1] - 1 if li + 1 < len(line_starts) else len(text)
        col_end = (end if le == li else line_end) - line_starts[li] + 1
        findings.append(Finding(kind, li + 1, start - line_starts[li] + 1, col_end,
                                _mask(text[start:end], prefix_len), start, end, le + 1))
    return findings


def redact(text: str) -> tuple[str, list[Finding]]:
    """``text`` with every secret replaced by ``[REDACTED:kind]``, and the findings."""
    findings = scan(text)
    out = text
    for f in sorted(findings, key=lambda f: f.start, reverse=True):
        out = out[:f.start] + f"[REDACTED:{f.kind}]" + out[f.end:]
    return out, findings


def summary(findings: list[Finding], limit: int = 5) -> str:
    """One line naming what was found and where, for error messages and receipts."""
    parts = [f.describe() for f in findings[:limit]]
    more = f" and {len(findings) - limit} more" if len(findings) > limit else ""
    return "; ".join(parts) + more
