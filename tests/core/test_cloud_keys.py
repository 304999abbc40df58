"""Keys never show: a server whose error bodies echo the Authorization header (400, 500 and more, in
several shapes) leaves no trace of the key in any error text or traceback; a key holding a control
character is refused before it is sent, with a line that does not echo it."""

from __future__ import annotations

import base64
import traceback
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from baton.config import Endpoint
from baton.core.cloud.client import CloudClient
from baton.core.errors import BatonError, CloudAuthError, CloudError
from baton.core.types import ChatMessage, GenerationRequest
from tests.helpers.dialect_server import DONE, DialectServer, Reply, chunk

REQ = GenerationRequest([ChatMessage("user", "hi")], max_tokens=8)
KEYS = ["sk-proj-A1b2C3d4E5f6G7h8I9j0", "gsk_live+/=weird/key==0123456789", "abcd-1234-efgh-5678"]


@pytest.fixture()
def srv() -> Iterator[DialectServer]:
    with DialectServer() as s:
        yield s


def _client(srv: DialectServer, key: str | None, **kw: object) -> CloudClient:
    ep = Endpoint(name="echo", base_url=srv.base_url, model="m", key_env="ECHO_KEY_VAR")
    return CloudClient(ep, key, offline=True, max_retries=0, **kw)  # type: ignore[arg-type]


def _all_text(err: BaseException) -> str:
    """Everything a user, a log or the store could get from the error."""
    return "\n".join([str(err), repr(err), "".join(traceback.format_exception(err)),
                      getattr(err, "partial_text", "") or ""])


def _forms(key: str) -> list[str]:
    return [key, quote(key, safe=""), base64.b64encode(key.encode()).decode().rstrip("=")]


def _echo_body(shape: str):  # type: ignore[no-untyped-def]
    def body(req):  # type: ignore[no-untyped-def]
        auth = req.headers.get("authorization", "")
        key = auth.split(" ", 1)[1] if " " in auth else auth
        if shape == "header-line":
            return f"Bad request. You sent:\nAuthorization: {auth}\nContent-Type: application/json".encode()
        if shape == "json":
            return ('{"error": {"message": "invalid payload; request headers were {\\"Authorization\\": \\"%s\\", '
                    '\\"accept\\": \\"*/*\\"}"}}' % auth).encode()
        if shape == "dict-repr":
            return ('{"error": {"message": "upstream said no: headers={\'authorization\': \'%s\'}"}}' % auth).encode()
        if shape == "bare-key":
            return ('{"error": {"message": "Incorrect API key provided: %s. Find your key at the dashboard."}}'
                    % key).encode()
        if shape == "url-encoded":
            return f"redirect to https://login.example/?next=%2Fv1&api_key={quote(key, safe='')}".encode()
        if shape == "base64-basic":
            basic = base64.b64encode(f"user:{key}".encode()).decode()
            return f"proxy said: Proxy-Authorization: Basic {basic} rejected".encode()
        if shape == "x-api-key":
            return f'{{"detail": "x-api-key: {key} is not valid here, api-key: {key}"}}'.encode()
        raise AssertionError(shape)
    return body


SHAPES = ["header-line", "json", "dict-repr", "bare-key", "url-encoded", "base64-basic", "x-api-key"]


@pytest.mark.parametrize("code", [400, 500, 401, 403, 422, 429, 502])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("key", KEYS)
def test_an_error_body_echoing_the_key_never_shows_it(srv: DialectServer, code: int, shape: str, key: str) -> None:
    srv.enqueue(Reply(status=code, body=_echo_body(shape), content_type="text/plain"))
    with pytest.raises(CloudError) as ei:
        list(_client(srv, key).stream(REQ))
    text = _all_text(ei.value)
    for form in _forms(key):
        assert form not in text
    assert f"HTTP {code}" in str(ei.value)
    assert srv.requests[0].headers["authorization"] == f"Bearer {key}"  # it was really sent and echoed


@pytest.mark.parametrize("key", KEYS)
def test_a_200_stream_whose_error_echoes_the_key_never_shows_it(srv: DialectServer, key: str) -> None:
    def events(req):  # type: ignore[no-untyped-def]
        auth = req.headers["authorization"]
        return [chunk("partial "), {"error": {"message": f"quota check failed for Authorization: {auth}"}}, DONE]

    srv.enqueue(Reply(events=events))
    with pytest.raises(CloudError) as ei:
        list(_client(srv, key).stream(REQ))
    assert key not in _all_text(ei.value) and "quota check failed" in str(ei.value)
    assert ei.value.partial_text == "partial "


def test_list_models_errors_are_scrubbed_too(srv: DialectServer) -> None:
    srv.enqueue(Reply(status=500, body=_echo_body("header-line")))
    with pytest.raises(CloudError) as ei:
        _client(srv, KEYS[0]).list_models()
    assert KEYS[0] not in _all_text(ei.value)


def test_transport_errors_whose_text_holds_the_key_are_scrubbed(srv: DialectServer) -> None:
    import httpx

    client = _client(srv, KEYS[1])
    for exc in (httpx.LocalProtocolError(f"Illegal header value b'Bearer {KEYS[1]}'"),
                httpx.ConnectError(f"failed to reach https://u:{KEYS[1]}@example/ with key {KEYS[1]}"),
                httpx.ReadError(repr({"authorization": f"Bearer {KEYS[1]}"})),
                RuntimeError(f"something odd: {quote(KEYS[1], safe='')}")):
        with pytest.raises(BatonError) as ei:
            client._raise_clean(exc)
        assert not any(f in _all_text(ei.value) for f in _forms(KEYS[1])), exc


def test_the_client_exposes_its_secrets_for_the_store() -> None:
    client = CloudClient(Endpoint("e", "http://127.0.0.1:9/v1", "m"), KEYS[0], offline=True)
    assert client.known_secrets() == (KEYS[0],)
    assert client.scrub(f"receipt error: bad key {KEYS[0]}") == "receipt error: bad key [redacted]"
    assert CloudClient(Endpoint("e", "http://127.0.0.1:9/v1", "m"), None, offline=True).known_secrets() == ()


@pytest.mark.parametrize("bad", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u200b"])
def test_a_key_with_a_control_character_is_refused_at_use_without_echoing_it(srv: DialectServer, bad: str) -> None:
    key = f"sk-first-part-1234{bad}second-part-5678"
    client = _client(srv, key)
    for call in (lambda: client.stream(REQ), client.list_models):
        with pytest.raises(CloudAuthError) as ei:
            call()
        text = _all_text(ei.value)
        assert "sk-first-part-1234" not in text and "second-part-5678" not in text
        assert "ECHO_KEY_VAR" in text and "baton keys set echo" in text
        assert "\n" not in str(ei.value)
    assert srv.requests == []  # nothing was sent
