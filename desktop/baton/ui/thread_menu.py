"""The thread list's own commands: its context menu (settings, pin, rename, archive, delete), the Archived section,
the stable order (pinned first, then newest created: Ctrl+1..9 keep their threads across restarts) and deletes with
an Undo in the status bar for ``UNDO_S`` seconds, then for real (a delete left pending at close or by a crash is
finished at the next start). GUI thread only."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QPushButton, QToolButton, QWidget

from baton.core.errors import BatonError
from baton.core.store.thread_ops import UNDO_S
from baton.ui.models import ID_ROLE
from baton.ui.thread_settings import ThreadSettingsDialog


class ThreadActions(QObject):
    """Context menu, pins, archive, delete with undo and the Archived toggle of ``window``'s thread list."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.backend = window.backend
        self.show_archived = False
        self.pending: str | None = None  # the thread deleted last, waiting out its undo window
        self.timer = window.ui.registry.timer("undo-delete", self, int(UNDO_S * 1000), self._finish_delete,
                                              single_shot=True)
        view = window.thread_view
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._menu_at)
        self.archived_button = QToolButton()
        self.archived_button.setObjectName("archivedToggle")
        self.archived_button.setText("Archived")
        self.archived_button.setCheckable(True)
        self.archived_button.setToolTip("Show the archived threads instead (right-click one to bring it back)")
        self.archived_button.toggled.connect(self.set_show_archived)
        self.toast = QWidget()
        self.toast.setObjectName("undoToast")
        self.toast_label = QLabel("")
        self.undo_button = QPushButton("Undo")
        self.undo_button.setObjectName("undoDelete")
        self.undo_button.clicked.connect(self.undo_delete)
        row = QHBoxLayout(self.toast)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.toast_label)
        row.addWidget(self.undo_button)
        self.toast.setVisible(False)
        window.statusBar().addPermanentWidget(self.toast)
        # a new thread (or fork) goes in at the top; once the event is handled it moves below the pinned ones
        window.thread_model.rowsInserted.connect(self._place_new, Qt.ConnectionType.QueuedConnection)
        try:
            self.backend.purge_deleted()  # deletes a previous run left inside their undo window
        except BatonError:
            pass

    # ---- the list ------------------------------------------------------------------------------
    def resync(self, select: str | None = None) -> None:
        """Rebuild the list in its stable order, keeping each row's live state; select ``select`` (or keep the
        current thread when it is still listed)."""
        from dataclasses import replace

        model = self.w.thread_model
        rows = []
        for t in self.backend.list_threads(archived=self.show_archived):
            old = model.get(t.id)
            row = self.w.session._row(t)
            if old is not None:
                row = replace(row, state=old.state, unread=old.unread, detail=old.detail)
            rows.append(row)
        model.set_rows(rows)
        target = select or self.w.session.current_id
        if target is not None and model.get(target) is not None:
            self.w.session.select(target)
        elif rows:
            self.w.session.select(rows[0].id)
        else:
            self.w.session.current_id = None
            self.w.chat.show_empty(self.w._empty_state(not self.show_archived))

    def _place_new(self, *_args: object) -> None:
        rows = self.w.thread_model.rows()
        if rows and not rows[0].pinned and any(r.pinned for r in rows[1:]):
            self.resync()

    def set_show_archived(self, shown: bool) -> None:
        self.show_archived = bool(shown)
        if self.archived_button.isChecked() != self.show_archived:
            self.archived_button.setChecked(self.show_archived)
        self.resync()
        self.w.statusBar().showMessage("Showing archived threads." if shown else "Showing your threads.", 4000)

    def _menu_at(self, pos: QPoint) -> None:
        idx = self.w.thread_view.indexAt(pos)
        if idx.isValid():
            self.menu(idx.data(ID_ROLE)).popup(self.w.thread_view.viewport().mapToGlobal(pos))

    def menu(self, thread_id: str) -> QMenu:
        """The context menu of thread ``thread_id``."""
        row = self.w.thread_model.get(thread_id)
        m = QMenu(self.w.thread_view)
        m.addAction("Settings…", lambda: self.open_settings(thread_id))
        m.addAction("Unpin" if row is not None and row.pinned else "Pin to top", lambda: self.toggle_pin(thread_id))
        m.addAction("Rename…", lambda: (self.w.session.select(thread_id), self.w.rename_thread()))
        m.addAction("Unarchive" if self.show_archived else "Archive", lambda: self.archive(thread_id))
        m.addSeparator()
        m.addAction("Delete", lambda: self.delete(thread_id))
        return m

    # ---- commands -------------------------------------------------------------------------------
    def open_settings(self, thread_id: str | None = None) -> ThreadSettingsDialog | None:
        tid = thread_id or self.w.session.current_id
        row = self.w.thread_model.get(tid) if tid else None
        if row is None:
            self.w.statusBar().showMessage("No thread to set up yet: start one with Ctrl+N.", 4000)
            return None
        dlg = ThreadSettingsDialog(self.backend, row.id, row.display_title, self.w)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self._settings_saved(row.id))
        dlg.open()
        return dlg

    def _settings_saved(self, thread_id: str) -> None:
        self.resync(thread_id)
        self.w.statusBar().showMessage("Thread settings saved: its next questions use them.", 5000)
        preview = getattr(self.w, "route_preview", None)
        if preview is not None:
            preview.schedule()

    def toggle_pin(self, thread_id: str | None = None) -> None:
        tid = thread_id or self.w.session.current_id
        row = self.w.thread_model.get(tid) if tid else None
        if row is not None:
            self.backend.set_thread_settings(row.id, pinned=not row.pinned)
            self.resync(row.id)

    def archive(self, thread_id: str | None = None) -> None:
        tid = thread_id or self.w.session.current_id
        row = self.w.thread_model.get(tid) if tid else None
        if row is None:
            return
        if self.w.dispatcher.job_for_thread(row.id) is not None:
            self.w.statusBar().showMessage("Stop this thread's answer before archiving it (Esc).", 5000)
            return
        self.backend.archive_thread(row.id, not self.show_archived)
        self.resync(None if self.w.session.current_id == row.id else self.w.session.current_id)
        what = "Brought back" if self.show_archived else "Archived"
        self.w.statusBar().showMessage(f"{what} “{row.display_title}”.", 5000)

    def delete(self, thread_id: str | None = None) -> bool:
        """Hide the thread at once; Undo brings it back for ``UNDO_S`` s, then it is deleted for real."""
        tid = thread_id or self.w.session.current_id
        row = self.w.thread_model.get(tid) if tid else None
        if row is None:
            return False
        if self.w.dispatcher.job_for_thread(row.id) is not None:
            self.w.statusBar().showMessage("Stop this thread's answer before deleting it (Esc).", 5000)
            return False
        self._finish_delete()  # one undo at a time: an earlier pending delete is done now
        self.backend.soft_delete_thread(row.id)
        self.pending = row.id
        self.resync(None if self.w.session.current_id == row.id else self.w.session.current_id)
        self.toast_label.setText(f"Deleted “{row.display_title}”.")
        self.toast.setVisible(True)
        self.timer.start()
        return True

    def undo_delete(self) -> bool:
        tid, self.pending = self.pending, None
        self.timer.stop()
        self.toast.setVisible(False)
        if tid is None or not self.backend.restore_thread(tid):
            return False
        self.resync(tid)
        self.w.statusBar().showMessage("Thread restored.", 4000)
        return True

    def _finish_delete(self) -> None:
        tid, self.pending = self.pending, None
        self.timer.stop()
        self.toast.setVisible(False)
        if tid is not None:
            try:
                self.backend.purge_deleted(0, only=tid)
            except BatonError as e:
                self.w.statusBar().showMessage(f"Could not finish deleting the thread: {e}", 8000)

    def shutdown(self) -> None:
        """Finish a pending delete now (called when the window closes)."""
        self._finish_delete()
