"""The service's warm states on the real SmolLM2: a thread that lost its slot waits in a file under the cache
folder (not in RAM), and deleting a thread in the app drops every saved state, files included."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.config import Settings
from baton.core.service import BatonService
from baton.paths import Paths
from baton.ui.cockpit_backend import CockpitBackend

pytestmark = pytest.mark.slow

LONG = "The committee reviewed the quarterly figures and noted steady progress on every project. " * 10


def test_saved_states_wait_on_disk_and_go_when_a_thread_is_deleted(baton_home: Path) -> None:
    settings = Settings()
    settings.engine.n_ctx, settings.engine.parallel, settings.engine.temperature = 1024, 1, 0.0
    settings.routing.mode = "never"
    paths = Paths.from_env({"BATON_HOME": str(baton_home)}).ensure()
    svc = BatonService.build(paths, settings)
    try:
        first = svc.ask(LONG + "Summarise in one line.", tier="local", max_tokens=4)
        svc.ask("Say hi.", tier="local", max_tokens=2)  # the only slot goes elsewhere: the first thread is saved
        files = list((paths.cache_dir / "kv").glob("*/*.kv"))
        stats = svc.engine(None)[0].cache_stats()
        assert stats["saved_states"] == 1 and stats["saved_ram_bytes"] == 0 and len(files) == 1
        assert svc.resident_models()[0]["held"]["saved_bytes"] == 0  # the RAM it holds: none

        backend = CockpitBackend.__new__(CockpitBackend)  # only the service is needed for the purge
        backend.service = svc
        svc.store.soft_delete_thread(first.thread_id)
        assert backend.purge_deleted(older_than_s=0) == [first.thread_id]
        assert svc.engine(None)[0].cache_stats()["saved_states"] == 0
        assert list((paths.cache_dir / "kv").glob("*/*.kv")) == []  # nothing of it stays on disk either
    finally:
        svc.close()
    assert list((paths.cache_dir / "kv").iterdir()) == []  # the model's folder went with it
