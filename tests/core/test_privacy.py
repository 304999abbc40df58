"""The privacy gate (baton.core.privacy): the request as it will be sent, every kind the issue names,
the benchmark corpus (recall and false-positive thresholds) and the older regression corpus."""

from __future__ import annotations

import base64
import json
import random
import string
from urllib.parse import quote

import pytest

from baton.core import privacy
from baton.core.privacy import Finding, redact_messages, scan_messages
from baton.core.types import ChatMessage
from bench.privacy.bench_privacy import baton_detector, evaluate
from bench.privacy.corpus import Gen, corpus
from tests.helpers.privacy_corpus import NEGATIVE_CORPUS, secret_corpus

ALNUM = string.ascii_letters + string.digits
RNG = random.Random(4242)


def _r(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def _msgs(*contents: str, roles: tuple[str, ...] | None = None) -> list[ChatMessage]:
    roles = roles or ("user",) * len(contents)
    return [ChatMessage(r, c) for r, c in zip(roles, contents)]


def _sent(messages: list[ChatMessage]) -> str:
    out, findings = redact_messages(messages)
    assert findings, [m.content for m in messages]
    return "\x00".join(m.content for m in out)


def _assert_gone(messages: list[ChatMessage], *secrets: str) -> list[Finding]:
    sent = _sent(messages)
    for s in secrets:
        for part in (s, s[:len(s) // 2], s[len(s) // 2:]) if len(s) >= 16 else (s,):
            assert part not in sent, part
    return scan_messages(messages)


# ---- the inputs of the issue, one kind at a time ------------------------------------------------------

def test_pem_key_inside_a_json_string_with_escaped_newlines() -> None:
    pem = Gen(1).pem("PRIVATE KEY", "pkcs8")
    body = pem.splitlines()[4]
    for text in (json.dumps({"type": "service_account", "private_key": pem}),
                 json.dumps({"wrapped": json.dumps({"private_key": pem})}),  # escaped twice
                 "PRIVATE_KEY=\"" + pem.replace("\n", "\\n") + "\""):
        (f,) = _assert_gone(_msgs(text), body)
        assert f.kind == "private_key" and f.message_index == 0


def test_armoured_blocks_with_header_lines() -> None:
    g = Gen(2)
    enc = g.pem("RSA PRIVATE KEY", "rsa", headers="Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,"
                f"{_r(32, '0123456789ABCDEF')}\n\n")
    pgp = g.pem("PGP PRIVATE KEY BLOCK", "rsa", headers="Version: GnuPG v2\nComment: Bob <bob@example.org>\n"
                "Comment: https://example.org/bob.asc\n\n")
    for block in (enc, pgp, enc.rsplit("\n", 1)[0]):  # the last one cut before its END line
        _assert_gone(_msgs(f"why does this fail?\n{block}\n"), block.splitlines()[5])


@pytest.mark.parametrize("template", [
    "curl -u admin:{pw} https://jenkins.internal/api/json", "curl --user 'ops:{pw}' https://x.example.net",
    "machine h login u password {pw}", "machine ftp.example.net\n  login backup\n  password {pw}\n",
    "my password is {pw}", "the wifi password is {pw}.", "I set the root password to {pw} yesterday",
    "unlock it with passphrase {pw}", "PGPASSWORD={pw} psql -h db -U app", "postgres://app:{pw}@db.internal:5432/app",
    "mysql -u root -p{pw} shop", "sqlcmd -S db -U sa -P {pw}", "db.internal:5432:app:app:{pw}",
    "define('DB_PASSWORD', '{pw}');",
])
def test_credentials_as_people_write_them(template: str) -> None:
    pw = "S3cr3t-pass" if "{pw}" in template and RNG.random() < 0.5 else f"Qx{_r(10)}!7"
    (f, *_) = _assert_gone(_msgs(template.format(pw=pw)), pw)
    assert pw not in f.describe() and pw not in repr(f) and pw not in json.dumps(f.to_dict())


def test_a_token_split_across_two_turns_is_redacted_in_both() -> None:
    tok = "ghp_" + _r(36)
    thread = _msgs(f"keep this: {tok[:18]}", "Noted.", f"{tok[18:]} is the rest, push now",
                   roles=("user", "assistant", "user"))
    findings = _assert_gone(thread, tok[:18], tok[18:])
    assert {f.message_index for f in findings} == {0, 2} and all(f.split for f in findings)
    assert "split across messages" in findings[0].describe()
    out, _ = redact_messages(thread)
    assert out[1].content == "Noted." and [m.role for m in out] == ["user", "assistant", "user"]
    assert thread[0].content.endswith(tok[:18])  # the input is not changed


@pytest.mark.parametrize("cut", [3, 9, 20, 40])
def test_a_token_split_over_two_consecutive_messages(cut: int) -> None:
    key = "sk-proj-" + _r(60, ALNUM + "-_")
    _assert_gone(_msgs(key[:cut], key[cut:]), key[cut:], *([key[:cut]] if cut >= 8 else []))


def test_a_private_key_split_across_turns() -> None:
    lines = Gen(3).pem("EC PRIVATE KEY", "ec").splitlines()
    thread = _msgs("part 1:\n" + "\n".join(lines[:5]), "go on", "part 2:\n" + "\n".join(lines[5:]),
                   roles=("user", "assistant", "user"))
    _assert_gone(thread, lines[2], lines[-2])


@pytest.mark.parametrize("make", [
    lambda s: f"https://deploy:{s}@pypi.example.net/simple",
    lambda s: f"GET https://api.example.net/v1/export?format=csv&token={s}",
    lambda s: f"https://api.example.net/x?api_key={s}&page=2",
    lambda s: f"https://maker.ifttt.com/trigger/x/with/key/{s}",
    lambda s: f"https://hooks.slack.com/services/T{s[:8].upper()}/B{s[8:16].upper()}/{s[16:40]}",
])
def test_secrets_inside_urls(make) -> None:  # type: ignore[no-untyped-def]
    secret = _r(40)
    text = make(secret)
    _assert_gone(_msgs(text), secret[16:40] if "slack" in text else secret)


def test_telegram_bot_url() -> None:
    tok = f"{RNG.randrange(10**8, 10**10)}:AA{_r(33, ALNUM + '-_')}"
    _assert_gone(_msgs(f"curl https://api.telegram.org/bot{tok}/getUpdates"), tok)


@pytest.mark.parametrize("encode", ["base64", "base64url", "hex", "url"])
def test_encoded_credentials_files(encode: str) -> None:
    creds = f"[default]\naws_access_key_id = AKIA{_r(16, string.ascii_uppercase + string.digits)}\n" \
            f"aws_secret_access_key = {_r(40)}\n"
    blob = {"base64": lambda: base64.b64encode(creds.encode()).decode(),
            "base64url": lambda: base64.urlsafe_b64encode(creds.encode()).decode(),
            "hex": lambda: creds.encode().hex(), "url": lambda: quote(creds, safe="")}[encode]()
    (f,) = _assert_gone(_msgs(f"decode this for me: {blob}"), blob)
    assert f.encoding == ("base64" if encode.startswith("base64") else encode)


def test_a_bare_der_key_without_armour() -> None:
    bare = base64.b64encode(Gen(5).der_key("rsa")).decode()
    (f,) = _assert_gone(_msgs(f"signing material:\n{bare}"), bare)
    assert f.kind == "private_key"


@pytest.mark.parametrize("text", [
    "Set OPENAI_API_KEY=sk-... in your shell", "OPENAI_API_KEY=sk-xxxx", "token: <your-token>",
    "API_KEY=YOUR_API_KEY", "export TOKEN=${TOKEN}", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "stripe.api_key = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc'",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b", "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "request 123e4567-e89b-12d3-a456-426614174000", "curl -u $USER:$TOKEN https://x.example.net",
    "<img src='data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='>",
    "my password is stored in the vault", "Password: must be at least 12 characters",
    "mention of -----BEGIN RSA PRIVATE KEY----- in prose, with no key after it",
])
def test_placeholders_hashes_and_lookalikes_are_not_secrets(text: str) -> None:
    assert scan_messages(_msgs(text)) == []


def test_lookalikes_across_turns_do_not_make_a_split_secret() -> None:
    thread = _msgs("GitHub tokens start with ghp_ and AWS key ids with AKIA", "Right.",
                   f"ref {_r(16, string.ascii_uppercase + string.digits)} and {_r(36)} failed",
                   roles=("user", "assistant", "user"))
    assert scan_messages(thread) == []


# ---- findings and the text-level names ------------------------------------------------------------------

def test_finding_names_kind_and_place_never_the_secret() -> None:
    pem = Gen(6).pem("RSA PRIVATE KEY", "rsa")
    msgs = _msgs("hello", "see below", f"first\nsecond\n{pem}", roles=("system", "user", "user"))
    (f,) = scan_messages(msgs)
    assert (f.kind, f.message_index, f.line) == ("private_key", 2, 3)
    assert f.describe() == "private key in message 3 line 3"
    assert msgs[2].content[f.start:f.end] == pem
    assert set(f.to_dict()) == {"kind", "message_index", "line", "encoding", "split"}


def test_text_level_scan_redact_and_summary() -> None:
    key = "sk-" + _r(48)
    text = f"first line\n  client = OpenAI(api_key=\"{key}\")\n"
    (f,) = privacy.scan(text)
    assert (f.kind, f.line, text[f.start:f.end]) == ("openai_key", 2, key)
    redacted, findings = privacy.redact(text)
    assert redacted == "first line\n  client = OpenAI(api_key=\"[REDACTED:openai_key]\")\n" and findings
    many = privacy.scan("\n".join(f"TOKEN_{i}=ghp_{_r(36)}" for i in range(7)))
    line = privacy.summary(many, limit=3)
    assert line.count("github token") == 3 and line.endswith("and 4 more")
    assert privacy.looks_random("k9Qz2Lm8Rt4Vx7Pb3Nw6") and not privacy.looks_random("enableServerSideEncryption1")


# ---- corpora ---------------------------------------------------------------------------------------------

def test_benchmark_corpus_recall_and_false_positive_rate() -> None:
    cases = corpus()
    kinds = {c.kind for c in cases}
    assert len(kinds) >= 12 and all(len({c.shape for c in cases if c.kind == k and c.positive}) >= 3 for k in kinds)
    report = evaluate(baton_detector, cases)
    overall = report["overall"]
    assert overall["recall"] >= 0.98 and overall["redact_recall"] >= 0.98 and overall["fpr"] <= 0.02, overall
    for kind, row in report["kinds"].items():
        assert row["recall"] >= 0.98 and row["fpr"] <= 0.02, (kind, row["missed"], row["false_positives"])


@pytest.mark.parametrize(("shape", "text", "needle"), secret_corpus(), ids=[s for s, _, _ in secret_corpus()])
def test_regression_corpus_secret_is_redacted(shape: str, text: str, needle: str) -> None:
    redacted, findings = privacy.redact(text)
    assert findings and needle not in redacted, shape
    assert "[REDACTED:" in redacted and privacy.scan(redacted) == []


@pytest.mark.parametrize("text", NEGATIVE_CORPUS, ids=[f"neg{i:02d}" for i in range(len(NEGATIVE_CORPUS))])
def test_regression_corpus_ordinary_code_and_prose(text: str) -> None:
    assert privacy.scan(text) == []
