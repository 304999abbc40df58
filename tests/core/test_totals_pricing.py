"""The all-cloud counterfactual's one price rule: local tokens at the first priced endpoint's rates."""

from __future__ import annotations

import pytest

from baton.config import Endpoint
from baton.core.totals import local_tokens_usd, reference_endpoint


def test_local_tokens_priced_at_the_first_priced_endpoint():
    free = Endpoint("lan", "http://127.0.0.1:8080/v1", "m")
    paid = Endpoint("cloud", "http://127.0.0.1:8081/v1", "m", usd_per_mtok_in=0.15, usd_per_mtok_out=0.6)
    assert reference_endpoint([free, paid]) is paid and reference_endpoint([free]) is None
    assert local_tokens_usd(paid, 2_000_000, 1_000_000) == pytest.approx(0.3 + 0.6)


def _answer(store, tier: str, where: str, usd: float, p_tok: int, c_tok: int) -> None:  # noqa: ANN001
    q = store.add_message(None, "user", "q")
    a = store.begin_answer(q.thread_id, "m", tier)
    store.finish_answer(a.id, "a", "done", {"route": {"tier": tier, "where": where, "model": "m"},
                                           "energy": {"total_j": 2.0}, "cost": {"usd": usd},
                                           "usage": {"prompt_tokens": p_tok, "completion_tokens": c_tok}})


def test_an_endpoint_on_your_own_machines_counts_as_local_everywhere(tmp_path) -> None:  # noqa: ANN001
    from baton.core.store import Store
    from baton.core.totals import totals

    store = Store(tmp_path / "t.sqlite3")
    try:
        _answer(store, "local", "this_computer", 0.0, 100_000, 50_000)
        _answer(store, "cloud", "this_computer", 0.0, 200_000, 100_000)  # a llama.cpp server on loopback
        _answer(store, "cloud", "network", 0.1, 300_000, 100_000)  # one on the LAN, priced by its owner
        _answer(store, "cloud", "cloud", 0.25, 1_000, 1_000)  # a real cloud
        assert store.spend_since(0, tier="local")["answers"] == 3
        assert store.spend_since(0, tier="cloud") == {"energy_j": 2.0, "usd": 0.25, "answers": 1, "escalations": 0}
        assert store.local_detail_since(0)[1:] == (600_000, 250_000)
        assert store.spend_since(0, tier="local")["usd"] == pytest.approx(0.1)
        paid = Endpoint("cloud", "http://127.0.0.1:8081/v1", "m", usd_per_mtok_in=1.0, usd_per_mtok_out=2.0)
        today = totals(store, [paid], "day", 1)[0]
        assert (today.answers, today.local, today.cloud) == (4, 3, 1)
        assert today.usd == pytest.approx(0.35) and today.cloud_usd == pytest.approx(0.25)
        # all-cloud: what the cloud answer cost, plus every own-machine answer's tokens at the cloud's rates (the
        # LAN server's own price is not counted a second time)
        assert today.all_cloud_usd == pytest.approx(0.25 + 0.6 * 1.0 + 0.25 * 2.0)
    finally:
        store.close()
