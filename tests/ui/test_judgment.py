"""Judgment in plain words: the badge says when Baton is unsure, "Why" says in a sentence or two why the answer ran
where it did and why it was kept or escalated (the numbers behind "details"), where it ran in words people use,
whether the secret check ran; refusals and escalation notes are still there after a restart."""

from __future__ import annotations

import pytest

from baton.config import Endpoint, Settings
from baton.core.engine.fake import FakeEngine
from baton.ui.judgment import badge, secret_check_sentence, where_words, why_sentences
from tests.ui.conftest import wait_idle


def _receipt(tier="local", where=None, escalated=False, reason="local first", finish="stop", notices=(),
             endpoint=None, model="qwen", **signals):
    route = {"tier": tier, "model": model, "endpoint": endpoint, "escalated": escalated, "reason": reason,
             "signals": signals}
    if where is not None:
        route["where"] = where
    return {"route": route, "finish_reason": finish, "notices": list(notices)}


KEPT = _receipt(score=0.8, threshold=0.5, may_escalate=True)
WEAK_NOWHERE = _receipt(score=0.2, threshold=0.5, may_escalate=False,
                        no_escalation_reason="no endpoint is configured (add one with `baton endpoints add`)")
WEAK_PINNED = _receipt(reason="pinned to the local model by the user", score=0.1, threshold=0.6,
                       may_escalate=False, no_escalation_reason=None)


@pytest.mark.parametrize("receipt, status, text, kind", [
    (KEPT, "done", "this computer · qwen", "local"),
    (_receipt(where="this_computer"), "done", "this computer · qwen", "local"),
    (WEAK_NOWHERE, "done", "unsure · this computer · qwen", "unsure"),
    (WEAK_PINNED, "done", "unsure · this computer · qwen", "unsure"),
    (_receipt(finish="length", score=0.9, threshold=0.5), "done", "unsure · this computer · qwen", "unsure"),
    (_receipt(score=0.9, threshold=0.5), "loop", "unsure · this computer · qwen", "unsure"),
    (_receipt("cloud", "this_computer", endpoint="lan", model="big"), "done", "this computer · big", "cloud"),
    (_receipt("cloud", "network", endpoint="lan", model="big"), "done", "your network · big", "cloud"),
    (_receipt("cloud", "cloud", True, endpoint="oa", model="gpt", score=0.1, threshold=0.5), "done",
     "a cloud · gpt · escalated", "cloud"),
    (_receipt("cloud", model="gpt"), "done", "a cloud · gpt", "cloud"),  # stored before route.where existed
    (_receipt(), "failed", "failed · qwen", "failed"),
])
def test_the_badge_says_where_and_when_baton_is_unsure(receipt, status, text, kind):
    b = badge(receipt, status)
    assert (b.text, b.kind) == (text, kind)
    assert b.tip


@pytest.mark.parametrize("receipt, wanted, unwanted", [
    (KEPT, ["tries this computer first", "passed Baton's checks", "Nothing left this computer."], ["unsure"]),
    (WEAK_NOWHERE, ["unsure", "kept it", "no stronger tier is set up"], ["p_strong", "0.2", "escalate:"]),
    (WEAK_PINNED, ["You asked for this computer", "unsure", "you asked for this tier"], ["0.1"]),
    (_receipt(finish="length"), ["length limit"], []),
    (_receipt("cloud", "cloud", True, endpoint="oa", model="gpt", reason="escalated: escalate: confidence 0.1 < 0.5"),
     ["looked weak", "asked oa on a cloud", "secret check ran"], ["confidence", "0.1"]),
    (_receipt("cloud", "this_computer", reason="pinned to lan by the user", endpoint="lan"),
     ["You asked for lan", "on this computer", "did not run: the text stayed on this computer"], []),
    (_receipt("cloud", "network", reason="pinned to lan by the user", endpoint="lan", notices=["redacted line 1"]),
     ["your network", "replaced 1 secret with"], []),
    (_receipt("cloud", "cloud", reason="local is hopeless", endpoint="oa", p_local_prompt=0.05, skip_below=0.2),
     ["usually go wrong on this computer", "straight to oa"], ["0.05"]),
    (_receipt("cloud", "cloud", reason="prompt (9000) + answer budget (512) tokens exceed the local context (4096)",
              endpoint="oa"), ["too big for the model on this computer"], ["9000"]),
])
def test_why_is_one_or_two_plain_sentences(receipt, wanted, unwanted):
    why = why_sentences(receipt)
    for w in wanted:
        assert w in why, why
    for u in unwanted:
        assert u not in why, why
    assert why.count(". ") <= 3


def test_where_words_and_the_secret_check():
    assert [where_words(_receipt("cloud", w)) for w in ("this_computer", "network", "cloud")] == [
        "this computer", "your network", "a cloud"]
    assert secret_check_sentence(_receipt("cloud", "network")).startswith("The secret check ran")
    assert "stayed on this computer" in secret_check_sentence(_receipt("cloud", "this_computer"))


def test_an_unsure_local_answer_has_its_own_badge_in_the_window(qtbot, make_window):
    engine = FakeEngine("fake-local")
    engine.enqueue("17 x 23 = 389")
    h = make_window(engine=engine, escalate_after=True)  # every local answer scores under the threshold
    w = h.window
    w.session.send("What is 17 x 23? Explain the rhyme.", "auto")
    wait_idle(qtbot, h)
    bar = w.chat.receipt_bars()[-1]
    assert bar.badge.property("tier") == "unsure" and bar.badge.text().startswith("unsure")
    bar.toggle.setChecked(True)
    assert "unsure" in bar.why.text() and "no stronger tier is set up" in bar.why.text()
    assert "threshold" not in bar.why.text()
    assert not bar.details.isVisibleTo(bar)
    bar.details_toggle.setChecked(True)
    assert "threshold" in bar.details.text() and bar.details.isVisibleTo(bar)


def test_a_refusal_and_an_escalation_note_are_shown_after_a_restart(qtbot, make_window):
    settings = Settings()
    settings.endpoints = [Endpoint("lan", "http://192.168.1.20:8080/v1", "big-model")]
    cloud = FakeEngine("big-model")
    h = make_window(settings=settings, cloud=cloud)
    w = h.window
    w.session.send("deploy with AKIAZ7Q2K4M8N3P5R6T1 please", "cloud")
    wait_idle(qtbot, h)
    assert cloud.requests == [], "nothing was sent"
    tid = w.session.current_id
    w.close()
    h.service.close()
    again = make_window(settings=settings, cloud=FakeEngine("big-model"))  # the app opened again
    w2 = again.window
    w2.session.select(tid)
    shown = " ".join(w2.chat.settled_texts())
    assert "Not sent" in " ".join(b.role_label.text() for b in w2.chat.bubbles())
    assert "AKIA" in shown or "REDACTED" in shown.upper() or "deploy" in shown
    notes = [m.note for m in again.service.store.history(tid) if m.status == "refused"]
    assert notes and notes[0] in shown


def test_an_escalation_note_survives_a_restart(qtbot, make_window):
    local = FakeEngine("fake-local")
    local.enqueue("maybe seven")
    cloud = FakeEngine("big-model")
    cloud.enqueue("It is 12.")
    h = make_window(engine=local, cloud=cloud, with_endpoint=True, escalate_after=True)
    w = h.window
    w.session.send("Which word rhymes with twelve?", "auto")
    wait_idle(qtbot, h)
    tid = w.session.current_id
    w.close()
    h.service.close()
    again = make_window(with_endpoint=True)
    again.window.session.select(tid)
    shown = " ".join(again.window.chat.settled_texts())
    assert "escalated to lan-big" in shown and "maybe seven" in shown and "It is 12." in shown
