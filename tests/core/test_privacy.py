"""The privacy gate on a corpus of fake, well-formed secrets and on ordinary code and prose."""

from __future__ import annotations

import random
import string

import pytest

from baton.core.router import privacy
from tests.helpers.privacy_corpus import NEGATIVE_CORPUS, secret_corpus

SECRETS = secret_corpus()


def _covered(text: str, needle: str, findings: list[privacy.Finding]) -> bool:
    i = text.index(needle)
    return any(f.start <= i and f.end >= i + len(needle) for f in findings)


def test_corpus_sizes() -> None:
    assert len({shape for shape, _, _ in SECRETS}) >= 40
    assert len(NEGATIVE_CORPUS) >= 60


@pytest.mark.parametrize(("shape", "text", "needle"), SECRETS, ids=[s for s, _, _ in SECRETS])
def test_every_secret_shape_is_caught(shape: str, text: str, needle: str) -> None:
    findings = privacy.scan(text)
    assert _covered(text, needle, findings), f"{shape}: {[f.describe() for f in findings]}"


@pytest.mark.parametrize("text", NEGATIVE_CORPUS, ids=[f"neg{i:02d}" for i in range(len(NEGATIVE_CORPUS))])
def test_ordinary_code_and_prose_are_not_flagged(text: str) -> None:
    assert privacy.scan(text) == []


def test_rates_printed(capsys: pytest.CaptureFixture[str]) -> None:
    caught = sum(_covered(t, n, privacy.scan(t)) for _, t, n in SECRETS)
    flagged = sum(bool(privacy.scan(t)) for t in NEGATIVE_CORPUS)
    with capsys.disabled():
        print(f"\nprivacy gate: caught {caught}/{len(SECRETS)} secret shapes "
              f"({caught / len(SECRETS):.1%}); flagged {flagged}/{len(NEGATIVE_CORPUS)} ordinary snippets "
              f"({flagged / len(NEGATIVE_CORPUS):.1%})")
    assert caught == len(SECRETS) and flagged == 0


def test_redact_removes_every_secret_and_keeps_the_rest() -> None:
    for shape, text, needle in SECRETS:
        redacted, findings = privacy.redact(text)
        assert findings, shape
        assert needle not in redacted, shape
        assert "[REDACTED:" in redacted
        assert privacy.scan(redacted) == [], shape
    text = "host = db01\npassword = Hunt3r!pass99\nport = 5432\n"
    redacted, findings = privacy.redact(text)
    assert redacted == "host = db01\npassword = [REDACTED:password_assignment]\nport = 5432\n"
    assert [f.kind for f in findings] == ["password_assignment"]


def test_finding_position_and_masked_preview() -> None:
    key = "sk-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" + "4f2a"
    text = f"first line\n  client = OpenAI(api_key=\"{key}\")\n"
    (f,) = privacy.scan(text)
    assert f.kind == "openai_key"
    assert f.line == 2
    line = text.splitlines()[1]
    assert line[f.col_start - 1:f.col_end - 1] == key
    assert f.span == (f.col_start, f.col_end)
    assert f.preview == "sk-...4f2a"
    assert key not in f.describe() and "line 2" in f.describe()
    assert f.to_dict()["preview"] == "sk-...4f2a"


def test_private_key_block_spans_lines_and_preview_is_the_header() -> None:
    shape, text, needle = next(s for s in SECRETS if s[0] == "pem:RSA PRIVATE KEY")
    (f,) = privacy.scan(text)
    assert f.kind == "private_key"
    assert (f.line, f.end_line) == (2, 11)
    assert f.preview == "-----BEGIN RSA PRIVATE KEY-----"
    assert "lines 2-11" in f.describe()


@pytest.mark.parametrize("text", [
    "OPENAI_API_KEY=<your-key>", "password = ${DB_PASSWORD}", "token: {{ vault_token }}",
    "SECRET_KEY=changeme", "API_TOKEN=xxxxxxxxxxxxxxxxxxxx", "password: '********'",
    "api_key = os.environ['OPENAI_API_KEY']", "password=%(password)s", "token = ''",
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "postgres://user:password@localhost/app",
    "mention of -----BEGIN RSA PRIVATE KEY----- in prose, with no key after it",
])
def test_placeholders_and_references_are_not_secrets(text: str) -> None:
    assert privacy.scan(text) == []


def test_summary_names_kinds_and_places_and_counts_the_rest() -> None:
    rng = random.Random(7)
    text = "\n".join(f"TOKEN_{i}=ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))
                     for i in range(7))
    findings = privacy.scan(text)
    assert len(findings) == 7
    line = privacy.summary(findings, limit=3)
    assert line.count("github_token") == 3 and line.endswith("and 4 more")
    assert text.splitlines()[0].split("=")[1][:12] not in line


def test_entropy_and_randomness_helpers() -> None:
    assert privacy.entropy_bits("aaaa") == 0.0
    assert privacy.entropy_bits("abcd") == pytest.approx(2.0)
    assert privacy.looks_random("k9Qz2Lm8Rt4Vx7Pb3Nw6")
    assert not privacy.looks_random("enableServerSideEncryption1")
    assert not privacy.looks_random("abcdefghijklmnopqrstuvwxyz0123456789")
