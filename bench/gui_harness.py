"""Shared by the GUI benchmarks and the screenshot generator: the real app on the real pipeline.

``open_app()`` builds the service exactly as `baton` does (``BatonService.build``: the default
model through llama.cpp, the SQLite store, the energy meter) in a private BATON_HOME unless one is
set, then the window. Nothing here is imported by the app itself.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@dataclass
class AppUnderTest:
    app: Any
    window: Any
    service: Any
    paths: Any
    settings: Any

    def close(self) -> None:
        self.window.close()
        self.service.close()
        self.window.deleteLater()
        self.app.processEvents()


def private_home(tag: str) -> Path:
    if not os.environ.get("BATON_HOME"):
        os.environ["BATON_HOME"] = tempfile.mkdtemp(prefix=f"baton-{tag}-")
    return Path(os.environ["BATON_HOME"])


def build_service(paths: Any, settings: Any) -> Any:
    from baton.core.service import BatonService

    return BatonService.build(paths, settings)


def open_app(tag: str, settings: Any = None, show: bool = True) -> AppUnderTest:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    private_home(tag)
    from baton.config import Settings
    from baton.paths import Paths
    from baton.ui.app import build_context, make_application
    from baton.ui.main_window import MainWindow

    paths = Paths.from_env().ensure()
    settings = settings or Settings.load(paths.config_file)
    service = build_service(paths, settings)
    app = make_application([sys.argv[0]])
    ui = build_context(app, service, paths, settings)
    window = MainWindow(ui)
    if show:
        window.show()
        app.processEvents()
    return AppUnderTest(app, window, service, paths, settings)


def pump_until(app: Any, cond: Any, timeout_s: float) -> bool:
    """Run the event loop until ``cond()`` or the timeout."""
    from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        # app.exec() frees deleteLater()'d widgets when control returns to it; processEvents() does
        # not, so do it here as the running app would.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        if cond():
            return True
        time.sleep(0.002)
    return cond()


def ask_and_wait(aut: AppUnderTest, prompt: str, timeout_s: float = 300.0, tier: str = "auto") -> Any:
    job = aut.window.session.send(prompt, tier)
    if job is None:
        raise RuntimeError(f"the window refused to send {prompt!r}: {aut.window.statusBar().currentMessage()}")
    if not pump_until(aut.app, lambda: job.state in ("done", "failed", "cancelled"), timeout_s):
        raise RuntimeError(f"no answer to {prompt!r} within {timeout_s} s")
    if job.state == "failed":
        raise RuntimeError(f"the answer failed: {job.error}")
    return job
