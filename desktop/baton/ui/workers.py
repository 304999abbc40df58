"""Where answers are generated: one long-lived local lane, one short-lived lane per cloud request.

Rules (DESIGN.md): the local lane runs up to ``concurrency`` answers at once (``engine.parallel``: the engine
decodes them together in one batch, each on its own thread here), and the rest queue in a plain, reorderable
list; cloud requests run concurrently on their own threads. Workers never touch a Qt
item model: they push text into a per-job ``StreamBuffer`` and emit signals for state changes. The
GUI thread takes the buffered text about every 50 ms (``Dispatcher``), never once per token.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QThread, Signal

from baton.core.pipeline.turn import Phase
from baton.core.errors import BatonError
from baton.ui.backend import Backend, describe_error

log = logging.getLogger(__name__)


class StreamBuffer:
    """Text a worker produced that the GUI has not taken yet. Thread-safe; O(1) per push. ``restart`` marks that
    what follows is a new answer (an escalation replaces the local one): ``drain`` returns ``None`` there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str | None] = []
        self.pieces = 0  # every push, for a live tokens-per-second figure

    def push(self, text: str) -> None:
        with self._lock:
            self._parts.append(text)
            self.pieces += 1

    def restart(self) -> None:
        with self._lock:
            self._parts.append(None)

    def drain(self) -> list[str | None]:
        """The text pushed since the last drain, joined between restarts: e.g. ``["abc", None, "def"]``."""
        with self._lock:
            if not self._parts:
                return []
            parts, self._parts = self._parts, []
        out: list[str | None] = []
        run: list[str] = []
        for p in parts:
            if p is None:
                if run:
                    out.append("".join(run))
                    run = []
                out.append(None)
            else:
                run.append(p)
        if run:
            out.append("".join(run))
        return out


@dataclass(eq=False)
class Job:
    """One request from the window. Workers set the ``*_wall``, ``receipt`` and ``error`` fields
    before emitting; the GUI thread owns ``state``, ``status`` and ``shown_text``."""

    id: int
    thread_id: str
    prompt: str
    tier: str = "auto"  # auto | local | cloud
    model: str | None = None  # a local model id, or an endpoint name when escalating
    kind: str = "ask"  # ask | escalate | retry | edit
    message_id: str | None = None  # the answer a retry or escalation replaces, the question an edit replaces
    cancel: threading.Event = field(default_factory=threading.Event)
    buffer: StreamBuffer = field(default_factory=StreamBuffer)
    state: str = "queued"  # queued | running | done | failed | cancelled
    status: str = ""
    phase: str = ""  # a baton.core.pipeline.turn.Phase value, "" before the first status
    shown_text: str = ""
    draft_text: str = ""  # the local answer an escalation is replacing (shown faded while the new one streams)
    tokens_per_s: float = 0.0  # live, over about the last second (GUI thread)
    rate_mark: tuple[float, int] | None = None
    stopping: bool = False  # Stop was pressed; the worker stops between two tokens
    submitted_wall: float = field(default_factory=time.time)
    started_wall: float | None = None
    first_text_mono: float | None = None
    receipt: dict[str, Any] | None = None
    error: str | None = None
    declined: bool = False  # the user said no to sending it off the machine (ask mode)

    @property
    def lane(self) -> str:
        return "cloud" if (self.tier == "cloud" or self.kind == "escalate") else "local"

    @property
    def escalated(self) -> bool:
        return bool(self.receipt and (self.receipt.get("route") or {}).get("escalated"))


class JobIds:
    """Hands out job ids (one counter per window, not per process)."""

    def __init__(self) -> None:
        self._count = itertools.count(1)

    def next(self) -> int:
        return next(self._count)


class Approval:
    """An escalation waiting for the user's yes or no (ask mode). The worker blocks on it."""

    def __init__(self, job: Job, plan: Any) -> None:
        self.job = job
        self.plan = plan
        self.approved = False
        self._event = threading.Event()

    def answer(self, approved: bool) -> None:
        self.approved = approved
        self._event.set()

    @property
    def answered(self) -> bool:
        return self._event.is_set()

    def wait(self, stop: threading.Event, poll_s: float = 0.05) -> bool:
        while not self._event.wait(poll_s):
            if self.job.cancel.is_set() or stop.is_set():
                return False
        return self.approved


class Lane(QThread):
    """A worker thread with a queue. The local lane lives as long as the window and runs up to ``concurrency``
    jobs at once (a count, or a callable asked again while jobs wait, since the limit grows once the model is
    loaded), each on a thread of its own; a cloud lane runs one job and ends (``one_shot``)."""

    jobStarted = Signal(object)
    jobStatus = Signal(object, str)
    jobDone = Signal(object)
    approvalNeeded = Signal(object)
    queueChanged = Signal()

    def __init__(self, backend: Backend, one_shot: bool = False, concurrency: int | Callable[[], int] = 1) -> None:
        super().__init__()
        self._backend = backend
        self._one_shot = one_shot
        self._concurrency = concurrency  # a count, or a callable asked each time a job could start
        self._cond = threading.Condition()
        self._queue: list[Job] = []
        self._current: list[Job] = []  # running, in the order they started
        self._helpers: list[threading.Thread] = []
        self._stop = threading.Event()

    # ---- called on the GUI thread ---------------------------------------------------------------
    def submit(self, job: Job) -> None:
        with self._cond:
            self._queue.append(job)
            self._cond.notify()
        self.queueChanged.emit()

    def snapshot(self) -> list[Job]:
        """The running jobs first (in the order they started), then the queue in order."""
        with self._cond:
            return list(self._current) + list(self._queue)

    def move(self, job_id: int, delta: int) -> bool:
        with self._cond:
            idx = next((i for i, j in enumerate(self._queue) if j.id == job_id), None)
            if idx is None:
                return False
            new = max(0, min(len(self._queue) - 1, idx + delta))
            if new == idx:
                return False
            self._queue.insert(new, self._queue.pop(idx))
        self.queueChanged.emit()
        return True

    def remove(self, job_id: int) -> Job | None:
        """Take a job that has not started out of the queue."""
        with self._cond:
            idx = next((i for i, j in enumerate(self._queue) if j.id == job_id), None)
            job = self._queue.pop(idx) if idx is not None else None
        if job is not None:
            self.queueChanged.emit()
        return job

    def request_stop(self) -> list[Job]:
        """Stop after the running jobs (which are cancelled); returns the jobs that never started."""
        self._stop.set()
        with self._cond:
            left, self._queue = self._queue, []
            for job in self._current:
                job.cancel.set()
            self._cond.notify_all()
        return left

    # ---- the worker thread ----------------------------------------------------------------------
    def run(self) -> None:
        try:
            while True:
                with self._cond:
                    while (not self._queue or len(self._current) >= self.concurrency()) and not self._stop.is_set():
                        self._cond.wait(0.25 if self._current else None)
                    if self._stop.is_set():
                        return
                    job = self._queue.pop(0)
                    self._current.append(job)
                self.queueChanged.emit()
                if self._one_shot:
                    self._run_one(job)
                else:
                    helper = threading.Thread(target=self._run_one, args=(job,), name=f"answer-{job.id}", daemon=True)
                    self._helpers = [t for t in self._helpers if t.is_alive()] + [helper]
                    helper.start()
                with self._cond:
                    done = self._one_shot and not self._queue and not self._current
                if done:
                    return
        finally:
            for helper in self._helpers:  # the lane ends when its answers have
                helper.join()

    def concurrency(self) -> int:
        """Jobs that may run at once now (at least 1)."""
        limit = self._concurrency
        try:
            return max(1, int(limit() if callable(limit) else limit))
        except Exception:  # noqa: BLE001 - a limit that cannot be read means one at a time
            return 1

    def _run_one(self, job: Job) -> None:
        try:
            self._execute(job)
        finally:
            with self._cond:
                if job in self._current:
                    self._current.remove(job)
                self._cond.notify_all()
            self.queueChanged.emit()

    def _execute(self, job: Job) -> None:
        job.started_wall = time.time()
        self.jobStarted.emit(job)

        def on_text(text: str) -> None:
            if job.first_text_mono is None:
                job.first_text_mono = time.monotonic()
            job.buffer.push(text)

        def on_status(text: str) -> None:
            if getattr(text, "phase", None) == Phase.ESCALATING:
                job.buffer.restart()  # what follows replaces the local answer; the status is shown beside it
            self.jobStatus.emit(job, text)

        def approve(plan: Any) -> bool:
            approval = Approval(job, plan)
            self.approvalNeeded.emit(approval)
            approved = approval.wait(self._stop)
            job.declined = job.declined or not approved
            return approved

        try:
            if job.kind == "edit" and job.message_id:
                job.receipt = self._backend.edit(job.message_id, job.prompt, job.tier, on_text, job.cancel,
                                                 approve, on_status)
            elif job.kind in ("escalate", "retry") and job.message_id:
                job.receipt = self._backend.retry(job.message_id, job.tier, job.model, on_text, job.cancel,
                                                  approve, on_status)
            else:
                job.receipt = self._backend.ask(job.prompt, job.thread_id, job.model, job.tier,
                                                on_text, job.cancel, approve, on_status)
        except Exception as e:  # every failure becomes a message in the thread, never a crash
            if not isinstance(e, BatonError):
                log.exception("answer %s in thread %s failed", job.id, job.thread_id)
            job.error = describe_error(e)
        self.jobDone.emit(job)


class Call(QThread):
    """Run one slow, Qt-free function off the GUI thread (model discovery); emits its result."""

    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self._fn = fn

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as e:
            self.failed.emit(describe_error(e))
            return
        self.succeeded.emit(result)
