"""Layout and keyboard (usable down to 480x360, panels that never resize the window, a visible focus on every
control, "Stopping…" at once) and the slots view (what generates now with live tokens/s, what waits in order)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication, QWidget

from baton.core.engine.fake import FakeEngine
from baton.ui.theme import FOCUSABLE
from tests.ui.conftest import wait_idle
from tests.ui.test_local_slots import SlotEngine

LONG = "A line that goes on " * 30 + "\n\n```python\n" + "x = '" + "y" * 400 + "'\n```\n"


def _inside(w: QWidget, window: QWidget) -> bool:
    top_left = w.mapTo(window, QPoint(0, 0))
    return window.rect().contains(QRect(top_left, w.size())) and w.isVisible() and w.width() > 20


def test_a_small_window_keeps_the_composer_usable_and_nothing_wider_than_it(qtbot, make_window):
    engine = FakeEngine("fake-local")
    engine.enqueue(LONG)
    h = make_window(engine=engine)
    w = h.window
    for width, height in ((480, 360), (640, 480), (1280, 800)):
        w.resize(width, height)
        qtbot.waitUntil(lambda width=width: w.width() == width, timeout=2000)
        assert w.height() == height, "the window refused to get this small"
        assert w.sidebar.isVisible() == (width >= 720)
        for control in (w.composer.send_button, w.composer.stop_button, w.composer.edit):
            assert _inside(control, w), (width, control.objectName(), control.geometry())
        assert w.composer.edit.height() >= w.composer.edit.fontMetrics().lineSpacing() * 2
    w.resize(480, 360)
    qtbot.waitUntil(lambda: w.width() == 480, timeout=2000)
    w.session.send("a long answer please", "local")
    wait_idle(qtbot, h)
    QApplication.processEvents()
    viewport = w.chat.viewport().width()
    assert w.chat.widget().width() <= viewport + 1, "the chat grew wider than the window"
    for bubble in w.chat.bubbles():
        assert bubble.width() <= viewport
    w.actions_.toggle_sidebar.trigger()  # Ctrl+B brings the thread list back in a narrow window
    assert w.sidebar.isVisible() and w.width() == 480


def test_the_power_panel_never_resizes_the_window(qtbot, make_window):
    h = make_window()
    w = h.window
    for width in (640, 1000):
        w.resize(width, 600)
        qtbot.waitUntil(lambda width=width: w.width() == width, timeout=2000)
        w.toggle_power()
        QApplication.processEvents()
        assert w.power_dock.isVisible() and w.width() == width
        w.toggle_power()
        QApplication.processEvents()
        assert not w.power_dock.isVisible() and w.width() == width


def test_every_control_that_takes_focus_shows_it(qtbot, make_window):
    from PySide6.QtCore import Qt

    engine = FakeEngine("fake-local")
    engine.enqueue("Here:\n\n```sh\nls\n```\n")
    h = make_window(engine=engine, with_endpoint=True)
    w = h.window
    w.session.send("list files", "local")
    wait_idle(qtbot, h)
    qss = QApplication.instance().styleSheet()
    tab_stops = [c for c in w.findChildren(QWidget) if c.isVisible() and c.focusPolicy() & Qt.FocusPolicy.TabFocus]
    assert len(tab_stops) >= 10
    missing = set()
    for c in tab_stops:
        names = [cls.__name__ for cls in type(c).__mro__]
        if not any(f"{n}:focus" in qss for n in names if n in FOCUSABLE):
            missing.add(type(c).__name__)
    assert not missing, f"no focus style for {missing}"
    # Tab really moves focus through the answer's buttons, and each one is drawn with the ring when focused
    w.chat.bubbles()[-1].copy_button.setFocus()
    assert w.chat.bubbles()[-1].copy_button.hasFocus()


def test_stop_says_stopping_at_once(qtbot, make_window):
    engine = FakeEngine("fake-local", token_delay_s=0.05)
    engine.enqueue([f"word{i} " for i in range(200)])
    h = make_window(engine=engine)
    w = h.window
    w.session.send("talk", "local")
    qtbot.waitUntil(lambda: w.chat.live_text is not None and "word2" in w.chat.live_text.text(), timeout=5000)
    w.composer.stop_button.click()
    # no event processed yet: the feedback is immediate
    assert w.chat.live_status.text() == "Stopping…" and w.chat.live_status.isVisibleTo(w.chat.live_text)
    assert w.composer.note.text() == "Stopping…" and not w.composer.stop_button.isEnabled()
    assert w.queue_model.rows()[0].stopping
    wait_idle(qtbot, h)
    assert w.composer.send_button.isEnabled() and w.composer.note.text() == ""


def test_the_slots_show_live_speed_per_thread_and_the_waiting_order(qtbot, make_window):
    engine = SlotEngine(parallel=2, pieces=80)
    h = make_window(engine=engine)
    w = h.window
    w.session.new_thread()
    w.session.send("warm up", "local")
    wait_idle(qtbot, h)
    for word in ("alpha", "bravo", "charlie", "delta"):
        w.session.new_thread()
        w.session.send(f"{word} question", "local")
    qtbot.waitUntil(lambda: sum(r.running and r.tokens_per_s > 0 for r in w.queue_model.rows()) == 2, timeout=8000)
    rows = w.queue_model.rows()
    assert [r.running for r in rows] == [True, True, False, False]
    assert [r.prompt for r in rows[2:]] == ["charlie question", "delta question"]
    shown = [w.queue_model.index(i, 0).data() for i in range(4)]
    assert "tok/s" in shown[0] and "tok/s" in shown[1]
    assert shown[2].startswith("1. ") and shown[3].startswith("2. ")
    assert w.queue_view.isVisible() and w.slots_title.text() == "SLOTS"
    wait_idle(qtbot, h, timeout_ms=30000)
    assert w.queue_model.rows() == [] and w.queue_empty.isVisible()
