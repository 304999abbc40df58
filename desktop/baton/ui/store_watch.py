"""What other writers put in the database shows up in the window: the in-app API server's requests (each one a
thread, or a turn in a thread named by ``X-Baton-Thread-Id``), and a `baton ask` or `baton serve` run in a terminal
while the app is open.

SQLite's ``data_version`` (``Store.data_version``) changes when another connection commits; it is read on the GUI
thread, once a second while the API server runs and once whenever the window is activated (coming back from the
terminal). No timer runs otherwise, so an idle app stays asleep. When it changed, the sidebar gains the threads it
lacks (in the stable order), the others get their title and totals, and the shown thread is rebuilt if it has
messages the window has not shown and no answer of this window is running in it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject

from baton.core.errors import BatonError

POLL_MS = 1000


class StoreWatch(QObject):
    """Keeps ``window.session``'s thread list and shown thread in step with the database. ``syncs`` counts the
    syncs that found a change (for tests)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.syncs = 0
        self._version = self._read_version()
        self._seen = self._snapshot()  # thread -> (updated_at, message_count) at the last look
        self.timer = window.ui.registry.timer("store-watch", self, POLL_MS, self.poll)
        window.installEventFilter(self)

    def _read_version(self) -> int | None:
        try:
            return self.w.backend.store.data_version()
        except BatonError:
            return None

    def _snapshot(self) -> dict[str, tuple[float, int]]:
        try:
            return {t.id: (t.updated_at, t.message_count) for t in self.w.backend.list_threads()}
        except BatonError:
            return {}

    def follow(self, on: bool) -> None:
        """Poll once a second while ``on`` (the API server runs); stop polling otherwise."""
        if on:
            self.timer.start()
        else:
            self.timer.stop()
            self.poll()

    def poll(self) -> bool:
        """Sync when another connection committed since the last look. Returns True when it synced."""
        version = self._read_version()
        if version is None or version == self._version:
            return False
        self._version = version
        self.sync()
        return True

    def sync(self) -> None:
        """Add missing threads, refresh the others' titles and totals, rebuild the shown thread if it changed."""
        session, model = self.w.session, self.w.thread_model
        try:
            infos = self.w.backend.list_threads()
        except BatonError:
            return
        self.syncs += 1
        known = {r.id for r in model.rows()}
        for i, info in enumerate(infos):
            if info.id not in known:
                model.insert_at(i, session._row(info))
            elif not self.w.dispatcher.job_for_thread(info.id):
                model.update(info.id, title=info.title, energy_j=info.energy_j, usd=info.usd)
        seen, self._seen = self._seen, {t.id: (t.updated_at, t.message_count) for t in infos}
        current = session.current_id
        if current is None and infos:
            session.select(infos[0].id)
            return
        now = self._seen.get(current) if current else None
        if now is not None and seen.get(current) != now and not self.w.dispatcher.job_for_thread(current):
            session.refresh_current()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.WindowActivate:
            self.poll()
        return False
