"""Settings changed outside the app (`baton endpoints add/remove`, `baton config set`, an editor) reach the app
at once: the config file is watched, read again into the live settings, and the window's ``settingsChanged``
tells every view (the retry menus, Compare, an open Settings dialog) to read them again."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QFileSystemWatcher, QObject

SETTLE_MS = 200  # a save is a write and a rename: read once they are both done


class SettingsSync(QObject):
    """Watches ``window.backend.paths.config_file`` (and its folder, since saves replace the file)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.path = window.backend.paths.config_file
        self._seen = self._stamp()
        self.watcher = QFileSystemWatcher(self)
        self.watcher.addPath(str(self.path.parent))
        if self.path.exists():
            self.watcher.addPath(str(self.path))
        self.watcher.fileChanged.connect(self._poke)
        self.watcher.directoryChanged.connect(self._poke)
        self.timer = window.ui.registry.timer("settings-sync", self, SETTLE_MS, self.check, single_shot=True)
        self._closed = False
        window.installEventFilter(self)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _poke(self, *_args: Any) -> None:
        if not self._closed:
            self.timer.start()

    def check(self) -> bool:
        """Read the file again when it changed since last seen; returns True when the views were told."""
        if self.path.exists() and str(self.path) not in self.watcher.files():
            self.watcher.addPath(str(self.path))  # a save replaced the file: watch the new one
        stamp = self._stamp()
        if stamp == self._seen or stamp is None:
            return False
        self._seen = stamp
        if not self.window.backend.reload_settings():
            self.window.statusBar().showMessage("The config file changed but cannot be read; the app keeps the "
                                                "settings it had. Run `baton config list` to see the problem.", 8000)
            return False
        self.window.settingsChanged.emit()
        return True

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if obj is self.window and event.type() == QEvent.Type.Close:
            self._closed = True  # the window saves its geometry beside the config file as it closes
            self.timer.stop()
        return False
