"""The API server inside the app: `baton serve` (the same Starlette app, commands/serve_app.py) started and stopped
from File → API server, on 127.0.0.1 at the default port (or a free one when that is taken), with its URL and a
copyable bearer token (the one `baton serve` keeps: the OS keyring, else a 0600 file in the config dir). It
answers through the app's own service, so its requests share the loaded engine and its slots with the window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (QDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout,
                               QWidget)

from baton.core.errors import BatonError

HOST = "127.0.0.1"
START_WAIT_S = 10.0


class ApiServer:
    """One `baton serve` on a background thread (uvicorn), over ``service``. No Qt: ``start`` and ``stop`` block
    until the server listens or has stopped. ``url`` is the OpenAI base URL (``http://127.0.0.1:PORT/v1``) while it
    runs, ``token`` the bearer token. Errors: BatonError (no port, the token cannot be kept, it did not start)."""

    def __init__(self, service: Any, paths: Any, port: int | None = None) -> None:
        self.service, self.paths = service, paths
        self.port_wanted = port
        self.url: str | None = None
        self.token: str = ""
        self.token_where: str = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._app: Any = None
        self._sock: Any = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        """Listen and serve; returns the URL. Starting a running server returns its URL."""
        import uvicorn

        from baton.commands.serve import DEFAULT_PORT, allowed_host_names, bind_socket, load_or_create_token
        from baton.commands.serve_app import ServeConfig, build_app

        if self.running and self.url:
            return self.url
        self.token, self.token_where, _made = load_or_create_token(SimpleNamespace(paths=self.paths))
        port = DEFAULT_PORT if self.port_wanted is None else self.port_wanted
        try:
            sock = bind_socket(HOST, port)
        except BatonError:
            if self.port_wanted is not None and self.port_wanted != 0:
                raise
            sock = bind_socket(HOST, 0)  # the default port is taken (a `baton serve` already runs): any free one
        workers = max(1, int(self.service.settings.engine.parallel))
        app = build_app(self.service, ServeConfig(token=self.token, allowed_hosts=allowed_host_names(HOST, None),
                                                  workers=workers))
        config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, lifespan="off",
                                http="h11", loop="asyncio", timeout_graceful_shutdown=5)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="api-server", daemon=True)
        self._server, self._thread, self._app, self._sock = server, thread, app, sock
        thread.start()
        deadline = time.monotonic() + START_WAIT_S
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not server.started:
            self.stop()
            raise BatonError("the API server did not start; see the log, or run `baton serve` in a terminal")
        self.url = f"http://{HOST}:{sock.getsockname()[1]}/v1"
        return self.url

    def stop(self) -> None:
        """Stop serving (an answer in progress is stopped and stored as cancelled) and close the port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
        if self._app is not None:
            self._app.state.dispatcher.close()
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._app = self._sock = None
        self.url = None


class ServeDialog(QDialog):
    """Start/stop, the URL and the token, each with Copy; the token hidden until Show."""

    def __init__(self, server: ApiServer, on_change: Callable[[], None], parent: QWidget | None = None) -> None:
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
    def __init__(self, server: ApiServer, parent: QObject) -> None:
        super().__init__(parent)
        self.server = server

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Close:
            self.server.stop()
        return False


def install(window: Any, add_action: Callable[..., QAction]) -> QAction:
    """Add "API server…" to the window (File menu and palette); the server stops when the window closes."""
    server = ApiServer(window.backend.service, window.backend.paths)
    window.api_server = server
    badge = QLabel("")
    badge.setObjectName("serveBadge")
    window.statusBar().addPermanentWidget(badge)

    def changed() -> None:
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
