"""Credentials as people write them: assignments in code and config, ``.env`` blocks, command-line
flags (``curl -u user:pass``, ``mysql -pX``, ``--password X``), ``.netrc`` lines, prose ("my password
is X"), and secret query parameters in URLs (``?token=``, ``&api_key=``).

``credential_spans(text)`` returns ``Span`` tuples ``(start, end, kind, priority)`` covering only the
secret value. Placeholders and references (``${X}``, ``os.environ["X"]``, ``<your-token>``) are skipped.
"""

from __future__ import annotations

import re

from baton.core.privacy.shapes import Span
from baton.core.privacy.text import HEX_RE, UUID_RE, is_placeholder, looks_like_path, looks_random, wordiness

_IDENT_RE = re.compile(r"^[A-Za-z_]\w*$")
_DOTTED_RE = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$")
_WORDS_RE = re.compile(r"^[a-z]+(?:[-_][a-z]+)*$")
_CONST_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_PROSE_RE = re.compile(r"[A-Za-z]{2,}[^ ]* +[^ ]*[A-Za-z]{2,}[^ ]* +[^ ]*[A-Za-z]{2,}|^[A-Za-z][A-Za-z',.!?:;()\-]*"
                       r"(?: +[A-Za-z0-9',.!?:;()\-]+)+$")  # three words, or words with spaces only
_TEMPLATE_RE = re.compile(r"%[-+ 0#]*\d*(?:\.\d+)?[sdifrx]|\{\}|^#[0-9a-fA-F]{3,8}$")

_STRONG_LAST = frozenset({"password", "passwd", "pwd", "pass", "passphrase", "passcode", "secret", "token",
                          "apikey", "credential", "credentials", "pw", "secretkey", "accesskey",
                          "privatekey", "authtoken", "accesstoken", "clientsecret"})
_STRONG_SUFFIX = ("password", "passwd", "passphrase", "secret", "token", "apikey")
_STRONG_PAIRS = frozenset({("api", "key"), ("secret", "key"), ("access", "key"), ("private", "key"),
                           ("signing", "key"), ("encryption", "key"), ("master", "key"), ("account", "key"),
                           ("app", "key"), ("auth", "key"), ("key", "base"), ("session", "key"),
                           ("license", "key"), ("client", "secret"), ("connection", "string"),
                           ("conn", "string"), ("webhook", "secret")})
_WEAK_WORDS = frozenset({"key", "auth", "sig", "signature", "salt", "cookie", "session", "hmac", "webhook",
                         "cred", "creds", "seed", "pepper", "jwt", "bearer", "sas", "nonce", "otp", "totp"})
_NOT_SECRET_LAST = frozenset({"id", "name", "type", "file", "path", "url", "uri", "hash", "digest", "len",
                              "length", "count", "size", "env", "var", "field", "label", "header", "prefix",
                              "format", "algorithm", "alg", "expiry", "expires", "ttl", "version", "mode",
                              "tokens", "min", "max", "policy", "endpoint", "location", "store", "manager"})
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
_FLAG = re.compile(r"(?<![\w-])--(?P<key>(?:[a-z]+-)*(?:password|passwd|pass|token|api-key|apikey|secret|"
                   r"client-secret|auth-token|access-token|access-key|secret-key|private-token))"
                   r"(?:[ \t]+|=)(?P<val>[^\s\-$][^\s]*)")
_ENV_LINE = re.compile(r"^(?:export[ \t]+|set[ \t]+|\$env:)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=(.*)$")
_USERPASS = re.compile(r"(?<![\w-])(?:-u|--user|--proxy-user|-U)(?:[ \t]+|=|(?=['\"]))(?P<q>['\"]?)"
                       r"(?P<user>[^\s:'\"%]*)[:%](?P<val>[^\s'\"]+)(?P=q)")
_SHORT_P = re.compile(r"\b(?P<cmd>mysql|mysqldump|mysqladmin|mariadb|mariadb-dump|sshpass|redis-cli|docker login"
                      r"|podman login|helm registry login|htpasswd -b\S*|smbclient)\b[^\n|;&]*?(?<![\w-])"
                      r"(?P<flag>-p|-a|--pass)(?P<sp>[ \t]*)(?P<val>[^\s\-'\"][^\s'\"]*|'[^'\n]+'|\"[^\"\n]+\")")
_USER_THEN_PASS = re.compile(r"(?<![\w-])-[uU](?:[ \t]+|(?=[^\s-]))[^\s-]\S*(?:[ \t]+[^\n|;&]*?)??[ \t]+"
                             r"(?P<flag>-[pP]|--password)(?P<sp>[ \t=]*)(?P<val>[^\s\-][^\s]*)")
_PGPASS = re.compile(r"(?m)^[ \t]*[A-Za-z0-9_.\-*]+:(?:\d{1,5}|\*):[^:\s]+:[^:\s]+:(?P<val>[^:\s]{4,})[ \t]*$")
_PAIR = re.compile(r"""(?P<q>["'])(?P<key>[A-Za-z_][\w.\-]{0,60})(?P=q)[ \t]*,[ \t]*(?P<val>"[^"\n]*"|'[^'\n]*')""")
_PATH_TOKEN = re.compile(r"/(?:key|token|api[_-]?key|secret|access[_-]?token|auth)/(?P<val>[A-Za-z0-9_\-]{16,})(?![\w-])",
                         re.I)
_NETRC = re.compile(r"\b(?:machine[ \t]+\S+|default)\s+(?:login\s+\S+\s+)?(?:account\s+\S+\s+)?password\s+(\S+)"
                    r"|\blogin\s+\S+\s+password\s+(\S+)")
_PROSE = re.compile(
    r"(?i)\b(?P<what>pass(?:word|phrase|code)?|pwd|pin|api[ _\-]?key|(?:access |auth |api |bot |bearer )?token"
    r"|secret(?: key)?|access key|credentials?|login)\b(?:[ \t]+(?:for|of|to|on)[ \t]+[^\n,;:=]{1,40}?)?"
    r"[ \t]*(?:is|was|=|:|->|=>|will be|should be|is now|has been (?:changed|set|reset) to|(?:changed|set|reset) to"
    r"|reads|to|as|(?<!\w)(?:è|é|est|ist|es)(?!\w))[ \t]*:?[ \t]*[\"'`“‘]?(?P<val>[^\s\"'`”’]{4,200})"
    r"|(?i:\b(?:with|using|use|try|enter|type)[ \t]+(?:the[ \t]+|my[ \t]+|our[ \t]+)?(?:\w+[ \t]+)?)"
    r"(?P<what2>(?i:pass(?:word|phrase|code)?|pin|token|api[ _\-]?key|secret))[ \t]*:?[ \t]+[\"'`“‘]?"
    r"(?P<val2>[^\s\"'`”’]{4,200})")
# Passwords named in other languages: French, German, Spanish, Portuguese, Italian, Dutch, Polish,
# Czech, Hungarian, Swedish, Danish, Norwegian, Finnish, Turkish, Romanian, Russian, Ukrainian,
# Bulgarian, Serbian, Greek, Chinese, Japanese, Korean, Arabic, Hebrew, Vietnamese, Indonesian, Thai.
_PW_WORDS = (r"mot[ \t]+de[ \t]+passe|mdp|passw(?:ort|örter)|kennwort|contrase(?:ñ|n)a|clave(?:[ \t]+de[ \t]+acceso)?"
             r"|senha|palavra[ \-]passe|parola(?:[ \t]+d'ordine)?|wachtwoord|has(?:ł|l)o|heslo|jelsz(?:ó|o)(?:m|t)?"
             r"|l(?:ö|o)senord(?:et)?|adgangskode(?:n)?|passord(?:et)?|salasana(?:ni|si)?|(?:ş|s)ifre(?:m|si|niz)?"
             r"|parol(?:ă|a)|парол(?:ь|я|ем|ю)|парола(?:та)?|лозинк(?:а|у)|κωδικός|συνθηματικό|mật[ \t]+khẩu"
             r"|kata[ \t]+sandi")
_PW_WORDS_JOINED = r"密码|密碼|口令|パスワード|暗証番号|비밀번호|암호|كلمة[ \t]+(?:ال)?مرور|كلمة[ \t]+السر|סיסמה|סיסמא|รหัสผ่าน"
_PROSE_INTL = re.compile(
    rf"(?i)(?:(?<!\w)(?:{_PW_WORDS})(?!\w)|{_PW_WORDS_JOINED})[\"']?"
    r"(?:[ \t]+(?:de|du|des|für|fur|del|da|do|di|van|voor|dla|для|от|za)[ \t]+[^\n,;:=：]{0,40}?\w(?!\w))?"
    r"(?:[ \t]*(?:[:=：]|->|=>|(?<!\w)(?:est|ist|is|was|lautet|es|era|é|è|är|er|jest|je|to|on|это)(?!\w)"
    r"|—|–|是|为|為|は|는|은|이|가|היא|هي)[ \t]*[:：]?[ \t]*|[ \t]+)[\"'`“‘«„「]?(?=[^\s\"'`]*?(?:\d|[^\w\s]|_|(?-i:[a-z][A-Z])))"
    r"(?P<val>[^\s\"'`”’»“」，。、；：）]{4,200})")
_PROSE_STOP = frozenset({"the", "not", "a", "an", "in", "on", "set", "stored", "required", "incorrect", "wrong",
                         "invalid", "expired", "empty", "missing", "too", "correct", "valid", "saved", "same",
                         "used", "needed", "hidden", "shown", "sent", "here", "there", "below", "above", "now"})
_QUERY = re.compile(r"[?&;](?P<key>[A-Za-z_][\w.\-\[\]]{0,60})=(?P<val>[^&\s#\"'<>;]+)")
_QUERY_WEAK = frozenset({"key", "appid", "app_key", "sig", "signature", "x-amz-signature", "x-goog-signature", "auth", "code_verifier",
                         "apikey", "access_key", "x-amz-security-token", "sas", "hash"})


def _key_words(key: str) -> list[str]:
    key = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key.split(".")[-1])
    return [w for w in re.split(r"[_\-]+", key.lower()) if w]


def strength(key: str) -> str:
    """'strong' when a name says password/secret/token/api key, 'weak' for key/salt/session..., else ''."""
    words = _key_words(key)
    if not words or "public" in words or "pub" in words or words[-1] in _NOT_SECRET_LAST:
        return ""
    last = words[-1]
    if last in _STRONG_LAST or (len(words) >= 2 and (words[-2], last) in _STRONG_PAIRS):
        return "strong"
    if len(last) > 5 and last.endswith(_STRONG_SUFFIX):  # PGPASSWORD, MYSQL_ROOTPASSWORD, authtoken
        return "strong"
    if any(w in _WEAK_WORDS for w in words):
        return "weak"
    return ""


def literal_secret(raw: str, env_style: bool) -> str | None:
    """The secret text of an assigned value, or None when it is a placeholder or a reference."""
    quoted = raw[:1] in "\"'`"
    v = raw[1:-1] if quoted and len(raw) >= 2 and raw[-1] == raw[0] else raw
    if is_placeholder(v) or len(v) < 4 or looks_like_path(v):
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


def _kind(key: str) -> str:
    last = _key_words(key)[-1] if _key_words(key) else ""
    return "password" if last.startswith("pass") or last in ("pwd", "pw") or "password" in last else "secret"


def _secretish_lines(text: str) -> list[tuple[int, int]]:
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


def _weak_ok(secret: str) -> bool:
    return (looks_random(secret, 16, 3.5) and " " not in secret and not HEX_RE.match(secret)
            and not UUID_RE.match(secret))


_TRAILING = re.compile(r"[^\s'\"`,;&]*")


def _balanced(before: str) -> bool:
    """True when ``before`` (a line up to a name) leaves no bracket open: a value after it is not an
    argument inside a call, so a ``)`` right after it belongs to the value."""
    return all(before.count(o) <= before.count(c) for o, c in ("()", "[]", "{}"))


def _assignments(text: str, lines: list[tuple[int, int]]) -> list[Span]:
    out: list[Span] = []
    for a, b in lines:
        pos = a
        while (m := _ASSIGN.search(text, pos, b)) is not None:
            key, raw = m.group("key"), m.group("val")
            power = strength(key)
            # "terraform: secret_key = X": a value that is itself a name may start the next assignment
            pos = m.end() if power else m.end("key")
            if not power:
                continue
            line_start = text.rfind("\n", 0, m.start()) + 1
            env_style = (m.group("op").strip() == "=" and bool(_ENV_LINE.match(text[line_start:m.end()]))
                         and key.upper() == key)
            if raw[:1] in "\"'`" and text[m.end():m.end() + 3].lstrip()[:1] in (".", "[", "%", "+"):
                continue  # "...".join(x), "%s" % x: an expression on a string literal, not a value
            secret = literal_secret(raw, env_style)
            if secret is None or (power == "weak" and not _weak_ok(secret)):
                continue
            start = m.start("val") + (1 if raw[:1] in "\"'`" else 0)
            end = start + len(secret)
            if raw[:1] not in "\"'`" and (env_style or _balanced(text[line_start:m.start()])):
                end += len(_TRAILING.match(text, end).group(0))  # "Hunter2!)" ends at the space
            out.append((start, end, _kind(key) if power == "strong" else "high_entropy_secret", 2))
    return out


def _env_block(text: str) -> list[Span]:
    """Random-looking values in runs of 3+ ``KEY=value`` lines (a pasted .env file), whatever the names."""
    out: list[Span] = []
    run: list[tuple[int, re.Match[str]]] = []
    offset = 0

    def flush() -> None:
        if len(run) >= 3:
            for line_off, m in run:
                raw = m.group(2).strip()
                v = raw[1:-1] if raw[:1] in "\"'" and raw[-1:] == raw[:1] and len(raw) >= 2 else raw
                if (_weak_ok(v) and not v.endswith(",") and "://" not in v and not looks_like_path(v)):
                    start = line_off + m.start(2) + m.group(2).index(v)
                    out.append((start, start + len(v), "env_secret", 1))
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


_CLOSING = "\"'`”’»」"


def _value_span(m: re.Match[str], group: str | int, kind: str, env_style: bool = True, prio: int = 3) -> Span | None:
    """The span of a credential value: judged without the punctuation that may end a sentence, but
    redacted up to the next space or closing quote (a password may end with ``!``, ``#``, ``%``, ``)``)."""
    full = m.group(group)
    raw = full.rstrip(".,;:!?)")
    if raw[:1] in "\"'`" and raw[-1:] != raw[:1]:
        raw = raw[1:]
    secret = literal_secret(raw, env_style)
    if secret is None:
        return None
    at = full.index(secret)
    start, end = m.start(group) + at, m.start(group) + at + len(secret)
    if at == 0 or full[at - 1] not in _CLOSING:  # not quoted: the value runs to the end of the word
        end = m.start(group) + len(full.rstrip(_CLOSING))
    return (start, max(end, start + len(secret)), kind, prio)


def _prose_ok(v: str) -> bool:
    v = v.rstrip(".,;:!?)")
    if len(v) < 6 or v.lower() in _PROSE_STOP or is_placeholder(v) or "://" in v or looks_like_path(v):
        return False
    if v.isalpha() and (v.islower() or v.istitle() or wordiness(v) >= 3 or not v.isascii()):  # words
        return False
    return bool(re.search(r"\d", v) or re.search(r"[^A-Za-z0-9]", v) or re.search(r"[a-z][A-Z]", v))


def credential_spans(text: str) -> list[Span]:
    """Spans of credential values written in code, config, command lines, prose and URLs."""
    lines = _secretish_lines(text)
    out = _assignments(text, lines) + _env_block(text)
    for m in _XML.finditer(text):
        if strength(m.group(1)) == "strong" and literal_secret(m.group(2), False):
            out.append((m.start(2), m.end(2), _kind(m.group(1)), 2))
    for m in _FLAG.finditer(text):
        if (s := _value_span(m, "val", _kind(m.group("key").replace("-", "_")))) is not None:
            out.append(s)
    for m in _USERPASS.finditer(text):
        user, val = m.group("user"), m.group("val")
        if val.isdigit() and (not user or user.isdigit()):  # docker -u 1000:1000 is a uid:gid
            continue
        if (s := _value_span(m, "val", "password")) is not None:
            out.append(s)
    for m in _SHORT_P.finditer(text):
        if m.group("flag") == "-p" and m.group("sp") and m.group("cmd").startswith(("mysql", "mariadb")):
            continue  # `mysql -p dbname` prompts for the password; dbname is not one
        if (s := _value_span(m, "val", "password")) is not None:
            out.append(s)
    for m in _NETRC.finditer(text):
        g = "1" if m.group(1) else "2"
        if (s := _value_span(m, int(g), "password")) is not None:  # type: ignore[arg-type]
            out.append(s)
    for m in _PROSE.finditer(text):
        g = "val" if m.group("val") is not None else "val2"
        if _prose_ok(m.group(g)):
            what = (m.group("what") or m.group("what2")).lower()
            kind = "password" if what.startswith(("pass", "pwd", "pin", "login")) else "secret"
            if (s := _value_span(m, g, kind, prio=2)) is not None:
                out.append(s)
    for m in _PROSE_INTL.finditer(text):
        if _prose_ok(m.group("val")) and (s := _value_span(m, "val", "password", prio=2)) is not None:
            out.append(s)
    for m in _USER_THEN_PASS.finditer(text):
        val, line = m.group("val"), text[text.rfind("\n", 0, m.start()) + 1:m.start()]
        if val.isdigit() and len(val) <= 5:  # a port (ssh -p 2222), not a password
            continue
        if m.group("flag") == "-p" and m.group("sp") and re.search(r"\b(?:mysql|mariadb)", line):
            continue
        if (s := _value_span(m, "val", "password")) is not None:
            out.append(s)
    for m in _PGPASS.finditer(text):
        if (s := _value_span(m, "val", "password")) is not None:
            out.append(s)
    for m in _PAIR.finditer(text):
        if strength(m.group("key")) == "strong" and (s := _value_span(m, "val", _kind(m.group("key")), False, 2)):
            out.append(s)
    for m in _PATH_TOKEN.finditer(text):
        if looks_random(m.group("val"), 16, 3.0):
            out.append((m.start("val"), m.end("val"), "url_secret", 3))
    for m in _QUERY.finditer(text):
        key, val = m.group("key"), m.group("val")
        power = strength(key)
        if not power and key.lower() not in _QUERY_WEAK:
            continue
        if is_placeholder(val) or val.startswith(("$", "{", "%7B")):
            continue
        if power == "strong" and len(val) >= 8 and not val.isalpha() or looks_random(val.replace("%", ""), 16, 3.0):
            out.append((m.start("val"), m.end("val"), "url_secret", 3))
    return out
