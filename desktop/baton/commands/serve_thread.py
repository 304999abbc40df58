"""`baton serve` on a background thread of another program (the desktop app's API server toggle): the same
Starlette app as the command (serve_app.py) on 127.0.0.1, at the default port or a free one when that is taken,
with the token `baton serve` keeps (the OS keyring, else a 0600 file in the config dir), over the caller's own
service, so its requests share that service's loaded engine and slots. No Qt here: the app gets this class
from `baton gui` (commands/gui.py) and shows it."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

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
