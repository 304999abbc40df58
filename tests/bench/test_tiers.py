"""The benchmark's tiers from plain arguments (a service, a cache folder, tier names): a strong endpoint runs the
items it has no cached result for through Baton's cloud client, priced by its J/token; reruns come from the cache.
The loopback launcher says why a server did not start."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from baton.bench.collect import ResultCache, cache_file, prompt_format
from baton.bench.llama_server import llama_server
from baton.bench.tiers import BenchTiers
from baton.config import Endpoint, Settings
from baton.core.errors import BatonError, UsageError
from baton.core.service import BatonService
from baton.paths import Paths
from tests.helpers.fakes import MemoryKeyring, installed_keyring
from tests.helpers.recording_server import RecordingServer

ITEMS = [
    {"id": "a", "question": "What is 3 + 4?", "answer": "7", "tag": "easy"},
    {"id": "b", "question": "What is 20 - 5?", "answer": "15", "tag": "easy"},
    {"id": "c", "question": "What is 6 * 7?", "answer": "42", "tag": "easy"},
]


@pytest.fixture()
def service(baton_home: Path) -> Iterator[BatonService]:
    with installed_keyring(MemoryKeyring()):
        s = BatonService.build(Paths.from_env().ensure(), Settings())
        try:
            yield s
        finally:
            s.close()


def _quiet(*_args: object) -> None:
    return None


def test_strong_endpoint_runs_uncached_items_through_the_cloud_client(service: BatonService, tmp_path: Path) -> None:
    with RecordingServer(reply="3 + 4 = 7. The answer is 7.") as srv:
        service.settings.endpoints.append(Endpoint("lan", f"http://127.0.0.1:{srv.port}/v1", "m", j_per_token=0.5))
        cache = tmp_path / "cache"
        with BenchTiers(service, cache, None, "lan", progress=_quiet) as tiers:
            assert tiers.labels["strong"] == "m@127.0.0.1"
            results = tiers.run("strong", ITEMS)
        assert len(srv.chat_bodies()) == 3
        sent = json.loads(srv.chat_bodies()[0])
        assert sent["messages"][-1] == {"role": "user", "content": "What is 3 + 4?"}
        assert sent["temperature"] == 0.0 and sent["max_tokens"] == 256
        assert [r.correct for r in results] == [True, False, False]  # the reply's last number is 7
        assert all(r.energy_source == "estimated:j_per_token" for r in results)
        assert [r.energy_j for r in results] == [pytest.approx((12 + 2) * 0.5)] * 3  # the server's usage x J/token
        assert len(ResultCache(cache_file(cache, "m@127.0.0.1", prompt_format()))) == 3

        with BenchTiers(service, cache, None, "lan", progress=_quiet) as tiers:
            again = tiers.run("strong", ITEMS)
        assert len(srv.chat_bodies()) == 3  # every item came from the cache
        assert [r.text for r in again] == [r.text for r in results]


def test_no_run_leaves_uncached_items_empty_and_sends_nothing(service: BatonService, tmp_path: Path) -> None:
    with RecordingServer() as srv:
        service.settings.endpoints.append(Endpoint("lan", f"http://127.0.0.1:{srv.port}/v1", "m"))
        with BenchTiers(service, tmp_path / "cache", None, "lan", progress=_quiet) as tiers:
            assert tiers.run("strong", ITEMS, run=False) == [None, None, None]
        assert srv.chat_bodies() == []


@pytest.mark.parametrize("strong, says", [("nowhere", "no endpoint named 'nowhere'"),
                                          ("missing.gguf", "strong tier model not found")])
def test_an_unknown_strong_tier_is_a_usage_error(service: BatonService, tmp_path: Path, strong: str,
                                                 says: str) -> None:
    with pytest.raises(UsageError, match=says):
        BenchTiers(service, tmp_path / "cache", None, strong, progress=_quiet)


def test_the_launcher_reports_a_server_that_exits(tmp_path: Path) -> None:
    not_a_model = tmp_path / "not-a-model.gguf"
    not_a_model.write_bytes(b"this is not GGUF")
    log = tmp_path / "server.log"
    with pytest.raises(BatonError, match="llama_cpp.server exited with code"):
        with llama_server(not_a_model, alias="x", start_timeout_s=120.0, log_path=log, warm_up=False):
            pass
    assert log.stat().st_size > 0  # a log the caller asked for is kept
