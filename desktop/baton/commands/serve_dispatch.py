"""The one place where `baton serve` hands work to the service: a worker thread that answers requests one at a
time, in arrival order, from a queue of bounded length.

The engine owns one loaded model on one thread, so requests are answered one after another; a request that
finds the queue full is refused at once (the server turns that into HTTP 429 with ``Retry-After``) rather than
left to pile up. Should the service learn to answer several threads at once, this class is what changes.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

DEFAULT_QUEUE = 64


class QueueFull(Exception):
    """The queue holds ``capacity`` waiting requests already. ``retry_after_s``: a rough wait, in seconds."""

    def __init__(self, capacity: int, retry_after_s: int) -> None:
        super().__init__(f"{capacity} requests are waiting already")
        self.capacity = capacity
        self.retry_after_s = retry_after_s


class _Job:
    __slots__ = ("future", "fn", "cancel", "counted")

    def __init__(self, future: Future, fn: Callable[[], Any], cancel: threading.Event | None) -> None:
        self.future, self.fn, self.cancel, self.counted = future, fn, cancel, True


class Dispatcher:
    """Runs submitted calls on one worker thread, one at a time, first come first served.

    ``capacity``: how many calls may wait (besides the one running); :meth:`submit` raises :class:`QueueFull`
    beyond it. A waiting call whose future is cancelled is skipped. :meth:`close` cancels the waiting calls,
    sets the cancel event of the running one and joins the thread.
    """

    def __init__(self, capacity: int = DEFAULT_QUEUE, name: str = "baton-serve-worker") -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._running_cancel: threading.Event | None = None
        self._mean_s = 2.0  # a running mean of how long a call takes, for Retry-After
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Calls submitted and not yet started (a cancelled one stops counting at once)."""
        with self._lock:
            return self._waiting

    def submit(self, fn: Callable[[], Any], cancel: threading.Event | None = None) -> Future:
        """Queue ``fn`` (run with no arguments on the worker thread); ``cancel`` is set on :meth:`close`.
        Returns a Future of its result. Errors: :class:`QueueFull`; RuntimeError after :meth:`close`."""
        fut: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            if self._waiting >= self.capacity:
                wait = self._mean_s * (self._waiting + 1)
                raise QueueFull(self.capacity, max(1, min(60, math.ceil(wait))))
            self._waiting += 1
        job = _Job(fut, fn, cancel)
        fut.add_done_callback(lambda f: self._uncount(job) if f.cancelled() else None)
        self._jobs.put(job)
        return fut

    def _uncount(self, job: _Job) -> None:
        with self._lock:
            if job.counted:
                job.counted = False
                self._waiting -= 1

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fut, fn = job.future, job.fn
            self._uncount(job)
            with self._lock:
                self._running_cancel = job.cancel  # before it runs, so that close() cannot miss it
            if not fut.set_running_or_notify_cancel():  # its client left while it waited
                with self._lock:
                    self._running_cancel = None
                continue
            start = time.monotonic()
            try:
                result = fn()
            except BaseException as e:  # noqa: BLE001 - handed to the request that asked
                fut.set_exception(e)
            else:
                fut.set_result(result)
            finally:
                with self._lock:
                    self._running_cancel = None
                    self._mean_s = 0.8 * self._mean_s + 0.2 * (time.monotonic() - start)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop: waiting calls are cancelled, the running one is asked to stop; waits up to ``timeout_s``."""
        with self._lock:
            self._closed = True
            if self._running_cancel is not None:
                self._running_cancel.set()
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.future.cancel()
                if job.cancel is not None:
                    job.cancel.set()
        self._jobs.put(None)
        self._thread.join(timeout_s)
