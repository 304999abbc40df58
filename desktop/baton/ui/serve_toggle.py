"""The API server inside the app: `baton serve` (the same Starlette app) started and stopped from File → API server,
on 127.0.0.1 at the default port (or a free one when that is taken), with its URL and a copyable bearer token (the
one `baton serve` keeps: the OS keyring, else a 0600 file in the config dir). It answers through the app's own
service, so its requests share the loaded engine and its slots with the window. The server itself is
commands/serve_thread.py's ``ApiServer``, handed to the window by `baton gui` (the app does not import commands).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (QDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout,
                               QWidget)

from baton.core.errors import BatonError

class ServeDialog(QDialog):
    """Start/stop, the URL and the token, each with Copy; the token hidden until Show. ``server``: an ``ApiServer``
    (commands/serve_thread.py): ``start``, ``stop``, ``running``, ``url``, ``token``, ``token_where``."""

    def __init__(self, server: Any, on_change: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("API server")
        self.resize(620, 260)
        self.server, self._on_change = server, on_change
        intro = QLabel("An OpenAI-compatible API on this computer (loopback only), answered by Baton's router and "
                       "this app's loaded models. Point an editor or a script at the URL with the token as its "
                       "API key.")
        intro.setWordWrap(True)
        self.toggle = QPushButton()
        self.toggle.setObjectName("serveToggle")
        self.toggle.setCheckable(True)
        self.toggle.clicked.connect(self._toggled)
        self.url = QLineEdit()
        self.url.setObjectName("serveUrl")
        self.url.setReadOnly(True)
        self.token = QLineEdit()
        self.token.setObjectName("serveToken")
        self.token.setReadOnly(True)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.copy_url = QPushButton("Copy")
        self.copy_url.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.url.text()))
        self.copy_token = QPushButton("Copy")
        self.copy_token.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.server.token))
        self.show_token = QPushButton("Show")
        self.show_token.setCheckable(True)
        self.show_token.toggled.connect(self._show)
        url_row, token_row = QHBoxLayout(), QHBoxLayout()
        url_row.addWidget(self.url, 1)
        url_row.addWidget(self.copy_url)
        token_row.addWidget(self.token, 1)
        token_row.addWidget(self.show_token)
        token_row.addWidget(self.copy_token)
        form = QFormLayout()
        form.addRow("Base URL:", url_row)
        form.addRow("Bearer token:", token_row)
        self.status = QLabel("")
        self.status.setObjectName("serveStatus")
        self.status.setWordWrap(True)
        self.status.setMinimumHeight(self.status.fontMetrics().lineSpacing() * 2 + 4)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        bottom = QHBoxLayout()
        bottom.addWidget(self.toggle)
        bottom.addStretch(1)
        bottom.addWidget(close)
        col = QVBoxLayout(self)
        col.addWidget(intro)
        col.addLayout(form)
        col.addWidget(self.status)
        col.addStretch(1)
        col.addLayout(bottom)
        self._sync()

    def set_running(self, on: bool) -> bool:
        """Start or stop the server; returns whether it runs now (a failure is shown in the dialog)."""
        try:
            if on:
                self.server.start()
            else:
                self.server.stop()
        except BatonError as e:
            self.status.setText(str(e))
        self._sync()
        self._on_change()
        return self.server.running

    def _show(self, on: bool) -> None:
        self.token.setEchoMode(QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password)
        self.show_token.setText("Hide" if on else "Show")

    def _toggled(self, checked: bool) -> None:
        self.set_running(checked)

    def _sync(self) -> None:
        on = self.server.running
        self.toggle.setChecked(on)
        self.toggle.setText("Stop the server" if on else "Start the server")
        self.url.setText(self.server.url or "")
        self.token.setText(self.server.token if on else "")
        for w in (self.copy_url, self.copy_token, self.show_token):
            w.setEnabled(on)
        if on:
            self.status.setText(f"Serving at {self.server.url}. The token is kept in {self.server.token_where}; "
                                "model `baton` lets the router decide.")
        elif not self.status.text().startswith("cannot") and "did not start" not in self.status.text():
            self.status.setText("Stopped: nothing listens.")


class _StopOnClose(QObject):
    def __init__(self, server: Any, parent: QObject) -> None:
        super().__init__(parent)
        self.server = server

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Close:
            self.server.stop()
        return False


def install(window: Any, add_action: Callable[..., QAction]) -> QAction:
    """Add "API server…" to the window (File menu and palette); the server stops when the window closes. Without
    a server factory in the window's context (``UiContext.api_server``) the action says where to find `baton serve`."""
    factory = getattr(window.ui, "api_server", None)
    if factory is None:
        return add_action("API &server…", "Ctrl+Shift+A", lambda: window.statusBar().showMessage(
            "The API server is started from `baton gui`; here run `baton serve` in a terminal.", 8000),
            "Start or stop the OpenAI-compatible API (baton serve)")
    server = factory(window.backend.service, window.backend.paths)
    window.api_server = server
    badge = QLabel("")
    badge.setObjectName("serveBadge")
    window.statusBar().addPermanentWidget(badge)

    def changed() -> None:
        watch = getattr(window, "store_watch", None)
        if watch is not None:  # its answers appear in the sidebar while it runs
            watch.follow(server.running)
        badge.setText(f"API on :{server.url.rsplit(':', 1)[-1].split('/')[0]}" if server.running and server.url
                      else "")

    def open_dialog() -> ServeDialog:
        dlg = ServeDialog(server, changed, window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.serve_dialog = dlg
        dlg.open()
        return dlg

    window.installEventFilter(_StopOnClose(server, window))
    return add_action("API &server…", "Ctrl+Shift+A", open_dialog,
                      "Start or stop the OpenAI-compatible API (baton serve) with its URL and token")
