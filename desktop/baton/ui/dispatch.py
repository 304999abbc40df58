"""The GUI-thread side of the workers: sends jobs to the right lane, takes their text every 50 ms,
and turns worker signals into window-level signals. Lives on the GUI thread; all its slots run there.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from baton.ui.backend import Backend
from baton.ui.registry import Registry
from baton.ui.workers import Approval, Job, JobIds, Lane

DRAIN_INTERVAL_MS = 50
RATE_EVERY_S = 1.0
LANE_STOP_WAIT_MS = 15000


class Dispatcher(QObject):
    textArrived = Signal(object, str)  # job, new text (batched)
    textRestarted = Signal(object)  # job: the text so far (job.draft_text) is being replaced by a new answer
    ratesChanged = Signal()  # the running jobs' live tokens/s (about once a second)
    jobChanged = Signal(object)  # state or status changed
    jobFinished = Signal(object)  # done, failed or cancelled
    queueChanged = Signal()
    approvalNeeded = Signal(object)  # Approval

    def __init__(self, backend: Backend, registry: Registry, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self._registry = registry
        self._ids = JobIds()
        self._jobs: dict[int, Job] = {}  # unfinished jobs
        self._cloud: dict[int, Lane] = {}
        self._approvals: list[Approval] = []
        # as many local answers run at once as the loaded engine has slots (engine.parallel: one batch); the rest
        # wait in order, visibly queued
        self._local = self._make_lane("engine-lane", one_shot=False, concurrency=self._local_slots)
        self._local.start()
        self._drain_timer = registry.timer("stream-drain", self, DRAIN_INTERVAL_MS, self._drain)
        self._closed = False

    # ---- queries ------------------------------------------------------------------------------
    def job_for_thread(self, thread_id: str) -> Job | None:
        return next((j for j in self._jobs.values() if j.thread_id == thread_id), None)

    def local_queue(self) -> list[Job]:
        return self._local.snapshot()

    def running(self) -> list[Job]:
        return [j for j in self._jobs.values() if j.state == "running"]

    def cloud_jobs(self) -> list[Job]:
        """Unfinished jobs answered by a remote tier, oldest first."""
        return [j for j in self._jobs.values() if j.lane == "cloud"]

    def busy(self) -> bool:
        return bool(self._jobs)

    # ---- commands -----------------------------------------------------------------------------
    def submit(self, thread_id: str, prompt: str, tier: str = "auto", model: str | None = None,
               kind: str = "ask", message_id: str | None = None) -> Job:
        if self._closed:
            raise RuntimeError("the dispatcher is shut down")
        job = Job(self._ids.next(), thread_id, prompt, tier=tier, model=model, kind=kind, message_id=message_id)
        self._jobs[job.id] = job
        if job.lane == "local":
            self._local.submit(job)
        else:
            lane = self._make_lane(f"cloud-lane-{job.id}", one_shot=True)
            self._cloud[job.id] = lane
            lane.submit(job)
            lane.start()
        self.jobChanged.emit(job)
        return job

    def stop(self, job: Job) -> None:
        """Cancel a running job between tokens, or drop a queued one at once. A running job says "stopping" at
        once (``job.stopping``, a jobChanged) until its worker has stopped."""
        job.cancel.set()
        if job.state == "running" and not job.stopping:
            job.stopping = True
            self.jobChanged.emit(job)
        for a in self._approvals:
            if a.job is job and not a.answered:
                a.answer(False)
        if job.state == "queued" and self._local.remove(job.id) is not None:
            job.state = "cancelled"
            self._finish(job)

    def move(self, job_id: int, delta: int) -> bool:
        return self._local.move(job_id, delta)

    def answer_approval(self, approval: Approval, approved: bool) -> None:
        approval.answer(approved)
        if approval in self._approvals:
            self._approvals.remove(approval)

    def shutdown(self) -> None:
        """Cancel everything and wait for the worker threads to end. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for job in list(self._jobs.values()):
            job.cancel.set()
        for a in self._approvals:
            a.answer(False)
        self._approvals.clear()
        lanes = [self._local, *self._cloud.values()]
        for lane in lanes:
            lane.request_stop()
        for lane in lanes:
            lane.wait(LANE_STOP_WAIT_MS)
        self._drain_timer.stop()
        self._jobs.clear()
        self._cloud.clear()

    # ---- internals (GUI thread) -------------------------------------------------------------------
    def _local_slots(self) -> int:
        """Local answers that may run at once (called on the lane's thread)."""
        slots = getattr(getattr(self._backend, "service", None), "local_parallel", None)
        try:
            return max(1, int(slots())) if callable(slots) else 1
        except Exception:  # noqa: BLE001 - a service that cannot say runs one at a time
            return 1

    def _make_lane(self, name: str, one_shot: bool, concurrency: int | Callable[[], int] = 1) -> Lane:
        lane = Lane(self._backend, one_shot=one_shot, concurrency=concurrency)
        self._registry.track_thread(name, lane)
        lane.jobStarted.connect(self._on_started)
        lane.jobStatus.connect(self._on_status)
        lane.jobDone.connect(self._on_done)
        lane.approvalNeeded.connect(self._on_approval)
        lane.queueChanged.connect(self.queueChanged)
        if one_shot:
            lane.finished.connect(lane.deleteLater)
        return lane

    def _on_started(self, job: Job) -> None:
        if job.id not in self._jobs:
            return
        job.state = "running"
        if not self._drain_timer.isActive():
            self._drain_timer.start()
        self.jobChanged.emit(job)

    def _on_status(self, job: Job, text: str) -> None:
        if job.id in self._jobs:
            job.status = str(text)
            job.phase = str(getattr(text, "phase", "") or job.phase)
            self.jobChanged.emit(job)

    def _on_approval(self, approval: Approval) -> None:
        if self._closed or approval.job.cancel.is_set():
            approval.answer(False)
            return
        self._approvals.append(approval)
        self.approvalNeeded.emit(approval)

    def _on_done(self, job: Job) -> None:
        if job.id not in self._jobs:
            return
        self._take_text(job)
        if job.error is not None:
            job.state = "cancelled" if (job.cancel.is_set() or job.declined) else "failed"
        elif job.cancel.is_set() or (job.receipt or {}).get("finish_reason") == "cancelled":
            job.state = "cancelled"
        else:
            job.state = "done"
        self._finish(job)

    def _finish(self, job: Job) -> None:
        self._jobs.pop(job.id, None)
        self._cloud.pop(job.id, None)
        self._approvals = [a for a in self._approvals if a.job is not job]
        if not self.running():
            self._drain_timer.stop()
        job.status = ""
        self.jobChanged.emit(job)
        self.jobFinished.emit(job)

    def _drain(self) -> None:
        now = time.monotonic()
        rates = False
        for job in list(self._jobs.values()):
            if job.state == "running":
                self._take_text(job)
                rates = self._job_rate(job, now) or rates
        if rates:
            self.ratesChanged.emit()

    @staticmethod
    def _job_rate(job: Job, now: float) -> bool:
        """Update ``job.tokens_per_s`` about once a second; True when it was updated."""
        if job.rate_mark is None:
            job.rate_mark = (now, job.buffer.pieces)
            return False
        t0, p0 = job.rate_mark
        if now - t0 < RATE_EVERY_S:
            return False
        job.tokens_per_s = max(0, job.buffer.pieces - p0) / (now - t0)
        job.rate_mark = (now, job.buffer.pieces)
        return True

    def _take_text(self, job: Job) -> None:
        for text in job.buffer.drain():
            if text is None:
                job.draft_text, job.shown_text = job.shown_text, ""
                self.textRestarted.emit(job)
            elif text:
                job.shown_text += text
                self.textArrived.emit(job, text)

