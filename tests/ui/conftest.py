"""Fixtures for the desktop app's tests: offscreen Qt, a private BATON_HOME (from tests/conftest.py),
an in-memory keyring, the real service pipeline and store on a FakeEngine, and a guard that fails any
test leaving a worker thread or a timer running."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything creates the QApplication

import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from tests.helpers.fakes import MemoryKeyring, installed_keyring  # noqa: E402
from tests.ui.service_factory import make_service  # noqa: E402

LEFTOVER_WAIT_S = 5.0


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed_keyring(MemoryKeyring()) as ring:
        yield ring


@pytest.fixture(autouse=True)
def no_leftovers(qapp: Any) -> Iterator[None]:
    """Fail the test if it leaves a thread or a timer of ours running."""
    from PySide6.QtCore import QTimer

    from baton.ui.registry import Registry

    before = set(threading.enumerate())
    yield
    registry = Registry.of(qapp)
    deadline = time.monotonic() + LEFTOVER_WAIT_S
    while True:
        qapp.processEvents()
        # A _DummyThread is Python's record of a QThread that called into threading (the registry
        # checks those); every other new thread must have ended.
        threads = [t.name for t in threading.enumerate()
                   if t not in before and t.is_alive() and type(t).__name__ != "_DummyThread"]
        qthreads = registry.running_threads()
        if (not threads and not qthreads) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    timers = registry.active_timers()
    for w in qapp.topLevelWidgets():
        timers += [f"{type(w).__name__}/{t.objectName() or 'unnamed'}" for t in w.findChildren(QTimer)
                   if t.isActive()]
    assert not threads, f"test left Python threads running: {threads}"
    assert not qthreads, f"test left QThreads running: {qthreads}"
    assert not timers, f"test left timers active: {timers}"


@dataclass
class Harness:
    window: Any
    service: Any
    engine: Any
    cloud: Any
    settings: Any
    paths: Any

    def answer_count(self, thread_id: str) -> int:
        return sum(1 for m in self.service.store.history(thread_id) if m.role == "assistant")


@pytest.fixture
def make_window(qapp: Any, baton_home: Path) -> Iterator[Callable[..., Harness]]:
    """Build the real window on the real pipeline (store, meter) with FakeEngines as the tiers."""
    from baton.config import Endpoint, Settings
    from baton.core.engine.fake import FakeEngine
    from baton.paths import Paths
    from baton.ui.app import build_context
    from baton.ui.main_window import MainWindow

    made: list[Harness] = []

    def make(engine: Any = None, cloud: Any = None, settings: Any = None, with_endpoint: bool = False,
             escalate_after: bool = False, real_http: bool = False) -> Harness:
        """``real_http``: remote tiers are the real client over real HTTP (to loopback servers the test runs)."""
        paths = Paths.from_env().ensure()
        settings = settings or Settings()
        if with_endpoint and not settings.endpoints:
            settings.endpoints.append(Endpoint(name="lan-big", base_url="http://127.0.0.1:9/v1", model="big-model",
                                               usd_per_mtok_in=0.5, usd_per_mtok_out=1.5, j_per_token=0.3))
        engine = engine or FakeEngine("fake-local")
        cloud = None if real_http else (cloud or FakeEngine("big-model"))
        service = make_service(paths, settings, engine, cloud, escalate_after=escalate_after)
        ui = build_context(qapp, service, paths, settings)
        window = MainWindow(ui)
        window.show()
        qapp.processEvents()
        h = Harness(window, service, engine, cloud, settings, paths)
        made.append(h)
        return h

    yield make
    for h in made:
        h.window.close()
        h.service.close()
        h.window.deleteLater()
    qapp.processEvents()


def wait_idle(qtbot: Any, h: Harness, timeout_ms: int = 10000) -> None:
    qtbot.waitUntil(lambda: not h.window.dispatcher.busy(), timeout=timeout_ms)


def activate(qtbot: Any, window: Any) -> None:
    """Make ``window`` the active window (window shortcuts only reach the active one)."""
    window.activateWindow()
    window.raise_()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
