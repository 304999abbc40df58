"""The privacy gate against the inputs an outside probe sent through it, each kind in several shapes:
AWS secret keys (a word inside, beside their key id, unnamed), tokens split across the turns of a
thread with punctuation and words around the halves, URL-encoded credentials, JWTs, Google and
SendGrid keys, passwords named in other languages, passwords that end with punctuation; and the
redaction itself (only the secret is replaced, never the words around it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import string
from urllib.parse import quote

import pytest

from baton.core import privacy
from baton.core.privacy import redact_messages, scan_messages
from baton.core.types import ChatMessage

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
RNG = random.Random(1313)
SYSTEM = "You are a helpful assistant."


def _r(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def _msgs(*pairs: tuple[str, str]) -> list[ChatMessage]:
    return [ChatMessage(role, content) for role, content in pairs]


def _sent(messages: list[ChatMessage]) -> list[str]:
    out, findings = redact_messages(messages)
    assert findings, [m.content for m in messages]
    return [m.content for m in out]


def _assert_gone(messages: list[ChatMessage], *secrets: str) -> list[str]:
    """Refuse mode finds something; redact mode sends none of ``secrets`` (nor half of a long one)."""
    assert scan_messages(messages)
    sent = "\x00".join(_sent(messages))
    for s in secrets:
        for part in (s, s[:len(s) // 2], s[len(s) // 2:]) if len(s) >= 16 else (s,):
            assert part not in sent, part
    return sent.split("\x00")


def _one(text: str, *secrets: str) -> str:
    return _assert_gone(_msgs(("user", text)), *secrets)[0]


# ---- 1. AWS secret access keys ----------------------------------------------------------------------------

AKIA = "AKIA" + _r(16, string.ascii_uppercase + "234567")
WORDED = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEYq"  # the probe's value: a word inside a random string


@pytest.mark.parametrize("template", [
    "aws_secret_access_key = {s}", "export AWS_SECRET_ACCESS_KEY={s}", "AWS_SECRET_ACCESS_KEY: \"{s}\"",
    "aws configure set aws_secret_access_key {s} --profile prod", "$env:AWS_SECRET_ACCESS_KEY=\"{s}\"",
    "docker run -e AWS_SECRET_ACCESS_KEY={s} amazon/aws-cli s3 ls", "{{\"SecretAccessKey\": \"{s}\"}}",
    "terraform: secret_key = \"{s}\"", "User name,Access key ID,Secret access key\nci,{id},{s}",
    "the keys are {id} / {s}, which region?", "AWS Secret Access Key [None]: {s}\nDefault region name [None]: eu-west-1",
    "Secret access key: {s}",
])
@pytest.mark.parametrize("value", ["random", "worded", "example_inside"])
def test_aws_secret_access_keys_in_any_shape(template: str, value: str) -> None:
    secret = {"random": _r(40, B64), "worded": WORDED, "example_inside": _r(17, B64) + "EXAMPLE" + _r(16, B64)}[value]
    _one(template.format(s=secret, id=AKIA), secret)


def test_a_key_id_and_its_secret_on_one_line_are_both_redacted() -> None:
    sent = _one(f"aws_access_key_id={AKIA} aws_secret_access_key={WORDED}", AKIA, WORDED)
    assert sent.startswith("aws_access_key_id=[REDACTED:") and "aws_secret_access_key=[REDACTED:" in sent


@pytest.mark.parametrize("text", [
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nexport AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "Access key ID,Secret access key\nAKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "aws configure set aws_secret_access_key YOUR_SECRET_ACCESS_KEY", "the secret access key is shown once in the console",
    "AWS Secret Access Key [None]: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "key AKIAIOSFODNN7EXAMPLE uploaded s3://acme/3f786850e387550fdab836ed7e6dc881de23001b",
    "aws_secret_access_key%3DYOUR_SECRET_KEY",
])
def test_documented_aws_examples_are_look_alikes(text: str) -> None:
    assert scan_messages(_msgs(("user", text))) == []


# ---- 2. tokens split across the turns of a thread ----------------------------------------------------------

def test_the_probes_split_github_token_in_the_cli_and_serve_layouts() -> None:
    first, rest = "ghp_R4nd0mT0k3nV4lu", "3xYz9876543210AbCdEf"
    turns = [("user", f"my token starts {first}"), ("assistant", "OK, noted."), ("user", f"and ends {rest}, join them")]
    for layout in ([("system", SYSTEM), *turns], turns):
        sent = _assert_gone(_msgs(*layout), first, rest)
        assert sent[-1].startswith("and ends [REDACTED:github_token]") and sent[-1].endswith(", join them")
        assert sent[-3] == "my token starts [REDACTED:github_token]" and sent[-2] == "OK, noted."


TOKENS = {"ghp_": lambda: "ghp_" + _r(36), "glpat-": lambda: "glpat-" + _r(20, URLSAFE),
          "sk-proj-": lambda: "sk-proj-" + _r(60, URLSAFE), "sk_live_": lambda: "sk_live_" + _r(30),
          "AIza": lambda: "AIza" + _r(35, URLSAFE), "hf_": lambda: "hf_" + _r(34), "npm_": lambda: "npm_" + _r(36),
          "xoxb-": lambda: f"xoxb-{_r(11, string.digits)}-{_r(13, string.digits)}-{_r(24)}",
          "SG.": lambda: f"SG.{_r(22, URLSAFE)}.{_r(43, URLSAFE)}", "AKIA": lambda: "AKIA" + _r(16, string.ascii_uppercase + "234567")}
FORMS = [("my token starts {a}", "and ends {b}, join them"), ("`{a}`", "`{b}`."), ("({a}", "{b}) is the rest"),
         ("first: \"{a}\"", "second: \"{b}\"!"), ("{a}...", "...{b}"), ("**{a}**", "**{b}**, thanks")]


@pytest.mark.parametrize("form", range(len(FORMS)))
@pytest.mark.parametrize("prefix", sorted(TOKENS))
def test_split_tokens_whose_halves_carry_punctuation(prefix: str, form: int) -> None:
    tok = TOKENS[prefix]()
    cut = len(prefix) + 6 + RNG.randrange(max(1, len(tok) - len(prefix) - 12))
    a, b = tok[:cut], tok[cut:]
    fa, fb = FORMS[form]
    layout = RNG.choice([[("system", SYSTEM)], []])
    sent = _assert_gone(_msgs(*layout, ("user", fa.format(a=a)), ("assistant", "Got it."), ("user", fb.format(b=b))),
                        a[len(prefix):], b)
    assert sent[-2] == "Got it."


def test_a_split_thread_keeps_its_ordinary_words() -> None:
    tok = "sk_live_" + _r(32)
    thread = _msgs(("user", f"first part {tok[:20]}"), ("assistant", "The answer is 42."),
                   ("user", f"{tok[20:]} (continued)"))
    sent = _assert_gone(thread, tok[:20], tok[20:])
    assert sent == ["first part [REDACTED:stripe_key]", "The answer is 42.", "[REDACTED:stripe_key] (continued)"]
    sha = hashlib.sha1(b"x").hexdigest()  # a whole key, then a commit named later: the sha is not its rest
    sent = _sent(_msgs(("user", f"my key {tok}"), ("assistant", "answer"), ("user", f"commit {sha}, answer (continued)")))
    assert sent[1:] == ["answer", f"commit {sha}, answer (continued)"]
    # the rest is the first piece of a turn that completes the head; later ids in that turn stay
    sent = _sent(_msgs(("user", "starts ghp_R4nd0mT0k3nV4lu"), ("assistant", "ok"),
                       ("user", "and ends 3xYz9876543210AbCdEf; build Bx82kQ9zLm4 failed")))
    assert sent[2] == "and ends [REDACTED:github_token]; build Bx82kQ9zLm4 failed"


def test_a_first_half_alone_and_its_rest_after_redaction() -> None:
    (f,) = scan_messages(_msgs(("user", "my token starts ghp_R4nd0mT0k3nV4lu")))
    assert f.kind == "partial_github_token"
    # the next turn of a thread whose first half was sent redacted: the rest is found too
    thread = _msgs(("user", "my token starts [REDACTED:partial_github_token]"), ("assistant", "OK"),
                   ("user", "and ends 3xYz9876543210AbCdEf, join them"))
    assert _sent(thread)[2] == "and ends [REDACTED:github_token], join them"


@pytest.mark.parametrize("text", [
    "tests use sk-test-1234 and sk-env-5678 as keys", "GitHub tokens start with ghp_ and AWS ids with AKIA",
    "my token is ghp_xxxxxxxx", "AIzaSyD-unknown-key is rejected", "from huggingface_hub import hf_hub_download",
])
def test_names_and_prefixes_are_not_half_a_token(text: str) -> None:
    assert scan_messages(_msgs(("user", text), ("assistant", "The answer is 42."), ("user", "continued: why?"))) == []


# ---- 3. URL encoding, JWTs, Google and SendGrid keys ---------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda s: "aws_secret_access_key%3D" + quote(s, safe=""),
    lambda s: "config=" + quote(f"aws_secret_access_key = {s}", safe=""),
    lambda s: "POST /upload?file=" + quote(f"[default]\naws_secret_access_key={s}\n", safe=""),
])
def test_url_encoded_credentials_lines(make) -> None:  # type: ignore[no-untyped-def]
    for secret in (_r(40, B64), WORDED):
        _one(make(secret), quote(secret, safe=""))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jwt(header: str, payload: dict) -> str:
    h, p = _b64url(header.encode()), _b64url(json.dumps(payload).encode())
    return f"{h}.{p}.{_b64url(hmac.new(_r(32).encode(), f'{h}.{p}'.encode(), hashlib.sha256).digest())}"


@pytest.mark.parametrize("header", ['{"alg":"HS256","typ":"JWT"}', '{"typ": "JWT", "alg": "RS256", "kid": "k1"}',
                                    '{\n  "alg": "ES256"\n}', '{"alg":"HS256"}'])
@pytest.mark.parametrize("context", ["{t}", "Authorization: Bearer {t}", "access_token: {t}", "id_token={t}&state=1"])
def test_signed_jwts_in_any_header_layout(header: str, context: str) -> None:
    tok = _jwt(header, RNG.choice([{"sub": "1234567890", "name": "John Doe", "iat": 1516239022}, {"a": 1}]))
    _one(context.format(t=tok), tok)


def test_the_jwt_io_examples_and_token_parts_are_look_alikes() -> None:
    hp = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    hp2 = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiYWRtaW4iOnRydWUs"
           "ImlhdCI6MTUxNjIzOTAyMn0")
    for text in (f"{hp}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", f"Bearer {hp2}.KMUFsIDTnFmyG3nMiGM6H9FNFUROf3wh7SmqJp-QV30",
                 "a header like eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9 decodes to JSON", f"unsigned: {hp}."):
        assert scan_messages(_msgs(("user", text))) == [], text


@pytest.mark.parametrize("context", ["{k}", "key: {k}", "GOOGLE_API_KEY={k}", "use {k} for maps", '{{"apiKey":"{k}"}}',
                                     "https://maps.googleapis.com/maps/api/js?key={k}&callback=init"])
def test_google_api_keys(context: str) -> None:
    key = "AIzaSy" + _r(33, URLSAFE)
    _one(context.format(k=key), key)


@pytest.mark.parametrize("context", ["{k}", "SENDGRID_API_KEY={k}", "the key {k} returns 403",
                                     "sg = SendGridAPIClient('{k}')", "-H \"Authorization: Bearer {k}\""])
def test_sendgrid_keys(context: str) -> None:
    key = f"SG.{_r(22, URLSAFE)}.{_r(43, URLSAFE)}"
    _one(context.format(k=key), key)


# ---- 3. passwords named in other languages --------------------------------------------------------------------

@pytest.mark.parametrize("template", [
    "mot de passe: {pw}", "Mot de passe : {pw}", "mon mot de passe est {pw}, ça ne marche pas", "Passwort: {pw}",
    "mein Passwort ist {pw}", "Passwort für den Server lautet {pw}", "Kennwort = {pw}", "contraseña: {pw}",
    "mi contraseña es {pw}", "пароль: {pw}", "мой пароль — {pw}", "пароль от почты: {pw}", "a minha senha é {pw}",
    "la mia password è {pw}", "wachtwoord is {pw}", "hasło to {pw}", "heslo je {pw}", "lösenordet är {pw}",
    "şifrem {pw}", "我的密码是{pw}，请帮我", "パスワード：{pw}", "비밀번호는 {pw} 입니다", "كلمة المرور: {pw}",
    '{{"contraseña": "{pw}"}}',
])
def test_passwords_named_in_other_languages(template: str) -> None:
    pw = RNG.choice(["Tr0ub4dor-88x", f"Qx{_r(8)}!7", f"{_r(6)}#{_r(4, string.digits)}"])
    sent = _one(template.format(pw=pw), pw)
    assert "[REDACTED:password]" in sent


@pytest.mark.parametrize("text", [
    "Mot de passe oublié ? Cliquez sur le lien.", "Das Passwort muss mindestens 12 Zeichen lang sein.",
    "La contraseña es incorrecta.", "Пароль неверный, попробуйте ещё раз.", "密码错误，请重试。",
    "パスワードを忘れた場合はこちら", "la clave del éxito es la constancia", "senha: mínimo de 8 caracteres",
    "hasło musi mieć co najmniej 12 znaków", "Passwort vergessen? Kennwort ändern unter Einstellungen",
])
def test_the_word_password_in_other_languages_without_one(text: str) -> None:
    assert scan_messages(_msgs(("user", text))) == []


# ---- 4. redaction covers the whole password, and only it ------------------------------------------------------

def test_the_probes_curl_password_loses_no_last_character() -> None:
    assert _one("curl -u deploy:Hunter2-Xq9z! https://ci.acme.io", "Hunter2-Xq9z") == \
        "curl -u deploy:[REDACTED:password] https://ci.acme.io"


@pytest.mark.parametrize("end", ["!", "#", "%", ")", "!!", "?"])
@pytest.mark.parametrize("template", [
    "curl -u deploy:{pw} https://x.example.net", "curl -u 'deploy:{pw}' https://x.example.net",
    "wget --password={pw} ftp://files.example.net/x", "machine h login u password {pw}", "PGPASSWORD={pw} psql -h db",
    "mysql -uroot -p{pw} shop", "sshpass -p {pw} ssh ops@10.0.0.1", "my password is {pw} and it fails",
    "DB_PASSWORD={pw}", "redis-cli -a {pw} ping", "docker login -u ci -p {pw} registry.example.net",
])
def test_a_password_ending_in_punctuation_is_redacted_whole(template: str, end: str) -> None:
    pw = f"Hunter2-{_r(4)}{end}"
    sent = _one(template.format(pw=pw), pw)
    after = sent.split("[REDACTED:password]", 1)[1]
    assert not after.startswith(tuple(end)), sent  # no last character left behind


def test_the_probes_placeholder_is_sent_unchanged() -> None:
    for text in ("Set OPENAI_API_KEY=sk-... in your shell", "STRIPE_SECRET_KEY=sk_live_...  # from the dashboard"):
        assert privacy.scan(text) == [] and privacy.redact(text)[0] == text
