"""What another writer commits (the in-app API server, `baton ask` in a terminal) shows up in the open window:
new threads join the sidebar in the stable order, the shown thread gains the new turn, and nothing happens when
nothing changed (ui/store_watch.py)."""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from baton.core.store import Store


def _other_writer(h) -> Store:  # noqa: ANN001
    """A second connection to the same database file, as another process would have."""
    return Store(h.paths.db_file)


def test_a_thread_written_elsewhere_joins_the_sidebar(qtbot, make_window):
    h = make_window()
    w = h.window
    assert w.store_watch.poll() is False  # nothing committed elsewhere: no sync
    other = _other_writer(h)
    try:
        q = other.add_message(None, "user", "What is a hash table?", title="Hash tables")
        other.add_message(q.thread_id, "assistant", "A map from keys to values.")
    finally:
        other.close()
    assert w.store_watch.poll() is True
    rows = w.thread_model.rows()
    assert [r.title for r in rows if r.id == q.thread_id] == ["Hash tables"]
    assert [r.id for r in rows] == [t.id for t in w.backend.list_threads()]  # in the stable order
    assert w.store_watch.poll() is False  # seen: no second sync


def test_the_shown_thread_gains_a_turn_written_elsewhere(qtbot, make_window):
    h = make_window()
    w = h.window
    tid = w.session.new_thread()
    other = _other_writer(h)
    try:
        q = other.add_message(tid, "user", "Name a prime number.")
        other.add_message(tid, "assistant", "Seven is prime.", parent_id=q.id)
    finally:
        other.close()
    QApplication.sendEvent(w, QEvent(QEvent.Type.WindowActivate))  # coming back from the terminal
    assert w.session.current_id == tid
    shown = [m.content for m in w.session._shown]
    assert shown[-2:] == ["Name a prime number.", "Seven is prime."], shown


def test_following_polls_only_while_the_api_server_runs(qtbot, make_window):
    h = make_window()
    w = h.window
    assert not w.store_watch.timer.isActive()  # an idle app has no timer for this
    w.store_watch.follow(True)
    assert w.store_watch.timer.isActive()
    other = _other_writer(h)
    try:
        other.add_message(None, "user", "Hello from a client", title="From the API")
    finally:
        other.close()
    qtbot.waitUntil(lambda: any(r.title == "From the API" for r in w.thread_model.rows()), timeout=5000)
    w.store_watch.follow(False)
    assert not w.store_watch.timer.isActive()


def test_the_look_waits_while_an_answer_of_this_window_streams(qtbot, make_window):
    from baton.core.engine.fake import FakeEngine
    from tests.ui.conftest import wait_idle

    engine = FakeEngine("fake-local", token_delay_s=0.02)
    engine.enqueue(["tok "] * 30)
    h = make_window(engine=engine)
    w = h.window
    w.session.send("hello", "auto")
    qtbot.waitUntil(w.dispatcher.busy, timeout=2000)
    other = _other_writer(h)
    try:
        other.add_message(None, "user", "Written elsewhere", title="Elsewhere")
    finally:
        other.close()
    assert w.store_watch.poll() is False  # the streaming answer is not rebuilt under the user's eyes
    wait_idle(qtbot, h)
    assert w.store_watch.poll() is True
    assert any(r.title == "Elsewhere" for r in w.thread_model.rows())
