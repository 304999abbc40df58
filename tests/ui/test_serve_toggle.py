"""The API server inside the app: started from the palette, its URL and token shown; the official `openai` client
at that URL with that token gets an answer from the real SmolLM2 model through the app's own service; stopped,
the port is closed."""

from __future__ import annotations

import socket

import httpx
import openai
import pytest

from tests.ui.real_app import real_window  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_toggle_on_call_with_openai_then_off_closes_the_port(qtbot, real_window):  # noqa: F811
    w = real_window(max_tokens=8)
    palette = w.open_palette()
    palette.filter.setText("api server")
    assert palette.run_current()
    dlg = w.serve_dialog
    assert not dlg.toggle.isChecked() and dlg.url.text() == ""
    dlg.toggle.click()
    assert dlg.toggle.isChecked(), dlg.status.text()
    url, token = dlg.url.text(), dlg.token.text()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    assert dlg.token.echoMode() == dlg.token.EchoMode.Password and len(token) >= 32
    dlg.show_token.click()
    assert dlg.token.echoMode() == dlg.token.EchoMode.Normal and dlg.show_token.text() == "Hide"
    qtbot.wait(50)  # the layout settles
    dlg.grab().save("/tmp/shots/b-serve-toggle.png")
    dlg.copy_token.click()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == token
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert w.findChild(type(dlg.status), "serveBadge").text() == f"API on :{port}"

    before = {r.id for r in w.thread_model.rows()}
    with httpx.Client(trust_env=False) as http:
        client = openai.OpenAI(base_url=url, api_key=token, http_client=http, max_retries=0)
        reply = client.chat.completions.create(model="baton-local", max_tokens=8, temperature=0,
                                               messages=[{"role": "user", "content": "Say hello."}])
        assert reply.choices[0].message.content.strip()
        assert (reply.model_extra or {}).get("baton", {}).get("route", {}).get("tier") == "local"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url, api_key="wrong", http_client=http, max_retries=0).models.list()
    # the request's thread appears in the sidebar while the server runs, without any restart
    qtbot.waitUntil(lambda: len({r.id for r in w.thread_model.rows()} - before) == 1, timeout=5000)
    # the app's own service answered: its store holds the thread and the loaded engine is the app's
    assert any("Say hello." in m.content for t in w.backend.store.list_threads()
               for m in w.backend.store.history(t.id))
    assert w.backend.resident_models(), "the answer loaded the model into the app's own service"

    dlg.toggle.click()
    assert not dlg.toggle.isChecked() and dlg.url.text() == ""
    assert not _port_open(port)
    dlg.accept()
