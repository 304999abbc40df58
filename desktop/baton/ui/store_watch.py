"""What other writers put in the database shows up in the window: the in-app API server's requests (each one a
thread, or a turn in a thread named by ``X-Baton-Thread-Id``), and a `baton ask` or `baton serve` run in a terminal
while the app is open.

SQLite's ``data_version`` (``Store.data_version``) changes when another connection commits; it is read on the GUI
thread, once a second while the API server runs and once whenever the window is activated (coming back from the
terminal). No timer runs otherwise, so an idle app stays asleep. When it changed, the sidebar is rebuilt as a pin or
an undo rebuilds it (``ThreadActions.resync``: the stable order, live states kept, the shown thread read again).
While an answer of this window streams, the look waits (its own writes change the version too): the next tick or
activation after it ends does it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject

from baton.core.errors import BatonError

POLL_MS = 1000


class StoreWatch(QObject):
    """Keeps ``window``'s thread list and shown thread in step with the database. ``syncs`` counts the syncs that
    found a change (for tests)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.syncs = 0
        self._version = self._read_version()
        self.timer = window.ui.registry.timer("store-watch", self, POLL_MS, self.poll)
        window.installEventFilter(self)

    def _read_version(self) -> int | None:
        try:
            return self.w.backend.store.data_version()
        except BatonError:
            return None

    def follow(self, on: bool) -> None:
        """Poll once a second while ``on`` (the API server runs); stop polling otherwise."""
        if on:
            self.timer.start()
        else:
            self.timer.stop()
            self.poll()

    def poll(self) -> bool:
        """Rebuild the sidebar when another connection committed since the last look and no answer of this window
        is running. Returns True when it did."""
        if self.w.dispatcher.busy():
            return False
        version = self._read_version()
        if version is None or version == self._version:
            return False
        self._version = version
        self.w.thread_actions.resync()
        self.syncs += 1
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.WindowActivate:
            self.poll()
        return False
