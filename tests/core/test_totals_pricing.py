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
