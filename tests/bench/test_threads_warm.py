"""The warm side of `baton bench threads` on the real SmolLM2: a long thread whose slot other threads took is
restored from its saved state (only the new tokens read) and answers as it does cold, at temperature 0."""

from __future__ import annotations

import tempfile

import pytest

from baton.bench.threads import _history_ttft
from baton.config import Settings
from baton.core.service import BatonService
from baton.paths import Paths

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("history_tokens,slots", [(400, 1), (700, 2)])
def test_a_long_thread_comes_back_warm_and_answers_as_cold(history_tokens: int, slots: int) -> None:
    s = Settings()
    s.engine.temperature, s.engine.parallel, s.engine.n_ctx = 0.0, slots, 1024
    s.routing.mode = "never"
    with tempfile.TemporaryDirectory() as tmp:
        svc = BatonService.build(Paths.from_env({"BATON_HOME": tmp}).ensure(), s)
        try:
            h = _history_ttft(svc, None, history_tokens, slots)
        finally:
            svc.close()
    assert h["warm_state_restored"] and h["warm_matches_cold"]
    assert h["history_prompt_tokens"] >= history_tokens * 0.8
    assert h["cold_prompt_tokens_read"] == h["history_prompt_tokens"]
    assert 0 < h["warm_prompt_tokens_read"] < h["history_prompt_tokens"] // 10


def test_solo_agreement_counts_identical_answers_and_the_shortest_shared_start():
    from baton.bench.threads import _solo_agreement

    seq = [{"texts": ["The sky is blue.", "Two plus two is four."]}, {"texts": ["The sky is blue.", "abc"]}]
    conc = [{"texts": ["The sky is blue.", "Two plus two is 4."]}, {"texts": ["The sky is grey.", "abc"]}]
    doc = _solo_agreement(seq, conc)
    assert doc["solo_identical_share"] == 0.5  # 2 of 4 answers identical
    assert doc["solo_common_prefix_min_chars"] == len("The sky is ")  # vs "Two plus two is " (16)
    assert _solo_agreement(seq, seq) == {"solo_identical_share": 1.0, "solo_common_prefix_min_chars": None}
