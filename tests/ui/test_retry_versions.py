"""Retry on a second endpoint, in the app, against two real OpenAI-style servers on loopback: only the second is
asked, with [system, question] only; the thread keeps one question; the replaced answer stays reachable."""

from __future__ import annotations

from baton.config import Endpoint, Settings
from baton.core.engine.fake import FakeEngine

from tests.helpers.dialect_server import DialectServer, Reply, chunk, usage
from tests.ui.conftest import wait_idle


def _answer(text: str) -> Reply:
    return Reply(events=[chunk(text), chunk(None, "stop"), usage(9, 3),
                         "data: [DONE]\n\n"])


def test_retry_on_the_second_endpoint_reaches_only_it_and_replaces_in_place(qtbot, make_window):
    with DialectServer() as first, DialectServer() as second:
        first.enqueue(_answer("from the first"))
        second.enqueue(_answer("from the second"))
        settings = Settings()
        settings.endpoints = [Endpoint("first", first.base_url, "m1"), Endpoint("second", second.base_url, "m2")]
        local = FakeEngine("fake-local")
        local.enqueue("a local answer")
        h = make_window(engine=local, settings=settings, real_http=True)
        w = h.window
        w.session.send("Which word rhymes with orange?", "local")
        wait_idle(qtbot, h)
        tid = w.session.current_id
        bar = w.chat.receipt_bars()[-1]
        labels = [a.text() for a in bar.retry_button.menu().actions()]
        target = next(a for a in bar.retry_button.menu().actions() if "second" in a.text())
        target.trigger()
        wait_idle(qtbot, h)

        assert first.requests == [], f"the first endpoint was asked ({labels})"
        assert len(second.requests) == 1
        sent = second.requests[0].json["messages"]
        assert [m["role"] for m in sent] == ["system", "user"]
        assert sent[1]["content"] == "Which word rhymes with orange?"
        store = h.service.store
        everything = store.history(tid)
        assert [m.role for m in everything].count("user") == 1, "the question is stored once"
        old = next(m for m in everything if m.content == "a local answer")
        assert old.status == "replaced"
        new = next(m for m in everything if m.content == "from the second")
        assert [v.id for v in store.versions(new.id)] == [old.id, new.id], "the earlier answer is a version"
        assert [m.content for m in store.thread_path(tid)] == ["Which word rhymes with orange?", "from the second"]
        assert store.receipt(new.id)["route"]["endpoint"] == "second"
        shown = w.chat.settled_texts()
        assert sum("Which word rhymes with orange?" in t for t in shown) == 1, shown
        assert not any("a local answer" in t for t in shown), "a replaced answer is not a bubble of its own"
