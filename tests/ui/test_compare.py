"""Compare in the app: one question to the real local model (SmolLM2) and to an endpoint on a loopback server,
both answers streamed into a split view with their receipts; "Keep this one" makes that answer the thread's
current version and the other stays as an earlier version."""

from __future__ import annotations

import pytest

from baton.config import Endpoint, Settings

from tests.helpers.dialect_server import DialectServer, Reply, chunk, usage
from tests.ui.real_app import real_window  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"


def _reply(text: str) -> Reply:
    return Reply(events=[chunk(text), chunk(None, "stop"), usage(20, 4), "data: [DONE]\n\n"])


def _palette_run(window, words: str) -> None:
    palette = window.open_palette()
    palette.filter.setText(words)
    assert palette.run_current(), f"no palette entry for {words!r}"


def test_compare_local_and_endpoint_then_keep_the_local_answer(qtbot, real_window):  # noqa: F811
    with DialectServer() as server:
        server.enqueue(_reply("Paris is the capital of France."))
        settings = Settings()
        settings.endpoints = [Endpoint("lan", server.base_url, "big-model", usd_per_mtok_in=1.0,
                                       usd_per_mtok_out=2.0, j_per_token=0.5)]
        w = real_window(settings)
        w.composer.set_text(QUESTION)
        _palette_run(w, "compare two")
        dlg = w.compare_dialog
        assert dlg.question.toPlainText() == QUESTION
        labels = [dlg.side_a.itemText(i) for i in range(dlg.side_a.count())]
        assert labels[0].startswith("Local: ") and "Endpoint: lan" in labels
        dlg.side_b.setCurrentIndex(labels.index("Endpoint: lan"))
        assert dlg.start()
        qtbot.waitUntil(lambda: dlg.pane_a.text.toPlainText() != "", timeout=60000)  # A streams
        qtbot.waitUntil(lambda: dlg.result is not None and dlg._run is None, timeout=60000)
        ra, rb = dlg.result
        assert rb is not None
        assert ra["route"]["tier"] == "local" and rb["route"]["endpoint"] == "lan"
        assert dlg.pane_b.text.toPlainText() == "Paris is the capital of France."
        assert dlg.pane_a.text.toPlainText() == ra["text"] and ra["text"].strip()
        assert "J" in dlg.pane_a.receipt.text() and "$" in dlg.pane_b.receipt.text()
        assert dlg.pane_a.keep.isEnabled() and dlg.pane_b.keep.isEnabled()
        sent = server.requests[-1].json["messages"]
        assert [m["role"] for m in sent] == ["system", "user"] and sent[-1]["content"] == QUESTION
        dlg.grab().save("/tmp/shots/b-compare.png")

        store = w.backend.store
        tid = ra["thread_id"]
        assert store.get_message(rb["message_id"]).status == "done"  # before a pick, the newer one is current
        assert store.get_message(ra["message_id"]).status == "replaced"
        assert dlg.keep("a")
        assert store.get_message(ra["message_id"]).status == "done"
        assert store.get_message(rb["message_id"]).status == "replaced"
        assert [m.content for m in store.thread_path(tid)] == [QUESTION, ra["text"]]
        assert [v.id for v in store.versions(ra["message_id"])] == [ra["message_id"], rb["message_id"]]
        assert sum(1 for m in store.history(tid) if m.role == "user") == 1, "the question is stored once"
        assert w.session.current_id == tid
        shown = w.chat.settled_texts()
        assert any(ra["text"].strip()[:20] in t for t in shown)
        assert not any("Paris is the capital of France." in t for t in shown)
        assert len(server.requests) == 1


def test_compare_needs_two_different_sides_and_follows_new_endpoints(qtbot, real_window):  # noqa: F811
    w = real_window()
    w.composer.set_text(QUESTION)
    _palette_run(w, "compare")
    dlg = w.compare_dialog
    assert dlg.side_a.count() == 1
    assert not dlg.start(), "one target only: A and B would be the same"
    assert "different" in dlg.note.text()
    import copy

    s = copy.deepcopy(w.backend.settings)
    s.endpoints.append(Endpoint("added-later", "http://127.0.0.1:9/v1", "m"))
    w.backend.save_settings(s)
    w.settingsChanged.emit()
    assert "Endpoint: added-later" in [dlg.side_b.itemText(i) for i in range(dlg.side_b.count())]
    dlg.reject()
