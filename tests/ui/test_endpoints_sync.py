"""Endpoints in one place and in step everywhere: Settings → Endpoints adds one and tests it with a real request to
its /models on a loopback server; the "Retry on" menu under an older answer, the Answer menu and Compare show it at
once; removing it (in the dialog, or with `baton endpoints remove` while the app runs) takes it out of every view,
an open Settings dialog included."""

from __future__ import annotations

from baton.config import Settings
from baton.core.engine.fake import FakeEngine

from tests.helpers.dialect_server import DialectServer, Reply, json_body
from tests.ui.conftest import wait_idle


def _models(*ids: str) -> Reply:
    return Reply(body=json_body({"object": "list", "data": [{"id": i, "object": "model"} for i in ids]}))


def _retry_labels(bar) -> list[str]:
    menu = bar.retry_button.menu()
    menu.aboutToShow.emit()  # what opening the menu does
    return [a.text() for a in menu.actions()]


def _answer_menu_labels(w) -> list[str]:
    return [a.text() for a in w.actions_.retry_menu.actions()]


def test_add_test_and_remove_an_endpoint_updates_every_view(qtbot, make_window):
    local = FakeEngine("fake-local")
    local.enqueue("first answer")
    local.enqueue("second answer")
    h = make_window(engine=local, real_http=True)
    w = h.window
    w.session.send("first question", "local")
    wait_idle(qtbot, h)
    w.session.send("second question", "local")
    wait_idle(qtbot, h)
    older = w.chat.receipt_bars()[0]
    assert len(_retry_labels(older)) == 1  # the local model only

    with DialectServer() as server:
        server.enqueue(_models("other-model"), _models("big-model", "other-model"))
        dlg = w.open_settings()
        tools = dlg.endpoint_tools
        dlg.add_endpoint()
        dlg.ep_name.setText("lan")
        dlg.ep_url.setText(server.base_url)
        dlg.ep_model.setText("big-model")
        assert tools.test()
        qtbot.waitUntil(lambda: tools._call is None, timeout=10000)  # noqa: SLF001
        assert "does not serve 'big-model'" in tools.result.text() and "other-model" in tools.result.text()
        assert tools.test()
        qtbot.waitUntil(lambda: tools._call is None, timeout=10000)  # noqa: SLF001
        assert tools.result.text().startswith("OK:"), tools.result.text()
        assert [r.path for r in server.requests] == ["/v1/models", "/v1/models"]
        dlg.tabs.setCurrentIndex(1)
        qtbot.wait(30)
        dlg.grab().save("/tmp/shots/b-endpoints-test.png")
        dlg.save()
        assert not dlg.isVisible()

    compare = w.open_palette()
    compare.filter.setText("compare two")
    assert compare.run_current()
    cmp = w.compare_dialog
    assert "Cloud: lan" in _retry_labels(older), "the older answer's menu reads the live endpoints"
    assert "Cloud: lan" in _answer_menu_labels(w)
    assert "Endpoint: lan" in [cmp.side_b.itemText(i) for i in range(cmp.side_b.count())]

    dlg = w.open_settings()
    assert [dlg.ep_list.item(i).text() for i in range(dlg.ep_list.count())] == ["lan"]
    dlg.ep_list.setCurrentRow(0)
    dlg.remove_endpoint()
    dlg.save()
    assert h.settings.endpoints == []
    assert "Cloud: lan" not in _retry_labels(older)
    assert "Cloud: lan" not in _answer_menu_labels(w)
    assert "Endpoint: lan" not in [cmp.side_b.itemText(i) for i in range(cmp.side_b.count())]
    assert Settings.load(h.paths.config_file).endpoints == []
    cmp.reject()


def test_an_endpoint_removed_outside_the_app_leaves_every_view_at_once(qtbot, make_window):
    from baton.config import Endpoint

    settings = Settings()
    settings.endpoints = [Endpoint("lan", "http://127.0.0.1:9/v1", "m"), Endpoint("cloud2", "http://127.0.0.1:9/v1",
                                                                                  "m2")]
    local = FakeEngine("fake-local")
    local.enqueue("an answer")
    h = make_window(engine=local, settings=settings)
    settings.save(h.paths.config_file)
    w = h.window
    w.session.send("a question", "local")
    wait_idle(qtbot, h)
    bar = w.chat.receipt_bars()[0]
    assert "Cloud: lan" in _retry_labels(bar)
    dlg = w.open_settings()
    assert dlg.ep_list.count() == 2

    outside = Settings.load(h.paths.config_file)  # what `baton endpoints remove lan` does in another process
    outside.endpoints = [e for e in outside.endpoints if e.name != "lan"]
    outside.save(h.paths.config_file)

    qtbot.waitUntil(lambda: [e.name for e in h.settings.endpoints] == ["cloud2"], timeout=10000)
    assert [dlg.ep_list.item(i).text() for i in range(dlg.ep_list.count())] == ["cloud2"]
    assert "Cloud: lan" not in _retry_labels(bar) and "Cloud: cloud2" in _retry_labels(bar)
    assert "Cloud: lan" not in _answer_menu_labels(w)
    assert h.service.router.endpoints and [e.name for e in h.service.router.endpoints] == ["cloud2"]
    dlg.reject()
