"""Escalation: Ctrl+E on the last answer, automatic escalation after a weak local answer, and ask mode,
where nothing leaves before the user has seen exactly what would be sent."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from baton.config import Settings
from baton.core.engine.fake import FakeEngine
from baton.ui.chat import Bubble
from baton.ui.escalation_dialog import EscalationDialog
from tests.ui.conftest import activate, wait_idle


def _dialog(window) -> EscalationDialog | None:
    return next((d for d in window.dialogs if isinstance(d, EscalationDialog) and d.isVisible()), None)


def test_ctrl_e_escalates_the_last_answer_to_the_endpoint(qtbot, make_window):
    local = FakeEngine("fake-local")
    local.enqueue("I think it is 5")
    cloud = FakeEngine("big-model")
    cloud.enqueue("It is 4.")
    h = make_window(engine=local, cloud=cloud, with_endpoint=True)
    w = h.window
    w.session.send("what is 2+2?", "auto")
    wait_idle(qtbot, h)
    bars = w.chat.receipt_bars()
    assert bars[-1].escalate_button is not None  # the latest answer offers Escalate
    activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: w.dispatcher.busy() or len(cloud.requests) == 1, timeout=3000)
    wait_idle(qtbot, h)
    assert cloud.requests and cloud.requests[-1].messages[-1].content == "what is 2+2?"
    tid = w.session.current_id
    receipts = list(h.service.store.thread_receipts(tid).values())
    assert {r["route"]["tier"] for r in receipts} == {"local", "cloud"}
    assert w.thread_model.get(tid).state == "escalated"
    bars = w.chat.receipt_bars()
    assert bars[-1].badge.text().startswith("this computer · big-model")  # the endpoint is on loopback
    assert bars[-1].badge.property("tier") == "cloud"
    assert "It is 4." in w.chat.settled_texts()[-1]
    # The escalation is a new version in place: the local answer is an earlier version, not a second bubble.
    assert len(bars) == 1
    assert [m.status for m in h.service.store.history(tid) if m.role == "assistant"] == ["replaced", "done"]


def test_escalate_without_an_endpoint_explains_how_to_add_one(qtbot, make_window):
    h = make_window()
    w = h.window
    w.session.send("hi", "auto")
    wait_idle(qtbot, h)
    w.actions_.escalate.setEnabled(True)
    w.actions_.escalate.trigger()
    assert not w.dispatcher.busy()
    assert "Settings" in w.statusBar().currentMessage()


def test_weak_local_answer_escalates_on_its_own_and_shows_both(qtbot, make_window):
    local = FakeEngine("fake-local", token_delay_s=0.01)
    local.enqueue(["maybe ", "seven"])
    cloud = FakeEngine("big-model", token_delay_s=0.01)
    cloud.enqueue(["It ", "is ", "12."])
    h = make_window(engine=local, cloud=cloud, with_endpoint=True, escalate_after=True)
    w = h.window
    # a prose question: stage one would skip the local model on bare arithmetic, which it is hopeless at
    w.session.send("Which word rhymes with twelve?", "auto")
    wait_idle(qtbot, h)
    tid = w.session.current_id
    statuses = [m.status for m in h.service.store.history(tid) if m.role == "assistant"]
    assert statuses == ["escalated", "done"]
    replaced = [b for b in w.chat.findChildren(Bubble) if b.property("bubble") == "replaced"]
    assert len(replaced) == 1 and "replaced by an escalation" in replaced[0].role_label.text()
    last = w.chat.receipt_bars()[-1]
    assert "escalated" in last.badge.text()
    last.toggle.setChecked(True)
    # "Why" says it in plain words; the numbers wait behind "details"
    assert last.why.isVisibleTo(last) and not last.details.isVisibleTo(last)
    assert "looked weak" in last.why.text() and "lan-big" in last.why.text()
    assert "confidence" not in last.why.text() and "escalate:" not in last.why.text()
    last.details_toggle.setChecked(True)
    assert last.details.isVisibleTo(last)
    assert "escalated: escalate: confidence" in last.details.text()
    assert w.thread_model.get(tid).state == "escalated"


def _ask_mode() -> Settings:
    s = Settings()
    s.routing.mode = "ask"
    return s


def test_ask_mode_shows_exactly_what_would_be_sent_and_sends_on_yes(qtbot, make_window):
    local = FakeEngine("fake-local")
    local.enqueue("not sure")
    cloud = FakeEngine("big-model")
    cloud.enqueue("Paris.")
    h = make_window(engine=local, cloud=cloud, settings=_ask_mode(), with_endpoint=True, escalate_after=True)
    w = h.window
    w.session.send("capital of France?", "auto")
    qtbot.waitUntil(lambda: _dialog(w) is not None, timeout=5000)
    dlg = _dialog(w)
    assert "capital of France?" in dlg.outgoing.toPlainText()
    assert "lan-big" in dlg.windowTitle()
    labels = " ".join(lbl.text() for lbl in dlg.findChildren(QLabel))
    assert "Estimated cost" not in labels or "$" in labels
    assert "estimate from the endpoint's prices" in labels and "127.0.0.1:9" in labels
    assert cloud.requests == []  # nothing has left before the answer
    assert w.thread_model.get(w.session.current_id).state == "waiting"
    qtbot.mouseClick(dlg.send_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, h)
    assert len(cloud.requests) == 1
    assert "Paris." in w.chat.settled_texts()[-1]


def test_ask_mode_no_keeps_the_local_answer_and_sends_nothing(qtbot, make_window):
    local = FakeEngine("fake-local")
    local.enqueue("Lyon, I believe")
    cloud = FakeEngine("big-model")
    h = make_window(engine=local, cloud=cloud, settings=_ask_mode(), with_endpoint=True, escalate_after=True)
    w = h.window
    w.session.send("capital of France?", "auto")
    qtbot.waitUntil(lambda: _dialog(w) is not None, timeout=5000)
    qtbot.mouseClick(_dialog(w).keep_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, h)
    assert cloud.requests == []
    tid = w.session.current_id
    answers = [m for m in h.service.store.history(tid) if m.role == "assistant"]
    assert [m.content for m in answers] == ["Lyon, I believe"]
    assert w.thread_model.get(tid).state == "idle"
    assert "not approved" in w.chat.receipt_bars()[-1].details.text()


def test_stop_while_waiting_for_approval_closes_the_question(qtbot, make_window):
    local = FakeEngine("fake-local")
    local.enqueue("hmm")
    cloud = FakeEngine("big-model")
    h = make_window(engine=local, cloud=cloud, settings=_ask_mode(), with_endpoint=True, escalate_after=True)
    w = h.window
    w.session.send("question", "auto")
    qtbot.waitUntil(lambda: _dialog(w) is not None, timeout=5000)
    w.actions_.stop.trigger()
    wait_idle(qtbot, h)
    assert cloud.requests == []
    for d in list(w.dialogs):
        d.reject()


def test_accept_and_escalate_are_recorded_as_feedback_the_router_learns_from(qtbot, make_window):
    local = FakeEngine("fake-local")
    local.enqueue("Tides come from the moon's pull.")
    local.enqueue("Maybe the wind?")
    cloud = FakeEngine("big-model")
    cloud.enqueue("The moon and the sun pull the oceans.")
    h = make_window(engine=local, cloud=cloud, with_endpoint=True)
    w = h.window
    w.session.send("why are there tides?", "auto")
    wait_idle(qtbot, h)
    first = w.chat.receipt_bars()[-1]
    qtbot.mouseClick(first.accept_button, Qt.MouseButton.LeftButton)
    assert not first.accept_button.isEnabled()
    assert [f.kind for f in h.service.store.feedback(first.message_id)] == ["accept"]
    saved = h.service.store.kv_get("router.learned.v1")
    assert saved, "the router saved nothing it learned from the accepted answer"
    w.session.send("and why twice a day?", "auto")
    wait_idle(qtbot, h)
    second = w.chat.receipt_bars()[-1]
    assert first.accept_button is None or not first.accept_button.isVisibleTo(first)  # only on the newest
    w.actions_.escalate.trigger()
    wait_idle(qtbot, h)
    assert [f.kind for f in h.service.store.feedback(second.message_id)] == ["escalate"]
    assert h.service.store.kv_get("router.learned.v1") != saved  # the escalation taught it too
