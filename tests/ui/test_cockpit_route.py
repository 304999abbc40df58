"""See before it runs: the composer's route line follows the typed question (debounced, off the GUI thread, never
loading a model), the route control lists each endpoint, and the choice is honoured when the question is sent."""

from __future__ import annotations

from pathlib import Path

from baton.core.engine.fake import FakeEngine
from baton.ui.route_preview import describe
from tests.ui.conftest import wait_idle

SHOTS = Path("/tmp/shots")


def test_the_route_line_follows_the_question_without_loading_a_model(qtbot, make_window):
    engine = FakeEngine("fake-local")
    h = make_window(engine=engine, with_endpoint=True)
    w, rp = h.window, h.window.route_preview
    w.session.new_thread()
    w.composer.edit.setPlainText("Write a haiku about the sea")
    qtbot.waitUntil(lambda: rp.last is not None and rp._call is None, timeout=5000)
    assert rp.last["tier"] == "local"
    assert rp.label.text().startswith("→ This computer") and "local first" in rp.label.text()
    assert h.service.resident_models() == [] and not engine.loaded  # previewing never loads the model
    labels = [w.composer.tier.itemText(i) for i in range(w.composer.tier.count())]
    assert labels == ["Auto", "Local only", "Cloud", "Cloud: lan-big"]
    assert rp.choose("cloud", "lan-big")
    qtbot.waitUntil(lambda: rp.last is not None and rp.last.get("endpoint") == "lan-big", timeout=5000)
    assert rp.label.text().startswith("→ lan-big (big-model)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    w.resize(1100, 700)
    w.composer.grab().save(str(SHOTS / "route_preview.png"))
    # the pick is honoured: the question goes to that endpoint
    w.composer.send()
    wait_idle(qtbot, h)
    answer = [m for m in h.service.store.history(w.session.current_id) if m.role == "assistant"][-1]
    receipt = h.service.store.receipt(answer.id)
    assert receipt["route"]["tier"] == "cloud" and receipt["route"]["endpoint"] == "lan-big"
    assert engine.requests == []  # the local model was never asked


def test_a_threads_tier_mode_and_budget_show_in_the_preview(qtbot, make_window):
    h = make_window(with_endpoint=True)
    w, rp = h.window, h.window.route_preview
    tid = w.session.new_thread()
    h.service.store.set_thread_settings(tid, tier_mode="cloud")
    w.composer.edit.setPlainText("hello")
    qtbot.waitUntil(lambda: rp.last is not None and rp.last["tier"] == "cloud", timeout=5000)
    assert "this thread's tier mode" in rp.label.text()
    h.service.store.set_thread_settings(tid, budget_usd=0.01, tier_mode="auto")
    store = h.service.store
    q = store.add_message(tid, "user", "earlier")
    a = store.begin_answer(tid, "big-model", "cloud", parent_id=q.id)
    store.finish_answer(a.id, "x", "done", {"cost": {"usd": 0.02}, "route": {"tier": "cloud"}})
    rp.choose("cloud", None)
    qtbot.waitUntil(lambda: rp.last is not None and rp.last["tier"] == "refused", timeout=5000)
    assert rp.label.text().startswith("✕ Would be refused") and "dollar budget" in rp.label.text()
    rp.choose("auto", None)
    qtbot.waitUntil(lambda: rp.last is not None and rp.last["tier"] == "local", timeout=5000)
    assert "dollar budget" in rp.label.text()  # said before sending: this one stays on this computer


def test_describe_reads_every_kind_of_preview():
    assert describe({"tier": "refused", "reason": "no"}) == "✕ Would be refused: no"
    line = describe({"tier": "local", "model": "m", "reason": "local first", "escalate_to": "big",
                     "notices": ["budget spent"]})
    assert line == "→ This computer · m — local first; a weak answer would go to big · budget spent"
