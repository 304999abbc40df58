"""The accept loop the loopback test servers share: one daemon thread per connection until ``stop`` is set."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def accept_loop(sock: socket.socket, stop: threading.Event, handle: Callable[[socket.socket], None],
                threads: list[threading.Thread]) -> None:
    """Accept connections on ``sock`` (which has a timeout set) and serve each with ``handle`` on its own thread,
    kept in ``threads`` so the server can join them; returns when ``stop`` is set or the socket is closed."""
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        t = threading.Thread(target=handle, args=(conn,), daemon=True)
        t.start()
        threads.append(t)
