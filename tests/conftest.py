"""Suite-wide fixtures: every test gets its own BATON_HOME; the default model is shared read-only."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # so tests can import tests.helpers


@pytest.fixture(autouse=True)
def baton_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "baton-home"
    home.mkdir()
    monkeypatch.setenv("BATON_HOME", str(home))
    monkeypatch.delenv("BATON_OFFLINE", raising=False)
    monkeypatch.delenv("BATON_SYSFS_ROOT", raising=False)
    return home


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    from baton.core.engine.defaults import default_model_path as locate

    return locate(None)


@pytest.fixture(scope="session")
def strong_model_path() -> Path:
    """The strong-tier fixture assembled by `make fixtures-strong` (part of `make setup` for tests)."""
    from baton.bench.fixtures import strong_fixture_path

    p = strong_fixture_path(REPO / ".venv" / "fixtures")
    assert p is not None, "the strong-tier model is missing: run `make fixtures-strong`"
    return p


# Fixtures that start a real llama-cpp-python server or hand out the 0.5B strong model: a test that uses one
# (directly or through another fixture) is marked ``slow``. Tests that load the default model themselves carry the
# marker in their own file. `make test` still runs every test; `-m "not slow"` skips these.
REAL_MODEL_FIXTURES = frozenset({"strong_model_path", "llama_srv", "fault_proxy"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
