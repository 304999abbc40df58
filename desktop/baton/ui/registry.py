"""Every QThread and QTimer the app starts is made through a Registry, so shutdown can stop them and
tests can prove nothing was left running.

The registry hangs off the QApplication object (one per application, never a module global):
``Registry.of(app)`` returns it, creating it on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer

_ATTR = "_baton_registry"


class Registry:
    def __init__(self) -> None:
        self._threads: list[tuple[str, QThread]] = []
        self._timers: list[tuple[str, QTimer]] = []

    @classmethod
    def of(cls, app: QCoreApplication | None = None) -> "Registry":
        app = app or QCoreApplication.instance()
        if app is None:
            raise RuntimeError("create the QApplication before the registry")
        reg = getattr(app, _ATTR, None)
        if reg is None:
            reg = cls()
            setattr(app, _ATTR, reg)
        return reg

    # ---- making things ------------------------------------------------------------------------
    def timer(self, name: str, parent: QObject, interval_ms: int, slot: Callable[[], Any],
              single_shot: bool = False) -> QTimer:
        t = QTimer(parent)
        t.setObjectName(name)
        t.setInterval(interval_ms)
        t.setSingleShot(single_shot)
        t.timeout.connect(slot)
        self._prune()
        self._timers.append((name, t))
        return t

    def track_thread(self, name: str, thread: QThread) -> QThread:
        thread.setObjectName(name)
        self._prune()
        self._threads.append((name, thread))
        return thread

    # ---- checking -----------------------------------------------------------------------------
    def running_threads(self) -> list[str]:
        self._prune()
        return [name for name, t in self._threads if t.isRunning()]

    def active_timers(self) -> list[str]:
        self._prune()
        return [name for name, t in self._timers if t.isActive()]

    def stop_timers(self) -> None:
        self._prune()
        for _name, t in self._timers:
            t.stop()

    def _prune(self) -> None:
        self._threads = [(n, t) for n, t in self._threads if shiboken6.isValid(t)]
        self._timers = [(n, t) for n, t in self._timers if shiboken6.isValid(t)]
