"""One shared thread that reads the meter's channels while at least one window is open.

Counters are read at least once a second (more often when their wrap range is small), power
sensors at ``power_hz`` (10-20 Hz) so they can be integrated. With no window open the thread waits
on a condition and costs nothing. It keeps account of its own CPU time (``cpu_s``).
"""

from __future__ import annotations

import threading
import time

from baton.core.telemetry.channel import Channel


class Poller:
    """The thread that reads the meter's channels while a window is open (``acquire``/``release``)."""
    def __init__(self, channels: list[Channel], power_hz: float = 20.0) -> None:
        self._channels = list(channels)
        self._power_hz = power_hz
        self._cond = threading.Condition()
        self._active = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.cpu_s = 0.0
        self.rounds = 0

    @property
    def thread(self) -> threading.Thread | None:
        """The polling thread, None before the first window."""
        return self._thread

    def acquire(self) -> None:
        """A window opened: start (or wake) the thread."""
        with self._cond:
            if self._stopping or not self._channels:
                return
            self._active += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="baton-energy-poller", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def release(self) -> None:
        """A window closed: the thread sleeps when none is left."""
        with self._cond:
            self._active = max(0, self._active - 1)

    @property
    def active(self) -> int:
        """How many windows are open now."""
        with self._cond:
            return self._active

    def _run(self) -> None:
        due = {id(ch): 0.0 for ch in self._channels}
        while True:
            with self._cond:
                while self._active == 0 and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
            cpu0 = time.thread_time()
            now = time.monotonic()
            for ch in self._channels:
                if now >= due[id(ch)]:
                    ch.read()
                    due[id(ch)] = now + ch.poll_interval_s(self._power_hz)
            self.rounds += 1
            self.cpu_s += time.thread_time() - cpu0
            wait_s = max(0.002, min(due.values()) - time.monotonic())
            with self._cond:
                if not self._stopping:
                    self._cond.wait(timeout=wait_s)

    def stop(self) -> None:
        """Stop the thread and wait for it (up to 5 s). Idempotent."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5.0)
