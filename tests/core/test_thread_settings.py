"""Per-thread settings, stable order, deletes with undo (real SQLite file), and the service applying a thread's
settings and budgets (the real pipeline, store, router and cloud client; a FakeEngine answers locally and behind the
endpoint's HTTP transport)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from baton.config import Endpoint, Settings
from baton.core.engine.fake import FakeEngine
from baton.core.errors import PolicyError, UsageError
from baton.core.store import Store
from baton.core.store import migrations
from baton.paths import Paths
from tests.ui.service_factory import make_service


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "baton.sqlite3")
    yield s
    s.close()


def _answer(store: Store, tid: str, text: str, j: float = 1.0, usd: float = 0.0, tier: str = "local") -> str:
    q = store.add_message(tid, "user", f"question about {text}")
    a = store.begin_answer(tid, "m", tier, parent_id=q.id)
    store.finish_answer(a.id, text, "done", {"energy": {"total_j": j}, "cost": {"usd": usd},
                                             "route": {"tier": tier}})
    return a.id


def test_settings_roundtrip_and_bad_values_change_nothing(store: Store) -> None:
    assert store.schema_version == len(migrations.MIGRATIONS) >= 4
    t = store.create_thread("t")
    s = store.set_thread_settings(t.id[:8], system_prompt="  Be terse. ", temperature=0.2, model="ladder",
                                  tier_mode="local", budget_j=5000, budget_usd=0.5, budget_hard=True)
    assert (s.system_prompt, s.temperature, s.model, s.tier_mode, s.budget_j, s.budget_usd, s.budget_hard) == \
        ("Be terse.", 0.2, "ladder", "local", 5000.0, 0.5, True)
    for bad in ({"temperature": 3}, {"tier_mode": "moon"}, {"budget_j": -1}, {"colour": "red"},
                {"budget_usd": float("nan")}):
        with pytest.raises(UsageError):
            store.set_thread_settings(t.id, **bad)
    assert store.thread_settings(t.id) == s
    assert store.set_thread_settings(t.id, budget_j=0, temperature=None).budget_j is None
    assert store.thread_settings(t.id).temperature is None


def test_order_is_pinned_first_then_newest_created_and_survives_activity_and_restart(tmp_path: Path) -> None:
    path = tmp_path / "baton.sqlite3"
    with Store(path) as s:
        a, b, c = (s.create_thread(n) for n in "abc")
        s.pin_thread(a.id)
        assert [t.title for t in s.ordered_threads()] == ["a", "c", "b"]
        _answer(s, b.id, "activity in b")  # newest activity does not move it
        s.archive_thread(c.id)
        assert [t.title for t in s.ordered_threads()] == ["a", "b"]
        assert [t.title for t in s.ordered_threads(archived=True)] == ["c"]
    with Store(path) as s:
        assert [t.title for t in s.ordered_threads()] == ["a", "b"]


def _count(store: Store, sql: str, *params: object) -> int:
    return store.connection().execute(sql, params).fetchone()[0]


def test_delete_hides_at_once_undo_restores_and_purge_removes_every_trace(store: Store) -> None:
    keep = store.create_thread("keep")
    _answer(store, keep.id, "zebra crossing")
    t = store.create_thread("doomed")
    aid = _answer(store, t.id, "zebra stripes", usd=0.01)
    store.add_feedback(aid, "accept")
    store.add_gate_findings(t.id, aid, [("api_key", "question")], "redacted")
    assert len(store.search("zebra")) == 4
    store.soft_delete_thread(t.id)
    assert [x.title for x in store.list_threads()] == ["keep"]
    assert all(h.thread_id == keep.id for h in store.search("zebra"))
    assert store.purge_deleted() == []  # still inside the undo window
    assert store.restore_thread(t.id)
    assert len(store.search("zebra")) == 4
    store.soft_delete_thread(t.id)
    assert store.purge_deleted(older_than_s=0) == [t.id]
    assert not store.restore_thread(t.id)
    for table in ("messages", "gate_findings"):
        assert _count(store, f"SELECT COUNT(*) FROM {table} WHERE thread_id = ?", t.id) == 0
    assert _count(store, "SELECT COUNT(*) FROM receipts WHERE message_id = ?", aid) == 0
    assert _count(store, "SELECT COUNT(*) FROM feedback WHERE message_id = ?", aid) == 0
    assert _count(store, f"SELECT COUNT(*) FROM {migrations.SEARCH_IDS_TABLE} WHERE message_id = ?", aid) == 0
    assert _count(store, f"SELECT COUNT(*) FROM {migrations.SEARCH_TABLE} WHERE {migrations.SEARCH_TABLE} "
                         "MATCH 'stripes'") == 0
    assert len(store.search("zebra")) == 2
    # every table that refers to a thread or a message was covered above
    conn = store.connection()
    refs = {tbl for (tbl,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for fk in conn.execute(f"PRAGMA foreign_key_list('{tbl}')") if fk[2] in ("threads", "messages")}
    assert refs == {"messages", "receipts", "feedback", "gate_findings"}


def test_a_delete_left_in_its_undo_window_by_a_dead_process_is_finished_at_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "baton.sqlite3"
    with Store(path) as s:
        t = s.create_thread("doomed")
        _answer(s, t.id, "text")
        s.soft_delete_thread(t.id)
    with Store(path) as s:
        assert s.list_threads() == []
        assert s.purge_deleted(older_than_s=0) == [t.id]
        assert _count(s, "SELECT COUNT(*) FROM threads") == 0


def test_burn_over_the_last_day_and_what_is_left(store: Store) -> None:
    t = store.create_thread("t")
    store.set_thread_settings(t.id, budget_j=100, budget_usd=0.05)
    _answer(store, t.id, "a", j=48.0, usd=0.02)
    old = _answer(store, t.id, "b", j=30.0, usd=0.01)
    store.connection().execute("UPDATE receipts SET created_at = ? WHERE message_id = ?", (time.time() - 2 * 86400, old))
    b = store.thread_burn(t.id)
    assert (b.energy_j, round(b.usd, 6), b.left_j, round(b.left_usd, 6)) == (78.0, 0.03, 22.0, 0.02)
    assert b.j_per_hour == pytest.approx(48.0 / 24) and b.usd_per_hour == pytest.approx(0.02 / 24)


# ---- the service -----------------------------------------------------------------------------------------------

@pytest.fixture
def svc(baton_home: Path):
    settings = Settings()
    settings.endpoints.append(Endpoint(name="lan-big", base_url="http://127.0.0.1:9/v1", model="big-model",
                                       usd_per_mtok_in=0.5, usd_per_mtok_out=1.5, j_per_token=0.3))
    local, cloud = FakeEngine("fake-local"), FakeEngine("big-model")
    service = make_service(Paths.from_env().ensure(), settings, local, cloud)
    service.local_fake, service.cloud_fake = local, cloud
    yield service
    service.close()


def test_ask_uses_the_threads_system_prompt_temperature_and_tier_mode(svc) -> None:
    t = svc.store.create_thread("t")
    svc.store.set_thread_settings(t.id, system_prompt="You are a pirate.", temperature=0.7, tier_mode="local")
    r = svc.ask("hello", thread_id=t.id)
    req = svc.local_fake.requests[-1]
    assert req.messages[0].role == "system" and req.messages[0].content == "You are a pirate."
    assert req.temperature == 0.7
    assert r.receipt()["route"]["tier"] == "local" and "pinned to the local model" in r.route.reason
    svc.ask("again", thread_id=t.id, params=None)
    r2 = svc.retry(r.message_id, tier="local")
    assert svc.local_fake.requests[-1].messages[0].content == "You are a pirate."
    assert r2.thread_id == t.id
    other = svc.ask("no settings here")
    assert svc.local_fake.requests[-1].messages[0].content != "You are a pirate."
    assert svc.store.thread_settings(other.thread_id).system_prompt == ""


def test_a_spent_dollar_budget_refuses_the_cloud_and_keeps_auto_local(svc) -> None:
    t = svc.store.create_thread("t")
    _answer(svc.store, t.id, "earlier", usd=0.6, tier="cloud")
    svc.store.set_thread_settings(t.id, budget_usd=0.5)
    before = len(svc.store.history(t.id))
    with pytest.raises(PolicyError, match="dollar budget"):
        svc.ask("hello", thread_id=t.id, tier="cloud")
    with pytest.raises(PolicyError, match="dollar budget"):
        svc.ask("hello", thread_id=t.id, endpoint="lan-big")
    assert len(svc.store.history(t.id)) == before  # nothing written
    assert svc.preview_route(t.id, "hello", tier="cloud")["tier"] == "refused"
    r = svc.ask("hello", thread_id=t.id)
    assert r.route.tier == "local" and any("dollar budget" in n for n in r.notices)
    assert not r.route.signals.get("may_escalate")


def test_a_spent_energy_budget_warns_and_refuses_only_when_hard(svc) -> None:
    t = svc.store.create_thread("t")
    _answer(svc.store, t.id, "earlier", j=120.0)
    svc.store.set_thread_settings(t.id, budget_j=100)
    r = svc.ask("hello", thread_id=t.id, tier="local")
    assert any("energy budget (100 J) is spent" in n for n in r.notices)
    svc.store.set_thread_settings(t.id, budget_hard=True)
    with pytest.raises(PolicyError, match="hard limit"):
        svc.ask("hello", thread_id=t.id, tier="local")
    r = svc.ask("hello", thread_id=t.id, tier="cloud")  # a remote tier does not burn this computer's energy
    assert r.route.tier == "cloud"


def test_preview_route_says_where_and_why_without_loading_a_model(svc) -> None:
    t = svc.store.create_thread("t")
    p = svc.preview_route(t.id, "Write a haiku about rain")
    assert p["tier"] == "local" and p["reason"] and p["model"]
    assert svc.resident_models() == [] and not svc.local_fake.loaded and svc.local_fake.requests == []
    p = svc.preview_route(t.id, "hi", endpoint="lan-big")
    assert (p["tier"], p["endpoint"]) == ("cloud", "lan-big")
    svc.store.set_thread_settings(t.id, tier_mode="cloud")
    p = svc.preview_route(t.id, "hi")
    assert p["tier"] == "cloud" and "this thread's tier mode" in p["reason"]
    assert svc.preview_route(None, "hi")["tier"] == "local"
    p = svc.preview_route(t.id, "hi", endpoint="nope")
    assert p["tier"] == "refused" and "nope" in p["reason"]
    assert svc.resident_models() == []


def test_an_old_database_gets_the_settings_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(str(path), isolation_level=None)
    migrations.migrate(conn, path, migrations.MIGRATIONS[:3])
    conn.execute("INSERT INTO threads (id, title, created_at, updated_at) VALUES ('t-old', 'old', 1, 1)")
    conn.close()
    with Store(path) as s:
        st = s.thread_settings("t-old")
        assert (st.tier_mode, st.model, st.pinned, st.budget_j) == ("auto", "", False, None)
        assert [t.id for t in s.ordered_threads()] == ["t-old"]
