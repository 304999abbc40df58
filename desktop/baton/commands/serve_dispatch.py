"""The one place where `baton serve` hands work to the service: worker threads that answer up to ``workers``
requests at once, starting them in arrival order, from a queue of bounded length.

The engine decodes up to ``engine.parallel`` answers of one loaded model together in one batch, so the server
runs that many requests at once (each cancellable alone); the rest wait in order. A request that finds the queue
full is refused at once (the server turns that into HTTP 429 with ``Retry-After``) rather than left to pile up.
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
DEFAULT_WORKERS = 1  # `baton serve` passes engine.parallel


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
    """Runs submitted calls on ``workers`` threads, up to that many at once, started first come first served.

    ``capacity``: how many calls may wait (besides the running ones); :meth:`submit` raises :class:`QueueFull`
    beyond it. A waiting call whose future is cancelled is skipped. :meth:`close` cancels the waiting calls,
    sets the cancel events of the running ones and joins the threads. ``workers``: pass ``engine.parallel``.
    """

    def __init__(self, capacity: int = DEFAULT_QUEUE, name: str = "baton-serve-worker",
                 workers: int = DEFAULT_WORKERS) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.capacity = capacity
        self.workers = workers
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._running: list[_Job] = []
        self._mean_s = 2.0  # a running mean of how long a call takes, for Retry-After
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    @property
    def running(self) -> int:
        """Calls running now."""
        with self._lock:
            return len(self._running)

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
                wait = self._mean_s * (self._waiting // self.workers + 1)
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
                self._running.append(job)  # before it runs, so that close() cannot miss its cancel event
                closed = self._closed
            if closed and job.cancel is not None:
                job.cancel.set()
            if not fut.set_running_or_notify_cancel():  # its client left while it waited
                with self._lock:
                    self._running.remove(job)
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
                    self._running.remove(job)
                    self._mean_s = 0.8 * self._mean_s + 0.2 * (time.monotonic() - start)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop: waiting calls are cancelled, the running ones are asked to stop; waits up to ``timeout_s``."""
        with self._lock:
            self._closed = True
            for job in self._running:
                if job.cancel is not None:
                    job.cancel.set()
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.future.cancel()
                if job.cancel is not None:
                    job.cancel.set()
        for _ in self._threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
