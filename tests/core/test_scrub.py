"""scrub(): known key values in their encoded forms and every credential header value leave the text."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from baton.core.scrub import REDACTED, has_control_chars, scrub

KEY = "sk-live+9/AbC=dEf_0123456789"


@pytest.mark.parametrize("form", [
    KEY, quote(KEY, safe=""), quote_plus(KEY), base64.b64encode(KEY.encode()).decode(),
    base64.urlsafe_b64encode(KEY.encode()).decode().rstrip("="), json.dumps(KEY)[1:-1],
])
def test_every_form_of_a_known_key_is_removed(form: str) -> None:
    out = scrub(f"error near {form} here", [KEY])
    assert form not in out and REDACTED in out and out.startswith("error near ")


@pytest.mark.parametrize(("text", "gone"), [
    ("Authorization: Bearer abc.def.ghi-jkl", "abc.def.ghi-jkl"),
    ("authorization:bearer tok_123456", "tok_123456"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ('{"Authorization": "Bearer eyJhbGciOi.JIUzI1NiJ9"}', "eyJhbGciOi.JIUzI1NiJ9"),
    ("{'authorization': 'Token 9f8e7d6c5b4a'}", "9f8e7d6c5b4a"),
    ("api-key: 0a1b2c3d4e5f", "0a1b2c3d4e5f"),
    ("X-API-Key: AIzaSyD-unknown-key", "AIzaSyD-unknown-key"),
    ('{"x-api-key": "anthropic-key-abc"}', "anthropic-key-abc"),
    ("api_key=qwerty12345&model=x", "qwerty12345"),
    ("GET /v1/models?key=AIzaSecret123 HTTP/1.1", "AIzaSecret123"),
    ("sent Bearer zyx987654321 to upstream", "zyx987654321"),
    ("Proxy-Authorization: Basic Zm9vOmJhcg==", "Zm9vOmJhcg=="),
    ("proxy at http://bob:hunter2hunter2@proxy.corp:3128 refused", "hunter2hunter2"),
])
def test_credential_headers_are_removed_without_knowing_the_key(text: str, gone: str) -> None:
    out = scrub(text)
    assert gone not in out and REDACTED in out


def test_a_key_with_a_line_break_is_removed_whole_and_in_pieces() -> None:
    key = "sk-first-half-123\nsecond-half-456"
    for text in (f"value {key!r}", f"Illegal header value b'Bearer {key.encode()!r}'", f"a {key} b",
                 "first line sk-first-half-123", json.dumps({"k": key})):
        out = scrub(text, [key])
        assert "sk-first-half-123" not in out and "second-half-456" not in out, text


def test_ordinary_text_is_left_alone() -> None:
    text = "The model refused: authorization failed because the quota ran out (HTTP 429)."
    assert scrub(text, ["unrelated-key-xyz", None, ""]) == text
    assert scrub("", [KEY]) == ""
    assert scrub("ab", ["ab"]) == "ab"  # too short to scrub as a value without mangling words


@pytest.mark.parametrize(("value", "bad"), [
    ("sk-abc", False), ("sk abc", False), ("a\nb", True), ("a\rb", True), ("a\tb", True), ("a\x00b", True),
    ("a\x1bb", True), ("a\x7fb", True), ("a\x85b", True), ("a\u2028b", True), ("a\u200bb", True),
])
def test_control_characters_are_recognised(value: str, bad: bool) -> None:
    assert has_control_chars(value) is bad


def test_fragments_and_base64_of_headers_are_scrubbed():
    import base64

    from baton.core.scrub import scrub

    key = "sk-live-SECRETKEY0123456789abcdefXYZ"
    header = base64.b64encode(("Authorization: Bearer " + key).encode()).decode()
    for cut in range(8):  # a blob cut anywhere, as a server may echo part of it
        assert "[redacted]" in scrub(f"hdr={header[cut:]}", [key])
    assert scrub("key ending 789abcdefXYZ was rejected", [key]) == "key ending [redacted] was rejected"
    assert scrub("the key starts sk-live-SECRETK, check it", [key]) == "the key starts [redacted], check it"
    ordinary = "model gpt-4o-mini not found; see https://example.com/docs/errors#404 (request id 0123)"
    assert scrub(ordinary, [key]) == ordinary
