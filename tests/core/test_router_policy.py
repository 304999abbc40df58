"""Stage one and stage two of the router, on real completions from the FakeEngine and a dict-backed store."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from baton.config import Endpoint, RoutingSettings
from baton.core.engine.fake import FakeEngine
from baton.core.errors import ContextOverflow, ModelDoesNotFit, PolicyError, UsageError
from baton.core.router.calibration import LogisticModel
from baton.core.router.features import ALL_NAMES, PROMPT_NAMES, SIGNAL_NAMES
from baton.core.router.learning import KV_KEY
from baton.core.router.policy import Router
from baton.core.router.scoring import Calibration
from baton.core.types import ChatMessage, GenerationRequest, LocalInfo, TokenSignals
from tests.helpers.fakes import MemoryKV


def model(names: list[str], weights: dict[str, float], bias: float) -> LogisticModel:
    w = np.array([weights.get(n, 0.0) for n in names])
    return LogisticModel(list(names), w, bias, np.zeros(len(names)), np.ones(len(names)))


def calibration(margin: float = 0.1, skip_below: float = 0.2) -> Calibration:
    """A hand-made calibration: bigger numbers make local hopeless; a confident answer helps; the next tier
    is right 60% of the time (logit 0.405), whatever the question."""
    s1 = model(PROMPT_NAMES, {"max_digits": -2.0}, 4.0)  # 1 digit: p=.88, 3 digits: p=.12, 4: p=.02
    s2 = model(ALL_NAMES, {"max_digits": -2.0, "mean_lp": 3.0, "no_number": -6.0}, 4.0)
    so = model(SIGNAL_NAMES, {"mean_lp": 3.0}, 0.0)
    st = model(PROMPT_NAMES, {}, 0.405465)
    return Calibration(s1, s2, so, st, {"arithmetic": 0.3, "word_problem": 0.1}, {"arithmetic": 0.6, "word_problem": 0.6},
                       {"arithmetic": 300, "word_problem": 100}, margin, skip_below)


CLOUD = Endpoint(name="cloud", base_url="https://api.example.com/v1", model="big", usd_per_mtok_in=1.0,
                 usd_per_mtok_out=2.0, j_per_token=0.5)
LAN = Endpoint(name="lan", base_url="http://127.0.0.1:8080/v1", model="lan-model")


def router(mode: str = "auto", endpoints: tuple[Endpoint, ...] = (CLOUD,), store: Any = None, offline: bool = False,
           **routing: Any) -> Router:
    return Router(RoutingSettings(mode=mode, **routing), store=store, endpoints=list(endpoints), offline=offline,
                  calibration=calibration())


def ask(text: str) -> list[ChatMessage]:
    return [ChatMessage("system", "be brief"), ChatMessage("user", text)]


LOCAL = LocalInfo(n_ctx=2048, prompt_tokens=40, max_tokens=256, fits=True, model_id="small")


def complete(text: str, mean_lp: float = -0.1, finish: str | None = None):
    eng = FakeEngine()
    eng.enqueue(text, TokenSignals(n_tokens=len(text.split()), mean_top1_logprob=mean_lp, min_top1_logprob=mean_lp - 1,
                                   first_top1_logprob=mean_lp, mean_entropy=0.5, max_entropy=1.0))
    out = [c.completion for c in eng.stream(GenerationRequest(ask("q"), max_tokens=100)) if c.completion][0]
    if finish:
        out.finish_reason = finish
    return out


# ---- stage one ------------------------------------------------------------------------------------
def test_easy_question_starts_local_with_the_next_tier_ready():
    d = router().before(ask("What is 3 + 4?"), LOCAL)
    assert d.tier == "local" and d.model == "small"
    assert d.signals["category"] == "arithmetic"
    assert d.signals["may_escalate"] is True and d.signals["next_endpoint"] == "cloud"
    assert d.signals["p_local_prompt"] == pytest.approx(0.881, abs=1e-3)


def test_hopeless_category_skips_the_local_model():
    d = router().before(ask("What is 5341 / 7?"), LOCAL)
    assert d.tier == "cloud" and d.endpoint == "cloud" and d.model == "big"
    assert "hopeless" in d.reason and d.signals["privacy_check"] is True


def test_skip_needs_somewhere_to_go():
    d = router(endpoints=()).before(ask("What is 5341 / 7?"), LOCAL)
    assert d.tier == "local" and d.signals["may_escalate"] is False
    assert "no endpoint" in d.signals["no_escalation_reason"]


def test_unseen_category_is_never_skipped():
    d = router().before(ask("Write a python function that reverses a list."), LOCAL)
    assert d.tier == "local" and d.signals["category"] == "code" and d.signals["p_local_prompt"] is None


def test_pins():
    r = router()
    assert r.before(ask("What is 5341 / 7?"), LOCAL, tier="local").tier == "local"
    d = r.before(ask("What is 3 + 4?"), LOCAL, tier="cloud")
    assert d.tier == "cloud" and "pinned" in d.reason and d.signals["needs_approval"] is False
    with pytest.raises(UsageError):
        r.before(ask("hi"), LOCAL, tier="gpu")


def test_context_overflow_goes_to_cloud_or_says_what_to_do():
    big = LocalInfo(n_ctx=512, prompt_tokens=400, max_tokens=256, fits=True, model_id="small", overflow=True)
    d = router().before(ask("What is 3 + 4?"), big)
    assert d.tier == "cloud" and "exceed the local context (512)" in d.reason
    with pytest.raises(ContextOverflow, match="no endpoint is configured"):
        router(endpoints=()).before(ask("What is 3 + 4?"), big)
    with pytest.raises(ContextOverflow):
        router().before(ask("What is 3 + 4?"), big, tier="local")


def test_model_that_does_not_fit():
    nofit = LocalInfo(n_ctx=0, prompt_tokens=0, max_tokens=256, fits=False, model_id="huge")
    assert router().before(ask("What is 3 + 4?"), nofit).tier == "cloud"
    with pytest.raises(ModelDoesNotFit):
        router(mode="never").before(ask("What is 3 + 4?"), nofit)


def test_offline_refuses_remote_endpoints_but_allows_loopback():
    r = router(endpoints=(CLOUD, LAN), offline=True)
    d = r.before(ask("What is 5341 / 7?"), LOCAL)
    assert d.tier == "cloud" and d.endpoint == "lan"  # the loopback server is the next tier
    assert d.signals["endpoint_loopback"] is True and d.signals["privacy_check"] is False
    assert "offline" in d.signals["refused_endpoints"]["cloud"]
    with pytest.raises(PolicyError, match="offline"):
        router(endpoints=(CLOUD,), mode="offline").before(ask("What is 3 + 4?"), LOCAL, tier="cloud")


def test_money_budget_blocks_paid_tiers_only():
    r = router(endpoints=(CLOUD, LAN), budget_usd_per_day=0.5)
    spent = {"usd": 0.6, "energy_j": 0.0}
    d = r.before(ask("What is 5341 / 7?"), LOCAL, spend_today=spent)
    assert d.endpoint == "lan" and "budget" in d.signals["refused_endpoints"]["cloud"]
    assert r.escalation_target(spend_today=spent).name == "lan"
    assert router(budget_usd_per_day=0.5).escalation_target(spend_today=spent) is None


def test_energy_budget_stops_escalation():
    r = router(budget_wh_per_day=1.0)
    spent = {"usd": 0.0, "energy_j": 3600.0}
    d = r.before(ask("What is 5341 / 7?"), LOCAL, spend_today=spent)
    assert d.tier == "local" and d.signals["may_escalate"] is False
    assert "energy budget" in d.signals["no_escalation_reason"]
    assert r.escalation_target(spend_today=spent) is None


def test_ask_mode_marks_approval():
    d = router(mode="ask").before(ask("What is 3 + 4?"), LOCAL)
    assert d.signals["needs_approval"] is True
    d = router(mode="ask").before(ask("What is 5341 / 7?"), LOCAL)
    assert d.tier == "local" and d.signals["needs_approval"] is True  # ask mode never skips unasked


def test_never_mode_keeps_everything_local():
    d = router(mode="never").before(ask("What is 5341 / 7?"), LOCAL)
    assert d.tier == "local" and d.signals["may_escalate"] is False


# ---- stage two ------------------------------------------------------------------------------------
def test_confident_answer_is_kept_and_unsure_one_escalated():
    r = router()
    msgs = ask("What is 3 + 4?")
    keep = r.after(complete("3 + 4 = 7", mean_lp=-0.05), msgs)
    assert not keep.escalate and keep.score > keep.threshold and keep.reason.startswith("keep local")
    esc = r.after(complete("3 + 4 = 7", mean_lp=-2.5), msgs)
    assert esc.escalate and esc.score < esc.threshold
    assert "average token confidence" in esc.reason
    assert esc.signals["features"]["mean_lp"] == pytest.approx(-2.5)


def test_format_check_math_answer_without_a_number():
    v = router().after(complete("I think it is quite large", mean_lp=-0.05), ask("What is 3 + 4?"))
    assert v.escalate and v.signals["features"]["no_number"] == 1.0


def test_loop_and_empty_answers_always_escalate():
    r = router()
    assert r.after(complete("7 7 7", mean_lp=-0.01, finish="loop"), ask("What is 3 + 4?")).escalate
    assert r.after(complete("", mean_lp=-0.01), ask("What is 3 + 4?")).escalate


def test_cancelled_answer_is_not_escalated():
    v = router().after(complete("3 +", mean_lp=-3.0, finish="cancelled"), ask("What is 3 + 4?"))
    assert not v.escalate and "stopped" in v.reason


def test_pinned_decision_never_escalates():
    r = router()
    d = r.before(ask("What is 3 + 4?"), LOCAL, tier="local")
    v = r.after(complete("no idea", mean_lp=-3.0), ask("What is 3 + 4?"), decision=d)
    assert not v.escalate and "not escalated" in v.reason


def test_user_threshold_overrides_the_calibrated_one():
    assert router(threshold=0.9).after(complete("3 + 4 = 7", mean_lp=-0.05), ask("What is 3 + 4?")).threshold == 0.9


def test_self_check_is_off_by_default_and_blends_when_on():
    calls = []

    def check(q: str, a: str) -> float:
        calls.append((q, a))
        return 0.0

    r = Router(RoutingSettings(), endpoints=[CLOUD], calibration=calibration(), self_check=check)
    assert not r.after(complete("3 + 4 = 7", mean_lp=-0.05), ask("What is 3 + 4?")).escalate and not calls
    r = Router(RoutingSettings(self_check=True), endpoints=[CLOUD], calibration=calibration(), self_check=check)
    v = r.after(complete("3 + 4 = 7", mean_lp=-0.05), ask("What is 3 + 4?"))
    assert calls == [("What is 3 + 4?", "3 + 4 = 7")] and v.escalate and v.signals["self_check"] == 0.0


# ---- learning -------------------------------------------------------------------------------------
def test_feedback_moves_the_local_prior_and_persists():
    store = MemoryKV()
    r = router(store=store)
    msgs = ask("What is 3 + 4?")
    v = r.after(complete("3 + 4 = 7", mean_lp=-0.3), msgs)
    for _ in range(6):
        out = r.record_feedback(v.signals, "escalate")
    assert out["learned"] and out["bad"] == 6 and out["tier"] == "local"
    assert KV_KEY in store.data
    again = router(store=store).after(complete("3 + 4 = 7", mean_lp=-0.3), msgs)  # a new router reads the store
    assert again.score < v.score and again.threshold == pytest.approx(v.threshold)
    # the prior moved too: stage one now finds local less promising for arithmetic
    p_before = router().before(msgs, LOCAL).signals["p_local_prompt"]
    assert router(store=store).before(msgs, LOCAL).signals["p_local_prompt"] < p_before


def test_escalating_by_hand_eventually_skips_the_local_model():
    store = MemoryKV()
    r = router(store=store)
    msgs = ask("What is 12 + 7?")  # 2 digits: p=.5 from the prompt, so stage one tries the local model
    assert r.before(msgs, LOCAL).tier == "local"
    for _ in range(30):
        r.record_feedback({"category": "arithmetic"}, "escalate", tier="local")
    d = r.before(msgs, LOCAL)
    assert d.tier == "cloud" and "hopeless" in d.reason


def test_acceptance_raises_the_score():
    store = MemoryKV()
    r = router(store=store)
    v = r.after(complete("3 + 4 = 7", mean_lp=-0.3), ask("What is 3 + 4?"))
    for _ in range(10):
        r.record_feedback(v.signals, "accept")
    v2 = r.after(complete("3 + 4 = 7", mean_lp=-0.3), ask("What is 3 + 4?"))
    assert v2.score > v.score


def test_feedback_on_a_cloud_answer_moves_the_next_tiers_expectation_only():
    store = MemoryKV()
    r = router(store=store)
    msgs = ask("What is 3 + 4?")
    before = r.after(complete("3 + 4 = 7", mean_lp=-0.3), msgs)
    for _ in range(8):
        out = r.record_feedback({"category": "arithmetic", "tier": "local"}, "escalate", tier="cloud")
    assert out["tier"] == "cloud" and out["strong_bad"] == 8
    after = router(store=store).after(complete("3 + 4 = 7", mean_lp=-0.3), msgs)
    assert after.score == pytest.approx(before.score)  # the local estimate did not move
    assert after.signals["p_strong"] < before.signals["p_strong"] and after.threshold < before.threshold


def test_bad_feedback_is_refused():
    r = router(store=MemoryKV())
    with pytest.raises(UsageError):
        r.record_feedback({"category": "arithmetic"}, "love")
    with pytest.raises(UsageError):
        r.record_feedback({"category": "arithmetic"}, "rate", 4)
    assert r.record_feedback({"category": "arithmetic"}, "rate", 0.75)["good"] == 0.75


def test_a_request_that_could_overrun_the_budget_is_refused_before_sending():
    from baton.config import Endpoint, RoutingSettings
    from baton.core.router.policy import Router

    dear = Endpoint("dear", "https://api.example.com/v1", "big", usd_per_mtok_in=10.0, usd_per_mtok_out=30.0)
    r = Router(RoutingSettings(budget_usd_per_day=0.5), endpoints=[dear], calibration=calibration())
    ok, refused = r.eligible_endpoints({"usd": 0.45}, needed_tokens=4000)  # up to $0.12 > $0.05 left
    assert ok == [] and "could cost up to $0.1200" in refused["dear"]
    ok, _ = r.eligible_endpoints({"usd": 0.0}, needed_tokens=4000)
    assert ok == [dear]


def test_reasons_never_read_as_a_false_comparison():
    r = router()
    from baton.core.types import Completion, Timing, TokenSignals, Usage

    c = Completion("I think 41.", "small", "stop", Usage(10, 4), Timing(), TokenSignals(n_tokens=4))
    v = r.after(c, ask("What is 6*7?"))
    num = v.reason.split("confidence ")[1].split(" ")
    a, op, b = float(num[0]), num[1], float(num[2])
    assert (a < b) if op == "<" else (a >= b)
