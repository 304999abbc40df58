"""Measures the idle baseline while the app sits idle, so receipts in the app carry net joules."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, QTimer

from baton.ui.workers import Call


class IdleBaselineKeeper(QObject):
    """Every ``check_ms``, when nothing has generated for ``quiet_s`` seconds, asks the backend to refresh the idle
    baseline (the service measures only when the kept one is older than ``telemetry.idle_max_age_s``). The
    measurement runs on a worker thread; the GUI thread never waits for it."""

    def __init__(self, backend: Any, busy: Any, parent: QObject | None = None, quiet_s: float = 20.0,
                 check_ms: int = 15000) -> None:
        super().__init__(parent)
        self._backend = backend
        self._busy = busy  # () -> bool: a job is running or queued
        self.quiet_s = quiet_s
        self._last_busy = time.monotonic()
        self._call: Call | None = None
        self.refreshed = 0
        self.timer = QTimer(self)
        self.timer.setInterval(check_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        """Start a measurement if the app has been quiet long enough and none is running."""
        now = time.monotonic()
        if self._busy():
            self._last_busy = now
            return
        if now - self._last_busy < self.quiet_s or (self._call is not None and self._call.isRunning()):
            return
        self._call = Call(self._backend.refresh_idle)
        self._call.succeeded.connect(self._done)
        self._call.start()

    def _done(self, measured: object) -> None:
        if measured:
            self.refreshed += 1

    def stop(self) -> None:
        """Stop the timer and wait for a measurement in flight (at most its few seconds)."""
        self.timer.stop()
        if self._call is not None:
            self._call.wait()
