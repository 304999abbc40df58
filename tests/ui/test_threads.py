"""Many threads at once: the local queue, concurrent cloud requests, switching without mixing text."""

from __future__ import annotations

from PySide6.QtCore import Qt

from baton.core.engine.fake import FakeEngine
from tests.ui.conftest import activate, wait_idle

ALPHA = [f"alpha{i} " for i in range(60)]
BRAVO = [f"bravo{i} " for i in range(40)]


def test_two_threads_generate_and_switching_never_mixes_their_text(qtbot, make_window):
    engine = FakeEngine("fake-local", token_delay_s=0.02)
    engine.enqueue(ALPHA)
    engine.enqueue(BRAVO)
    h = make_window(engine=engine)
    w = h.window
    a = w.session.new_thread()
    w.session.send("first question", "auto")
    b = w.session.new_thread()
    w.session.send("second question", "auto")
    # One local engine: A runs, B waits in the visible queue.
    qtbot.waitUntil(lambda: w.thread_model.get(a).state == "generating", timeout=5000)
    assert w.thread_model.get(b).state == "queued"
    rows = w.queue_model.rows()
    assert [r.running for r in rows] == [True, False]
    assert rows[1].prompt == "second question"
    assert "ahead" in w.chat.live_status.text().lower() or "queued" in w.chat.live_status.text().lower()
    # Switch back and forth while A streams: each view shows only its own thread.
    seen_a, seen_b = set(), set()
    for _ in range(12):
        w.session.select(a)
        qtbot.wait(40)
        if w.chat.live_text is not None:
            seen_a.add(w.chat.live_text.text())
        w.session.select(b)
        qtbot.wait(40)
        if w.chat.live_text is not None:
            seen_b.add(w.chat.live_text.text())
    assert any(t for t in seen_a), "thread A never showed streaming text"
    assert all("bravo" not in t for t in seen_a)
    assert all("alpha" not in t for t in seen_b)
    w.session.select(a)
    wait_idle(qtbot, h, timeout_ms=20000)
    # Both settled in their own threads, in the store and in the view.
    answers = {tid: [m.content for m in h.service.store.history(tid) if m.role == "assistant"] for tid in (a, b)}
    assert answers[a] == ["".join(ALPHA)]
    assert answers[b] == ["".join(BRAVO)]
    assert any("alpha59" in t for t in w.chat.settled_texts())
    assert not any("bravo" in t for t in w.chat.settled_texts())
    # B finished while A was shown: it is marked and announced.
    assert w.thread_model.get(b).unread
    assert "second question" in w.statusBar().currentMessage()
    w.session.select(b)
    assert not w.thread_model.get(b).unread
    assert any("bravo39" in t for t in w.chat.settled_texts())
    assert not any("alpha" in t for t in w.chat.settled_texts())


def test_the_queue_can_be_reordered_and_runs_in_the_new_order(qtbot, make_window):
    engine = FakeEngine("fake-local", token_delay_s=0.02)
    for word in ("one", "two", "three"):
        engine.enqueue([f"{word} "] * 30)
    h = make_window(engine=engine)
    w = h.window
    for q in ("q1", "q2", "q3"):
        w.session.new_thread()
        w.session.send(q, "auto")
    qtbot.waitUntil(lambda: len(w.queue_model.rows()) == 3 and w.queue_model.rows()[0].running, timeout=5000)
    assert [r.prompt for r in w.queue_model.rows()] == ["q1", "q2", "q3"]
    # Select q3 in the queue panel and move it up with the keyboard action (Alt+Up).
    w.queue_view.setCurrentIndex(w.queue_model.index(2, 0))
    w.actions_.queue_up.trigger()
    assert [r.prompt for r in w.queue_model.rows()] == ["q1", "q3", "q2"]
    assert w.queue_view.currentIndex().row() == 1
    wait_idle(qtbot, h, timeout_ms=20000)
    asked = [r.messages[-1].content for r in engine.requests]
    assert asked == ["q1", "q3", "q2"]


def test_cancelling_a_queued_answer_gives_the_question_back(qtbot, make_window):
    engine = FakeEngine("fake-local", token_delay_s=0.02)
    engine.enqueue(["busy "] * 40)
    h = make_window(engine=engine)
    w = h.window
    w.session.new_thread()
    w.session.send("runs", "auto")
    b = w.session.new_thread()
    w.session.send("waits", "auto")
    qtbot.waitUntil(lambda: len(w.queue_model.rows()) == 2, timeout=5000)
    w.queue_view.setCurrentIndex(w.queue_model.index(1, 0))
    w.actions_.queue_cancel.trigger()
    assert w.thread_model.get(b).state == "idle"
    assert w.composer.text() == "waits"
    wait_idle(qtbot, h)
    assert [r.messages[-1].content for r in engine.requests] == ["runs"]


def test_a_cloud_request_runs_while_the_local_engine_is_busy(qtbot, make_window):
    engine = FakeEngine("fake-local", token_delay_s=0.03)
    engine.enqueue(["slow "] * 80)
    cloud = FakeEngine("big-model", token_delay_s=0.01)
    cloud.enqueue(["fast "] * 10)
    h = make_window(engine=engine, cloud=cloud, with_endpoint=True)
    w = h.window
    a = w.session.new_thread()
    w.session.send("local one", "auto")
    b = w.session.new_thread()
    w.session.send("cloud one", "cloud")
    qtbot.waitUntil(lambda: len(w.dispatcher.running()) == 2, timeout=5000)
    qtbot.waitUntil(lambda: w.dispatcher.job_for_thread(b) is None, timeout=10000)
    assert w.dispatcher.job_for_thread(a) is not None  # the local answer is still going
    receipt = h.service.store.thread_receipts(b)
    assert [r["route"]["tier"] for r in receipt.values()] == ["cloud"]
    wait_idle(qtbot, h, timeout_ms=20000)


def test_keyboard_new_thread_and_switching(qtbot, make_window):
    h = make_window()
    w = h.window
    activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(w, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert w.thread_model.rowCount() == 2
    first, second = (r.id for r in w.thread_model.rows())
    assert w.session.current_id == first  # the newest thread is on top and selected
    qtbot.keyClick(w, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert w.session.current_id == second
    qtbot.keyClick(w, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert w.session.current_id == first
    assert w.thread_view.currentIndex().row() == 0


def test_untitled_empty_threads_are_dropped_on_close(qtbot, make_window):
    h = make_window()
    w = h.window
    w.session.new_thread()
    kept = w.session.new_thread()
    w.session.rename(kept, "Ideas for later")
    asked = w.session.new_thread()
    w.session.send("hello", "auto")
    wait_idle(qtbot, h)
    w.close()
    left = {t.id for t in h.service.store.list_threads()}
    assert left == {kept, asked}
