"""Secret shapes from an outside probe of the gate, each kind in several shapes: AWS secret keys
written with a word inside or beside their key id, tokens split across turns whose halves carry
punctuation and words (the CLI thread and ``baton serve`` message layouts), URL-encoded credentials,
JWTs in any header layout, Google and SendGrid keys, passwords in other languages, and passwords
that end with punctuation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string
from urllib.parse import quote

from bench.privacy.corpus import ALNUM, B64, UPPER_NUM, URLSAFE, Case, Gen

SYSTEM = "You are a helpful assistant. Answer briefly."


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWTs write their parts."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def signed_jwt(g: Gen, header: dict | str, payload: dict, alg_bytes: int = 32) -> str:
    """A JWT with ``header`` (a dict, or the exact JSON text) and ``payload``, signed with a random key
    (HMAC-SHA256 for 32 bytes, random bytes of ``alg_bytes`` otherwise, as RS/ES signatures look)."""
    h = b64url((header if isinstance(header, str) else json.dumps(header)).encode())
    p = b64url(json.dumps(payload).encode())
    if alg_bytes == 32:
        sig = hmac.new(g.s(ALNUM, 32).encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
    else:
        sig = bytes(g.rng.randrange(256) for _ in range(alg_bytes))
    return f"{h}.{p}.{b64url(sig)}"


def probe_positives(g: Gen) -> list[Case]:
    out: list[Case] = []

    def add(kind: str, shape: str, text: str | list[tuple[str, str]], *needles: str) -> None:
        msgs = tuple([("user", text)] if isinstance(text, str) else text)
        for n in needles:
            assert any(n in c for _, c in msgs), (shape, n)
        out.append(Case(kind, shape, msgs, tuple(needles)))

    for _ in range(2):
        # --- AWS secret access keys: a word inside, no name, beside the key id ------------------------------
        akia = "AKIA" + g.s(UPPER_NUM, 16)
        worded = g.s(B64, 29) + "EXAMPLEKEY" + g.s(ALNUM, 3)
        add("cloud", "aws_secret_example_inside", f"aws_secret_access_key = {worded}", worded)
        sec = g.s(B64, 40)
        add("cloud", "aws_export_secret", f"export AWS_SECRET_ACCESS_KEY={sec}\nexport AWS_REGION=eu-west-1", sec)
        sec = g.s(B64, 20) + "EXAMPLE" + g.s(B64, 15)
        add("cloud", "aws_pair_one_line", f"aws_access_key_id={akia} aws_secret_access_key={sec}", akia, sec)
        sec = g.s(B64, 40)
        add("cloud", "aws_configure_set", f"aws configure set aws_secret_access_key {sec} --profile prod", sec)
        sec = g.s(B64, 40)
        add("cloud", "aws_csv_export", f"User name,Access key ID,Secret access key\nci-bot,{akia},{sec}\n", akia, sec)
        sec = g.s(B64, 40)
        add("cloud", "aws_unnamed_pair", f"the keys are {akia} / {sec} - which region?", akia, sec)
        sec = g.s(B64, 40)
        add("cloud", "aws_configure_prompt", f"AWS Secret Access Key [None]: {sec}\nDefault region name [None]: us-east-1",
            sec)
        sec = g.s(B64, 40)
        add("cloud", "aws_console_display", f"Secret access key: {sec}\n(shown only once)", sec)
        sec = g.s(B64, 40)
        add("cloud", "aws_yaml", f"env:\n  AWS_ACCESS_KEY_ID: {akia}\n  AWS_SECRET_ACCESS_KEY: {sec}\n", sec)
        # --- Google API keys ------------------------------------------------------------------------------
        aiza = "AIzaSy" + g.s(URLSAFE, 33)
        add("cloud", "google_key_prose", f"my maps key {aiza} stopped working today", aiza)
        aiza = "AIzaSy" + g.s(URLSAFE, 33)
        add("cloud", "firebase_config", f"const firebaseConfig = {{\n  apiKey: \"{aiza}\",\n  authDomain: "
            "\"acme-prod.firebaseapp.com\",\n};", aiza)
        aiza = "AIzaSy" + g.s(URLSAFE, 33)
        add("cloud", "google_key_curl", f"curl \"https://generativelanguage.googleapis.com/v1beta/models?key={aiza}\"",
            aiza)
        # --- SendGrid and Mailgun keys --------------------------------------------------------------------
        sg = f"SG.{g.s(URLSAFE, 22)}.{g.s(URLSAFE, 43)}"
        add("email", "sendgrid_env", f"SENDGRID_API_KEY={sg}", sg)
        sg = f"SG.{g.s(URLSAFE, 22)}.{g.s(URLSAFE, 43)}"
        add("email", "sendgrid_prose", f"the key {sg} returns 403 on /v3/mail/send", sg)
        sg = f"SG.{g.s(URLSAFE, 22)}.{g.s(URLSAFE, 43)}"
        add("email", "sendgrid_header", f"-H \"Authorization: Bearer {sg}\"", sg)
        mg = "key-" + g.s("0123456789abcdef", 32)
        add("email", "mailgun_key", f"curl -s --user 'api:{mg}' https://api.mailgun.net/v3/acme.io/messages", mg)
        # --- JWTs -------------------------------------------------------------------------------------------
        claims = {"sub": g.s(string.digits, 6), "email": "ana@acme.io", "exp": 1893456000}
        tok = signed_jwt(g, {"alg": "HS256", "typ": "JWT"}, claims)
        add("jwt", "jwt_alone", tok, tok)
        tok = signed_jwt(g, {"typ": "JWT", "alg": "RS256", "kid": g.s(ALNUM, 16)}, claims, 256)
        add("jwt", "jwt_kid_bearer", f"Authorization: Bearer {tok}", tok)
        tok = signed_jwt(g, "{\n  \"alg\": \"ES256\",\n  \"typ\": \"JWT\"\n}", claims, 64)
        add("jwt", "jwt_pretty_header", f"decode this please: {tok}", tok)
        tok = signed_jwt(g, {"alg": "HS256", "typ": "JWT"},
                         {"sub": "1234567890", "name": "John Doe", "iat": 1516239022})
        add("jwt", "jwt_io_claims_own_signature", f"id_token={tok}", tok)
        jwe = ".".join([b64url(json.dumps({"alg": "RSA-OAEP", "enc": "A256GCM"}).encode()),
                        b64url(bytes(g.rng.randrange(256) for _ in range(256))), b64url(bytes(12)),
                        b64url(bytes(g.rng.randrange(256) for _ in range(90))), b64url(bytes(16))])
        add("jwt", "jwe_five_parts", f"the encrypted token: {jwe}", jwe)
        # --- URL-encoded credentials lines -------------------------------------------------------------------
        sec = g.s(B64, 40)
        add("encoded", "url_encoded_secret_line", "aws_secret_access_key%3D" + quote(sec, safe=""), quote(sec, safe=""))
        sec = g.s(B64, 17) + "EXAMPLE" + g.s(B64, 18)
        enc = quote(f"aws_secret_access_key = {sec}", safe="")
        add("encoded", "url_encoded_secret_spaces", f"config={enc}", enc)
        pw = g.password()
        enc = quote(f"password={pw}", safe="")
        add("encoded", "url_encoded_password", f"POST body: user=ops&{enc}", enc)
        # --- passwords in other languages ---------------------------------------------------------------------
        for shape, template in (("fr", "mot de passe: {pw}"), ("fr_est", "mon mot de passe est {pw}, ça ne marche pas"),
                                ("de", "Passwort: {pw}"), ("de_ist", "mein Passwort ist {pw} und die Anmeldung scheitert"),
                                ("es", "contraseña: {pw}"), ("es_es", "mi contraseña es {pw} pero no entra"),
                                ("ru", "пароль: {pw}"), ("ru_dash", "мой пароль — {pw}"), ("pt", "a minha senha é {pw}"),
                                ("it", "la mia password è {pw}"), ("nl", "wachtwoord: {pw}"), ("pl", "hasło to {pw}"),
                                ("sv", "lösenordet är {pw}"), ("tr", "şifrem {pw}"), ("zh", "我的密码是{pw}，请帮我登录"),
                                ("ja", "パスワードは {pw} です"), ("ko", "비밀번호는 {pw} 입니다")):
            pw = g.password()
            add("prose", f"password_{shape}", template.format(pw=pw), pw)
        # --- passwords that end with punctuation -------------------------------------------------------------
        for end in "!#%)":
            pw = g.password() + end
            add("cli_credential", f"curl_u_ends_{end}", f"curl -u deploy:{pw} https://ci.acme.io/api", pw)
        pw = g.password() + "!"
        add("cli_credential", "password_flag_ends_bang", f"wget --password={pw} ftp://files.acme.io/x", pw)
        pw = g.password() + "#"
        add("config_credential", "netrc_ends_hash", f"machine h login u password {pw}", pw)
        pw = g.password() + "%"
        add("config_credential", "env_ends_percent", f"DB_PASSWORD={pw}\nDB_USER=app", pw)
        pw = g.password() + "!"
        add("prose", "password_is_ends_bang", f"my password is {pw} and it fails", pw)
    out += _split_cases(g)
    return out


def _split_cases(g: Gen) -> list[Case]:
    """Tokens split across turns, halves with punctuation and words around them, in the layouts the
    CLI (system, user, assistant, user) and ``baton serve`` (user, assistant, user) send."""
    out: list[Case] = []

    def add(shape: str, msgs: list[tuple[str, str]], *needles: str) -> None:
        for n in needles:
            assert any(n in c for _, c in msgs), (shape, n)
        out.append(Case("split", shape, tuple(msgs), tuple(needles)))

    for _ in range(2):
        tok = "ghp_" + g.s(ALNUM, 35)
        a, b = tok[:19], tok[19:]
        add("cli_thread_ghp", [("system", SYSTEM), ("user", f"my token starts {a}"), ("assistant", "OK, go on."),
                               ("user", f"and ends {b}, join them")], a, b)
        add("serve_ghp", [("user", f"first half: {a}."), ("assistant", "Noted."), ("user", f"second half: '{b}'")], a, b)
        tok = "glpat-" + g.s(URLSAFE, 20)
        a, b = tok[:12], tok[12:]
        add("cli_thread_glpat", [("system", SYSTEM), ("user", f"gitlab token (1/2): \"{a}\""),
                                 ("assistant", "Please send the rest."), ("user", f"(2/2): \"{b}\" - thanks!")], a, b)
        tok = "hf_" + g.s(ALNUM, 34)
        a, b = tok[:15], tok[15:]
        add("serve_hf", [("user", f"{a}..."), ("assistant", "Continue."), ("user", f"...{b}; now log in")], a, b)
        tok = "sk-proj-" + g.s(URLSAFE, 48)
        a, b = tok[:24], tok[24:]
        add("cli_thread_openai", [("system", SYSTEM), ("user", f"key part one ({a})"), ("assistant", "The answer is 42."),
                                  ("user", f"part two ({b}) continued")], a, b)
        tok = "sk_live_" + g.s(ALNUM, 24)
        a, b = tok[:18], tok[18:]
        add("serve_stripe", [("user", f"stripe: {a}"), ("assistant", "Got it, what next?"), ("user", f"{b}!")], a, b)
        tok = "AIzaSy" + g.s(URLSAFE, 33)
        a, b = tok[:16], tok[16:]
        add("cli_thread_google", [("system", SYSTEM), ("user", f"maps key begins with {a},"), ("assistant", "Sure."),
                                  ("user", f"then {b}. Why 403?")], a, b)
        tok = f"xoxb-{g.s(string.digits, 11)}-{g.s(string.digits, 13)}-{g.s(ALNUM, 24)}"
        a, b = tok[:22], tok[22:]
        add("serve_slack", [("user", f"slack bot token starts `{a}`"), ("assistant", "OK."),
                            ("user", f"ends `{b}`, is it valid?")], a, b)
        tok = "npm_" + g.s(ALNUM, 36)
        a, b = tok[:14], tok[14:]
        add("three_turns_apart_npm", [("user", f"npm token: {a}"), ("assistant", "Go on."), ("user", "wait"),
                                      ("assistant", "Sure."), ("user", f"rest: {b}")], a, b)
    return out
