"""The pipeline in isolation: scripted engine, router and remote tier; real store and real meter."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from baton.config import Endpoint, Settings
from baton.core.cloud.tiers import CloudTiers
from baton.core.engine.fake import FakeEngine
from baton.core.errors import BatonError, CloudUnavailable, PrivacyBlocked
from baton.core.service import BatonService
from baton.core.store.db import Store
from baton.core.telemetry.meter import EnergyMeter
from baton.core.types import RouteDecision
from baton.paths import Paths
from tests.helpers.openai_transport import NoKeys, ScriptedServer


@dataclass
class Verdict:
    escalate: bool
    score: float = 0.3
    reason: str = "low confidence"
    signals: dict = field(default_factory=dict)


class ScriptedRouter:
    def __init__(self, escalate: bool = False, tier: str = "local") -> None:
        self.escalate, self.tier = escalate, tier
        self.endpoints: list[Endpoint] = []

    def before(self, messages, local, tier, spend_today, endpoint=None):
        t = tier if tier != "auto" else self.tier
        return RouteDecision(t, local.model_id if t == "local" else "remote-model",
                             endpoint=None if t == "local" else "lan", reason=f"scripted {t}")

    def after(self, completion, messages, decision=None):
        return Verdict(self.escalate and completion.finish_reason != "cancelled")

    def eligible_endpoints(self, spend_today=None, needed_tokens=0):
        return list(self.endpoints), {}

    def escalation_target(self, spend_today=None):
        return self.endpoints[0] if self.endpoints else None


ENDPOINT = Endpoint("lan", "https://llm.example.net/v1", "remote-model", usd_per_mtok_in=1.0, usd_per_mtok_out=2.0,
                    j_per_token=0.5)


def _service(tmp_path: Path, engine: FakeEngine, router: ScriptedRouter, remote: ScriptedServer | None = None,
             mode: str = "auto") -> tuple[BatonService, CloudTiers | None]:
    """The real service and store; the remote tier is the real cloud client over an in-memory HTTP transport."""
    settings = Settings()
    settings.routing.mode = mode
    paths = Paths.from_env({"BATON_HOME": str(tmp_path / "home")}).ensure()
    tiers = None
    if remote is not None:
        settings.endpoints = [ENDPOINT]
        router.endpoints = [ENDPOINT]
        tiers = CloudTiers(settings, credentials=NoKeys(), transport=remote.transport)
    svc = BatonService(paths, settings, Store(paths.db_file), EnergyMeter.for_machine(settings.telemetry), router,
                       lambda path, model_id, plan: engine, tiers)
    svc.resolve_model = lambda model: (Path("/unused.gguf"), engine.model_id)  # type: ignore[method-assign]
    svc._plan = lambda path: None  # type: ignore[method-assign]
    return svc, tiers


def test_a_local_answer_streams_persists_and_has_a_receipt(tmp_path):
    engine = FakeEngine("small")
    engine.enqueue(["The ", "answer ", "is ", "4."])
    svc, _ = _service(tmp_path, engine, ScriptedRouter())
    seen: list[str] = []
    r = svc.ask("What is 2+2?", on_text=seen.append)
    assert seen == ["The ", "answer ", "is ", "4."] and r.text == "The answer is 4."
    rec = r.receipt()
    assert rec["route"]["tier"] == "local" and rec["energy"]["parts"][0]["source"] == "estimated"
    msgs = svc.store.history(r.thread_id)
    assert [(m.role, m.status) for m in msgs] == [("user", "done"), ("assistant", "done")]
    assert svc.store.receipt(r.message_id)["text"] == "The answer is 4."
    svc.close()


def test_the_thread_history_is_sent_with_the_next_question(tmp_path):
    engine = FakeEngine("small")
    engine.enqueue("Hi Ada.")
    engine.enqueue("Your name is Ada.")
    svc, _ = _service(tmp_path, engine, ScriptedRouter())
    first = svc.ask("My name is Ada.")
    svc.ask("What is my name?", thread_id=first.thread_id)
    sent = [(m.role, m.content) for m in engine.requests[1].messages]
    assert sent[1:] == [("user", "My name is Ada."), ("assistant", "Hi Ada."), ("user", "What is my name?")]
    svc.close()


def test_empty_prompt_writes_nothing(tmp_path):
    svc, _ = _service(tmp_path, FakeEngine(), ScriptedRouter())
    with pytest.raises(BatonError, match="empty"):
        svc.ask("  \n")
    assert svc.store.list_threads() == []
    svc.close()


def test_cancel_keeps_the_partial_answer(tmp_path):
    engine = FakeEngine("small")
    engine.enqueue([f"w{i} " for i in range(50)])
    svc, _ = _service(tmp_path, engine, ScriptedRouter(escalate=True))
    cancel = threading.Event()

    def on_text(t: str) -> None:
        if t == "w4 ":
            cancel.set()

    r = svc.ask("go", on_text=on_text, cancel=cancel)
    assert r.finish_reason == "cancelled" and r.text.startswith("w0 w1") and not r.route.escalated
    assert svc.store.history(r.thread_id)[-1].status == "cancelled"
    svc.close()


def test_escalation_replaces_the_answer_and_counts_both_tiers(tmp_path):
    local, remote = FakeEngine("small"), ScriptedServer()
    local.enqueue("I think 41.")
    remote.enqueue("It is 42.")
    svc, tiers = _service(tmp_path, local, ScriptedRouter(escalate=True), remote)
    statuses: list[str] = []
    r = svc.ask("What is 6*7?", on_status=statuses.append)
    assert r.text == "It is 42." and r.local_text == "I think 41."
    assert r.route.tier == "cloud" and r.route.escalated and "low confidence" in r.route.reason
    rec = r.receipt()
    scopes = {p["scope"] for p in rec["energy"]["parts"]}
    assert scopes == {"cpu_package", "remote"}, "energy counts every tier that ran"
    assert rec["cost"]["usd"] > 0
    assert any(s.startswith("escalating") for s in statuses)
    msgs = svc.store.history(r.thread_id)
    assert [(m.role, m.status) for m in msgs] == [("user", "done"), ("assistant", "escalated"), ("assistant", "done")]
    svc.close()


def test_a_failing_cloud_keeps_the_local_answer_and_says_so(tmp_path):
    local, remote = FakeEngine("small"), ScriptedServer()
    local.enqueue("I think 41.")
    for _ in range(3):
        remote.enqueue(503)
    svc, _ = _service(tmp_path, local, ScriptedRouter(escalate=True), remote)
    r = svc.ask("What is 6*7?")
    assert r.text == "I think 41." and r.route.tier == "local" and not r.route.escalated
    assert any("503" in n for n in r.notices) and "escalation failed" in r.route.reason
    assert svc.store.history(r.thread_id)[1].status == "done"
    svc.close()


def test_secrets_never_leave_and_the_local_answer_stays(tmp_path):
    local, remote = FakeEngine("small"), ScriptedServer()
    local.enqueue("Looks fine.")
    svc, tiers = _service(tmp_path, local, ScriptedRouter(escalate=True), remote)
    key = "AKIA" + "Q3XK7VT2PLMZR4WN"
    r = svc.ask(f"Why does boto fail with aws_access_key_id = {key} ?")
    assert r.text == "Looks fine." and remote.requests == []
    assert any("secret" in n or "aws" in n.lower() for n in r.notices)
    svc.close()


def test_ask_mode_sends_nothing_without_approval(tmp_path):
    local, remote = FakeEngine("small"), ScriptedServer()
    local.enqueue("maybe")
    local.enqueue("maybe again")
    remote.enqueue("surely")
    svc, _ = _service(tmp_path, local, ScriptedRouter(escalate=True), remote, mode="ask")
    plans = []
    r = svc.ask("q1", approve=lambda plan: plans.append(plan) or False)
    assert r.text == "maybe" and remote.requests == [] and len(plans) == 1
    assert plans[0].endpoint == "lan" and "q1" in plans[0].text_to_send and plans[0].est_usd > 0
    r2 = svc.ask("q2", approve=lambda plan: True)
    assert r2.text == "surely" and r2.route.escalated
    svc.close()


def test_a_long_thread_drops_its_oldest_turns_to_fit_the_context(tmp_path):
    engine = FakeEngine("small", n_ctx=80)
    svc, _ = _service(tmp_path, engine, ScriptedRouter())
    tid = None
    for i in range(6):
        engine.enqueue(f"answer {i} " + "word " * 8)
        tid = svc.ask(f"question {i} " + "word " * 8, thread_id=tid, max_tokens=16).thread_id
    last = engine.requests[-1].messages
    assert last[0].role == "system" and last[-1].content.startswith("question 5")
    assert 3 <= len(last) < 12, "old turns are dropped, the newest kept"
    assert engine.count_prompt_tokens(last) <= 80 - 16
    assert len(svc.store.history(tid)) == 12, "nothing is dropped from the store"
    svc.close()


def test_dropped_turns_are_counted_in_the_receipt(tmp_path):
    engine = FakeEngine("small", n_ctx=80)
    svc, _ = _service(tmp_path, engine, ScriptedRouter())
    tid = None
    for i in range(4):
        engine.enqueue(f"answer {i} " + "word " * 8)
        r = svc.ask(f"question {i} " + "word " * 8, thread_id=tid, max_tokens=16)
        tid = r.thread_id
    rec = r.receipt()
    assert rec["context"]["dropped_turns"] >= 1
    assert any(f"{rec['context']['dropped_turns']} earlier turn" in n for n in rec["notices"])
    svc.close()


def test_retry_and_edit_make_versions_and_history_follows_the_current_one(tmp_path):
    engine = FakeEngine("small")
    for text in ("first answer", "second answer", "answer to the edit", "follow-up answer"):
        engine.enqueue(text)
    svc, _ = _service(tmp_path, engine, ScriptedRouter())
    a1 = svc.ask("Q1")
    a2 = svc.retry(a1.message_id, tier="local")
    store = svc.store
    assert store.get_message(a1.message_id).status == "replaced"
    assert [m.content for m in store.thread_path(a1.thread_id)] == ["Q1", "second answer"]
    q1 = store.thread_path(a1.thread_id)[0]
    a3 = svc.edit(q1.id, "Q1 edited")
    assert [m.content for m in store.thread_path(a1.thread_id)] == ["Q1 edited", "answer to the edit"]
    svc.ask("Q2", thread_id=a1.thread_id)
    sent = [(m.role, m.content) for m in engine.requests[-1].messages][1:]
    assert sent == [("user", "Q1 edited"), ("assistant", "answer to the edit"), ("user", "Q2")]
    assert [v.content for v in store.versions(a2.message_id)] == ["first answer", "second answer"]
    assert len(store.versions(a3.message_id)) == 1 and len(store.versions(q1.id)) == 2
    svc.close()


def test_a_token_split_across_client_messages_never_leaves(tmp_path):
    """Two halves of one token in two messages of a client's conversation (what `baton serve` passes): refused
    as a whole, nothing sent, the question stored redacted and the refusal explained in the thread."""
    from baton.core.types import ChatMessage

    local, remote = FakeEngine("small"), ScriptedServer()
    svc, _ = _service(tmp_path, local, ScriptedRouter(tier="cloud"), remote)
    token = "ghp_" + "Zq3xR8vT1nLk5Wm2Pb7Yc4Hd9Fs6Jg0Ae1Uo"
    msgs = [ChatMessage("user", f"my token starts {token[:20]}"), ChatMessage("assistant", "ok"),
            ChatMessage("user", f"and ends {token[20:]}; is it valid?")]
    with pytest.raises(PrivacyBlocked):
        svc.ask(messages=msgs, tier="cloud")
    assert remote.requests == []
    (thread,) = svc.store.list_threads()
    path = svc.store.thread_path(thread.id)
    assert path[-1].status == "refused" and "secret" in path[-1].note
    assert svc.store.gate_findings(thread.id)
    raw = (tmp_path / "home").rglob("*.sqlite3*")
    blob = b"".join(p.read_bytes() for p in raw)
    assert token[20:].encode() not in blob and token[:20].encode() not in blob
    svc.close()


def test_history_alternates_after_a_failed_answer_and_forks_carry_their_history(tmp_path):
    local, remote = FakeEngine("small"), ScriptedServer()
    for _ in range(3):
        remote.enqueue(500)
    svc, _ = _service(tmp_path, local, ScriptedRouter(), remote)
    with pytest.raises(BatonError):
        svc.ask("hi", tier="cloud")
    (thread,) = svc.store.list_threads()
    local.enqueue("an answer")
    svc.ask("second question", thread_id=thread.id, tier="local")
    sent = [(m.role, m.content) for m in local.requests[-1].messages]
    assert [r for r, _ in sent] == ["system", "user"] and sent[1][1] == "hi\n\nsecond question"

    # a fork at a question carries it; an ask on the fork sends it
    q = svc.store.thread_path(thread.id)[0]
    fork = svc.fork(thread.id, q.id)
    local.enqueue("fork answer")
    svc.ask("Q6", thread_id=fork.id, tier="local")
    assert "hi" in local.requests[-1].messages[1].content and "Q6" in local.requests[-1].messages[-1].content
    svc.close()


def test_retrying_an_earlier_version_leaves_one_current_answer(tmp_path):
    engine = FakeEngine("small")
    for text in ("A1", "A2", "A3"):
        engine.enqueue(text)
    svc, _ = _service(tmp_path, engine, ScriptedRouter())
    a1 = svc.ask("Q")
    svc.retry(a1.message_id, tier="local")
    a3 = svc.retry(a1.message_id, tier="local")  # retry the replaced one again
    answers = [m for m in svc.store.history(a1.thread_id) if m.role == "assistant"]
    assert [(m.content, m.status) for m in answers] == [("A1", "replaced"), ("A2", "replaced"), ("A3", "done")]
    assert [m.content for m in svc.store.thread_path(a3.thread_id)] == ["Q", "A3"]
    svc.close()
