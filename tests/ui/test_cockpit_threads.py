"""The cockpit's thread list: the settings dialog (saved, applied to the next question, spend and burn shown), pins
and the stable order across a restart, archive with its section, delete with Undo and for real after it."""

from __future__ import annotations

from pathlib import Path

from baton.core.engine.fake import FakeEngine
from tests.ui.conftest import wait_idle

SHOTS = Path("/tmp/shots")


def _titles(w) -> list[str]:
    return [r.title for r in w.thread_model.rows()]


def _thread(h, title: str, answer_j: float = 0.0) -> str:
    store = h.service.store
    t = store.create_thread(title)
    q = store.add_message(t.id, "user", f"about {title}")
    a = store.begin_answer(t.id, "m", "local", parent_id=q.id)
    store.finish_answer(a.id, f"answer on {title}", "done", {"energy": {"total_j": answer_j}, "route": {"tier": "local"}})
    return t.id


def test_settings_dialog_saves_and_the_next_question_uses_them(qtbot, make_window):
    engine = FakeEngine("fake-local")
    h = make_window(engine=engine)
    w = h.window
    tid = _thread(h, "budgeted", answer_j=1200.0)
    w.thread_actions.resync(tid)
    dlg = w.thread_actions.open_settings(tid)
    qtbot.waitUntil(dlg.isVisible)
    dlg.system.setPlainText("Answer like a pirate.")
    dlg.temperature.setValue(0.3)
    dlg.tier.setCurrentIndex(dlg.tier.findData("local"))
    dlg.budget_j.setValue(5000)
    dlg.budget_usd.setValue(0.5)
    assert "1200 J" in dlg.spend.text() and "per hour" in dlg.spend.text()
    assert dlg.spent_j.isVisible() and "3,800 J left" in dlg.spent_j.format()
    SHOTS.mkdir(parents=True, exist_ok=True)
    dlg.grab().save(str(SHOTS / "thread_settings.png"))
    dlg.temperature.setValue(-0.05)  # back to the default...
    dlg.temperature.setValue(0.3)  # ...and set again
    assert dlg.save()
    s = h.service.store.thread_settings(tid)
    assert (s.system_prompt, s.temperature, s.tier_mode, s.budget_j, s.budget_usd) == \
        ("Answer like a pirate.", 0.3, "local", 5000.0, 0.5)
    w.session.select(tid)
    w.session.send("hello there")
    wait_idle(qtbot, h)
    req = engine.requests[-1]
    assert req.messages[0].content == "Answer like a pirate." and req.temperature == 0.3


def test_a_bad_setting_is_said_in_the_dialog_and_nothing_changes(qtbot, make_window):
    h = make_window()
    tid = _thread(h, "t")
    w = h.window
    w.thread_actions.resync(tid)
    dlg = w.thread_actions.open_settings(tid)
    dlg.model.setEditText("")
    dlg.model.setCurrentIndex(0)
    values = dlg.values()
    assert values["model"] == "" and values["temperature"] is None and values["budget_j"] is None
    dlg.tier.addItem("nowhere", "moon")
    dlg.tier.setCurrentIndex(dlg.tier.count() - 1)
    assert not dlg.save()
    assert "tier mode" in dlg.error.text() and dlg.isVisible()
    assert h.service.store.thread_settings(tid).tier_mode == "auto"
    dlg.reject()


def test_pins_and_order_hold_across_activity_and_a_restart(qtbot, make_window):
    h = make_window()
    ids = [_thread(h, n) for n in ("one", "two", "three")]
    w = h.window
    w.thread_actions.resync()
    assert _titles(w) == ["three", "two", "one"]
    w.thread_actions.toggle_pin(ids[0])
    assert _titles(w) == ["one", "three", "two"]
    assert w.thread_model.get(ids[0]).pinned
    assert w.thread_model.data(w.thread_model.index(0, 0)).startswith("★ one")
    w.session.select(ids[1])  # activity in "two" does not move it
    w.session.send("more on two")
    wait_idle(qtbot, h)
    w.thread_actions.resync()
    assert _titles(w) == ["one", "three", "two"]
    new = w.session.new_thread()  # a new thread goes below the pinned one, where it will be after a restart
    qtbot.waitUntil(lambda: _titles(w)[:2] == ["one", ""], timeout=3000)
    assert w.session.current_id == new
    h.service.store.add_message(new, "user", "keep me")  # a thread nobody asked in is dropped at close
    menu = w.thread_actions.menu(ids[0])
    assert [a.text() for a in menu.actions() if a.text()] == ["Settings…", "Unpin", "Rename…", "Archive", "Delete"]
    w.close()
    h2 = make_window()
    assert _titles(h2.window) == ["one", "keep me", "three", "two"]
    h2.window.session.select_index(3)  # Ctrl+4
    assert h2.window.session.current_id == ids[1]


def test_archive_moves_a_thread_to_its_section_and_back(qtbot, make_window):
    h = make_window()
    a, b = _thread(h, "keep"), _thread(h, "old news")
    w = h.window
    w.thread_actions.resync(b)
    w.thread_actions.archive(b)
    assert _titles(w) == ["keep"] and w.session.current_id == a
    w.thread_actions.archived_button.click()
    assert _titles(w) == ["old news"]
    assert [x.text() for x in w.thread_actions.menu(b).actions() if x.text()][3] == "Unarchive"
    w.thread_actions.archive(b)
    assert _titles(w) == []
    w.thread_actions.set_show_archived(False)
    assert sorted(_titles(w)) == ["keep", "old news"]


def test_delete_has_an_undo_then_is_for_real(qtbot, make_window):
    h = make_window()
    a, b = _thread(h, "keep"), _thread(h, "doomed")
    w = h.window
    w.thread_actions.resync(b)
    w.delete_thread()  # File > Delete thread: no question asked, Undo offered instead
    assert _titles(w) == ["keep"] and w.thread_actions.toast.isVisible()
    assert [t.id for t in h.service.store.list_threads()] == [a]
    w.grab().save(str(SHOTS / "undo_delete.png")) if SHOTS.exists() else None
    w.thread_actions.undo_button.click()
    assert sorted(_titles(w)) == ["doomed", "keep"] and w.session.current_id == b
    assert not w.thread_actions.toast.isVisible()
    w.thread_actions.delete(b)
    w.thread_actions.timer.setInterval(50)
    w.thread_actions.timer.start()
    qtbot.waitUntil(lambda: not w.thread_actions.toast.isVisible(), timeout=3000)
    count = h.service.store.connection().execute("SELECT COUNT(*) FROM messages WHERE thread_id = ?", (b,))
    assert count.fetchone()[0] == 0
    assert not h.service.store.restore_thread(b)


def test_a_delete_pending_at_close_is_finished(qtbot, make_window):
    h = make_window()
    b = _thread(h, "doomed")
    w = h.window
    w.thread_actions.resync(b)
    w.thread_actions.delete(b)
    w.close()
    row = h.service.store.connection().execute("SELECT COUNT(*) FROM threads WHERE id = ?", (b,)).fetchone()
    assert row[0] == 0
