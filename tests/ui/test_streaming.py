"""Streaming an answer into the chat view, stopping it, and what the view shows when it settles."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from baton.core.engine.fake import FakeEngine
from baton.ui.chat import Bubble
from tests.ui.conftest import activate, wait_idle

ANSWER = ("Here is **bold** text and code:\n\n```python\ndef double(x):\n    return x * 2\n```\n\n"
          "That is all for now, thank you for asking.")


def pieces(text: str, n: int = 3) -> list[str]:
    return [text[i:i + n] for i in range(0, len(text), n)]


def test_answer_streams_into_the_view_then_renders_markdown_and_a_receipt(qtbot, make_window):
    engine = FakeEngine("fake-local", token_delay_s=0.02)
    engine.enqueue(pieces(ANSWER))
    h = make_window(engine=engine)
    w = h.window
    w.composer.set_text("double a number")
    w.actions_.send.trigger()
    # Part of the answer is visible while the rest is still being generated.
    qtbot.waitUntil(lambda: w.chat.live_text is not None and len(w.chat.live_text.text()) > 10, timeout=5000)
    partial = w.chat.live_text.text()
    assert w.dispatcher.busy()
    # Nothing of the live answer became a window of its own (it would steal the focus and shortcuts).
    assert [x for x in QApplication.topLevelWidgets() if x.isVisible()] == [w]
    assert ANSWER.startswith(partial) and len(partial) < len(ANSWER)
    assert w.composer.stop_button.isEnabled() and not w.composer.send_button.isEnabled()
    wait_idle(qtbot, h)
    # Settled: the live text is gone, markdown is rendered, code is highlighted, the receipt is there.
    assert not w.chat.has_live
    texts = w.chat.settled_texts()
    assert texts[0] == "double a number"
    assert "<strong>bold</strong>" in texts[1]
    code = w.chat.bubbles()[-1].message_body.code_blocks()
    assert len(code) == 1 and code[0].block.text == "def double(x):\n    return x * 2"
    assert "<span style=" in code[0].code.text() and "double" in code[0].code.text()  # highlighted
    assert "That is all for now" in texts[-1]
    bars = w.chat.receipt_bars()
    assert len(bars) == 1
    summary = bars[0].summary.text()
    assert "tok/s" in summary and "TTFT" in summary and " J" in summary and "$" in summary
    assert "(estimated)" in summary or "measured" in summary
    assert bars[0].badge.text().startswith("this computer · fake-local")
    assert "this computer" in bars[0].badge.toolTip()
    assert "local first" in bars[0].details.text()
    # The sidebar shows the thread, named after the question, idle, with its spend.
    row = w.thread_model.rows()[0]
    assert row.title == "double a number" and row.state == "idle" and row.energy_j > 0
    assert not w.composer.stop_button.isEnabled() and w.composer.send_button.isEnabled()


def test_text_reaches_the_gui_in_batches_not_per_token(qtbot, make_window):
    engine = FakeEngine("fake-local")
    engine.enqueue([f"w{i} " for i in range(400)])
    h = make_window(engine=engine)
    batches: list[str] = []
    h.window.dispatcher.textArrived.connect(lambda _job, text: batches.append(text))
    h.window.session.send("count", "auto")
    wait_idle(qtbot, h)
    assert "".join(batches) == "".join(f"w{i} " for i in range(400))
    assert len(batches) < 40  # a signal per token would be 400


def test_escape_stops_the_answer_and_keeps_what_was_said(qtbot, make_window):
    engine = FakeEngine("fake-local", token_delay_s=0.03)
    engine.enqueue([f"word{i} " for i in range(300)])
    h = make_window(engine=engine)
    w = h.window
    activate(qtbot, w)
    w.composer.edit.setFocus()
    w.composer.set_text("talk for a long time")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: w.chat.live_text is not None and "word3 " in w.chat.live_text.text(), timeout=5000)
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Escape)
    wait_idle(qtbot, h)
    tid = w.session.current_id
    answer = [m for m in h.service.store.history(tid) if m.role == "assistant"][-1]
    assert answer.status == "cancelled"
    assert answer.content.startswith("word0 word1 word2 word3 ")
    assert len(answer.content.split()) < 300
    assert w.thread_model.get(tid).state == "idle"
    assert any("(stopped)" in b.role_label.text() for b in w.chat.findChildren(Bubble))


def test_a_failed_answer_says_why_and_gives_the_question_back(qtbot, make_window):
    class Broken(FakeEngine):
        def stream(self, request, cancel=None):
            raise RuntimeError("the weights are on fire")

    h = make_window(engine=Broken("fake-local"))
    w = h.window
    w.session.send("hello?", "auto")
    wait_idle(qtbot, h)
    tid = w.session.current_id
    assert w.thread_model.get(tid).state == "failed"
    errors = [t for t in w.chat.settled_texts() if "weights are on fire" in t]
    assert errors, w.chat.settled_texts()


def test_first_run_shows_an_explanation_and_no_dialog(qtbot, make_window):
    from PySide6.QtWidgets import QApplication, QDialog, QLabel

    h = make_window()
    w = h.window
    assert w.thread_model.rowCount() == 0
    texts = " ".join(label.text() for label in w.chat.findChildren(QLabel))
    assert "receipt" in texts and "Settings" in texts and ".gguf" in texts
    assert QApplication.activeModalWidget() is None
    assert not [d for d in QApplication.topLevelWidgets() if isinstance(d, QDialog) and d.isVisible()]
    assert w.composer.send_button.isEnabled()
