"""What the window does with threads and jobs: which thread is shown, sending, stopping, escalating,
and turning dispatcher events into sidebar states and chat updates. GUI thread only."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from baton.core.pipeline.turn import Phase
from baton.core.errors import BatonError
from baton.core.store.records import title_from
from baton.ui.backend import Backend, MessageView, ThreadInfo
from baton.ui.chat import ChatView
from baton.ui.composer import Composer
from baton.ui.dispatch import Dispatcher
from baton.ui.models import QueueModel, QueueRow, ThreadListModel, ThreadRow
from baton.ui.workers import Job


def job_state(job: Job) -> str:
    """The sidebar state of a thread whose job is unfinished."""
    if job.state == "queued":
        return "queued"
    if job.phase in (Phase.LOADING, Phase.WAITING):
        return str(job.phase)
    if job.phase == Phase.ESCALATING or (job.lane == "cloud" and job.kind == "escalate"):
        return "escalated"
    return "generating"


def live_status(job: Job, queue_position: int) -> str:
    """The line under the answer being written (never inside its text)."""
    if job.stopping:
        return "Stopping…"
    if job.state == "queued":
        return (f"Queued on the local engine ({queue_position} ahead). Reorder it in the queue panel."
                if queue_position > 0 else "Queued on the local engine.")
    s = job.status or "starting"
    return {"loading model": "Loading the model…", "generating": ""}.get(s, s[:1].upper() + s[1:] + "…")


class Session(QObject):
    announce = Signal(str)
    currentChanged = Signal(str)

    def __init__(self, backend: Backend, dispatcher: Dispatcher, threads: ThreadListModel, queue: QueueModel,
                 chat: ChatView, composer: Composer, empty_state: Callable[[bool], QWidget],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.backend = backend
        self.dispatcher = dispatcher
        self.threads = threads
        self.queue = queue
        self.chat = chat
        self.composer = composer
        self._empty_state = empty_state
        self.current_id: str | None = None
        self._show_all = False
        self._picks: dict[str, dict[str, str]] = {}  # thread -> point key -> the version the user browsed to
        self._shown: list[MessageView] = []
        self.editing: str | None = None  # the question being edited in the composer
        dispatcher.textArrived.connect(self._on_text)
        dispatcher.textRestarted.connect(self._on_restart)
        dispatcher.ratesChanged.connect(self._refresh_queue)
        dispatcher.jobChanged.connect(self._on_job_changed)
        dispatcher.jobFinished.connect(self._on_finished)
        dispatcher.queueChanged.connect(self._refresh_queue)
        chat.showEarlierRequested.connect(self._show_earlier)
        chat.acceptRequested.connect(self.accept)
        chat.versionRequested.connect(self.show_version)
        chat.editRequested.connect(self.begin_edit)
        chat.forkRequested.connect(self.fork)
        composer.editCancelled.connect(self.cancel_edit)

    # ---- threads -------------------------------------------------------------------------------
    def load(self) -> None:
        rows = [self._row(t) for t in self.backend.list_threads()]
        self.threads.set_rows(rows)
        if rows:
            self.select(rows[0].id)
        else:
            self.current_id = None
            self.chat.show_empty(self._empty_state(True))
            self.composer.set_busy(False)

    @staticmethod
    def _row(t: ThreadInfo, **extra: object) -> ThreadRow:
        return ThreadRow(t.id, t.title, energy_j=t.energy_j, usd=t.usd, pinned=t.pinned,
                         **extra)  # type: ignore[arg-type]

    def new_thread(self) -> str:
        t = self.backend.create_thread("")
        self.threads.insert_first(self._row(t))
        self.select(t.id)
        return t.id

    def select(self, thread_id: str) -> None:
        if self.threads.get(thread_id) is None:
            return
        if thread_id != self.current_id:
            self.cancel_edit()
        self.current_id = thread_id
        self._show_all = False
        self.threads.update(thread_id, unread=False)
        self._rebuild()
        self.currentChanged.emit(thread_id)

    def select_index(self, n: int) -> None:
        rows = self.threads.rows()
        if 0 <= n < len(rows):
            self.select(rows[n].id)

    def rename(self, thread_id: str, title: str) -> None:
        self.backend.rename_thread(thread_id, title)
        self.threads.update(thread_id, title=title.strip())

    def delete(self, thread_id: str) -> bool:
        if self.dispatcher.job_for_thread(thread_id) is not None:
            self.announce.emit("Stop this thread's answer before deleting it (Esc).")
            return False
        self.backend.delete_thread(thread_id)
        self.threads.remove(thread_id)
        if self.current_id == thread_id:
            rows = self.threads.rows()
            if rows:
                self.select(rows[0].id)
            else:
                self.current_id = None
                self.chat.show_empty(self._empty_state(True))
        return True

    def drop_empty_threads(self) -> None:
        """Untitled threads nobody asked anything in are not worth keeping (called on close)."""
        for row in self.threads.rows():
            if row.title or self.dispatcher.job_for_thread(row.id) is not None:
                continue
            try:
                if self.backend.thread(row.id).message_count == 0:
                    self.backend.delete_thread(row.id)
            except BatonError:
                pass

    def _show_earlier(self) -> None:
        self._show_all = True
        self._rebuild()

    def _rebuild(self) -> None:
        tid = self.current_id
        if tid is None:
            return
        try:
            messages = self.backend.history(tid, self._picks.get(tid))
        except BatonError as e:
            self.chat.clear()
            self.chat.add_error(str(e))
            return
        self._shown = messages
        job = self.dispatcher.job_for_thread(tid)
        if job is not None and _in_place(job):  # a new version at a point: show the thread up to that point
            cut = next((i for i, m in enumerate(messages) if m.id == job.message_id), len(messages))
            messages = messages[:cut]
        elif job is not None and job.started_wall is not None:
            messages = [m for m in messages if m.created_at < job.started_wall]
        if not messages and job is None:
            self.chat.show_empty(self._empty_state(False))
        else:
            self.chat.show_messages(messages, show_all=self._show_all)
        if job is not None:
            self.chat.begin_live(_live_prompt(job), live_status(job, self._ahead(job)), job.shown_text,
                                 job.draft_text)
        self.composer.set_busy(job is not None, self._busy_note(job))

    # ---- asking -------------------------------------------------------------------------------------
    def send(self, prompt: str, tier: str = "auto", model: str | None = None) -> Job | None:
        prompt = prompt.strip()
        if not prompt:
            return None
        if self.current_id is None:
            self.new_thread()
        assert self.current_id is not None
        if self.dispatcher.job_for_thread(self.current_id) is not None:
            self.announce.emit("This thread is still answering: wait, press Esc to stop it, or start another "
                               "thread with Ctrl+N.")
            return None
        if tier == "cloud" and not self.backend.endpoint_names():
            self.announce.emit("No cloud endpoint yet: add one in Settings → Endpoints (Ctrl+,).")
            return None
        if self.editing is not None:
            return self.edit(self.editing, prompt, tier)
        was_empty = not self.chat.settled_texts()
        row = self.threads.get(self.current_id)
        if row is not None and not row.title:
            self.threads.update(self.current_id, title=title_from(prompt))  # the store names it the same way
        job = self.dispatcher.submit(self.current_id, prompt, tier=tier, model=model)
        self.composer.set_text("")
        if was_empty:
            self.chat.clear()
        self.chat.begin_live(prompt, live_status(job, self._ahead(job)))
        return job

    def stop(self) -> bool:
        """Stop the current thread's answer; "Stopping…" shows at once, the worker stops between two tokens."""
        job = self.dispatcher.job_for_thread(self.current_id) if self.current_id else None
        if job is None:
            return False
        self.dispatcher.stop(job)
        if job.stopping and job.thread_id == self.current_id:
            self.chat.set_live_status(live_status(job, 0))
            self.composer.set_busy(True, "Stopping…")
            self.composer.stop_button.setEnabled(False)
            self._refresh_queue()
        return True

    # ---- versions, edits, forks -------------------------------------------------------------------
    def show_version(self, version_id: str) -> None:
        """Show another version at a point ("‹ 1/2 ›"): that version, and below it its own branch."""
        if self.current_id is None:
            return
        shown = next((m for m in self._shown if version_id in m.versions), None)
        if shown is None:
            return
        picks = self._picks.setdefault(self.current_id, {})
        picks[f"{shown.parent_id or ''}|{shown.role}"] = version_id
        self._rebuild()

    def begin_edit(self, question_id: str) -> None:
        """Put question ``question_id`` into the composer; Send then asks it in its place (a new version)."""
        if self.current_id is None:
            return
        question = next((m for m in self._shown if m.id == question_id), None)
        if question is None or question.role != "user":
            return
        self.editing = question_id
        self.composer.begin_edit(question.content)

    def cancel_edit(self) -> None:
        if self.editing is not None:
            self.editing = None
            self.composer.end_edit()

    def edit(self, question_id: str, text: str, tier: str = "auto") -> Job | None:
        """Ask ``text`` in place of question ``question_id``: a new version of the question at the same point."""
        if self.current_id is None or self.dispatcher.job_for_thread(self.current_id) is not None:
            self.announce.emit("This thread is still answering: wait, or press Esc to stop it, then edit.")
            return None
        self.editing = None
        self.composer.end_edit()
        self.composer.set_text("")
        self._picks.pop(self.current_id, None)
        job = self.dispatcher.submit(self.current_id, text.strip(), tier=tier, kind="edit", message_id=question_id)
        self._rebuild()
        return job

    def fork(self, message_id: str) -> str | None:
        """A new thread with this thread's messages up to and including ``message_id``; it is selected. Forking at
        a question copies what came before it and puts the question in the composer, ready to send or change."""
        if self.current_id is None:
            return None
        history = self.backend.history(self.current_id)
        at = next((i for i, m in enumerate(history) if m.id == message_id), None)
        question = history[at].content if at is not None and history[at].role == "user" else None
        try:
            if question is not None and at:
                t = self.backend.fork(self.current_id, history[at - 1].id)
            elif question is not None:  # the first question: nothing comes before it
                t = self.backend.create_thread(f"Fork: {self.threads.get(self.current_id).title}"
                                               if self.threads.get(self.current_id) else "")
            else:
                t = self.backend.fork(self.current_id, message_id)
        except BatonError as e:
            self.announce.emit(f"Could not fork: {e}")
            return None
        self.threads.insert_first(self._row(t))
        self.select(t.id)
        if question is not None:
            self.composer.set_text(question)
            self.composer.edit.setFocus()
        self.announce.emit(f"Forked into “{t.title}”: ask on from here; the original thread is unchanged.")
        return t.id

    def last_answer(self) -> tuple[MessageView | None, str]:
        """The current thread's latest answer and the question it answered."""
        if self.current_id is None:
            return None, ""
        history = self.backend.history(self.current_id)
        answer = next((m for m in reversed(history) if m.role == "assistant" and m.status != "escalated"), None)
        question = next((m.content for m in reversed(history) if m.role == "user"), "")
        return answer, question

    def escalate(self, message_id: str | None = None, endpoint: str | None = None) -> Job | None:
        if self.current_id is None or self.dispatcher.job_for_thread(self.current_id) is not None:
            self.announce.emit("Nothing to escalate yet: wait for the answer to finish.")
            return None
        if not self.backend.endpoint_names():
            self.announce.emit("No cloud endpoint to escalate to: add one in Settings → Endpoints (Ctrl+,).")
            return None
        answer, question = self.last_answer()
        if answer is None or not question:
            self.announce.emit("There is no answer in this thread to escalate.")
            return None
        target = message_id or answer.id
        self._picks.pop(self.current_id, None)
        job = self.dispatcher.submit(self.current_id, question, tier="cloud", model=endpoint, kind="escalate",
                                     message_id=target)
        self._learn(target, "escalate")
        self._rebuild()
        return job

    def accept(self, message_id: str) -> None:
        self._learn(message_id, "accept")
        self.announce.emit("Noted: answers like this one can stay on this computer.")

    def _learn(self, message_id: str, kind: str) -> None:
        try:
            self.backend.feedback(message_id, kind)
        except BatonError as e:  # learning is a bonus; never block the user's action on it
            self.announce.emit(f"Could not record that ({e}).")

    def retry(self, message_id: str, tier: str, target: str) -> Job | None:
        """Answer again on exactly ``tier`` (``local`` or ``cloud``) and ``target`` (a model id or an endpoint name,
        "" for the default): a new version of answer ``message_id`` in place."""
        if self.current_id is None or self.dispatcher.job_for_thread(self.current_id) is not None:
            self.announce.emit("Wait for this thread's answer to finish, then retry.")
            return None
        if tier == "cloud" and not self.backend.endpoint_names():
            self.announce.emit("No cloud endpoint to retry on: add one in Settings → Endpoints (Ctrl+,).")
            return None
        answer, question = self.last_answer()
        if answer is None or not question:
            return None
        target_id = message_id or answer.id
        asked = next((m.content for m in self._shown if m.role == "user" and any(
            a.id == target_id and a.parent_id == m.id for a in self._shown)), question)
        self._picks.pop(self.current_id, None)
        job = self.dispatcher.submit(self.current_id, asked, tier=tier, model=target or None, kind="retry",
                                     message_id=target_id)
        self._rebuild()
        return job

    # ---- dispatcher events -----------------------------------------------------------------------------
    def _ahead(self, job: Job) -> int:
        queue = self.dispatcher.local_queue()
        return next((i for i, j in enumerate(queue) if j is job), 0)

    def _busy_note(self, job: Job | None) -> str:
        if job is None:
            return ""
        if job.stopping:
            return "Stopping…"
        return "Answering… Esc stops." if job.state == "running" else "Queued behind another thread's answer."

    def _on_text(self, job: Job, text: str) -> None:
        if job.thread_id == self.current_id:
            if not self.chat.has_live:
                self.chat.begin_live(_live_prompt(job), "", job.shown_text[:-len(text)] if text else job.shown_text,
                                     job.draft_text)
            self.chat.append_live(text)

    def _on_restart(self, job: Job) -> None:
        if job.thread_id == self.current_id and self.chat.has_live:
            self.chat.restart_live(job.draft_text, "Replaced by an escalation (the local answer looked weak):")

    def _on_job_changed(self, job: Job) -> None:
        if job.state in ("queued", "running"):
            detail = ""
            if job.state == "queued":
                detail = f"{self._ahead(job)} ahead"
            self.threads.update(job.thread_id, state=job_state(job), detail=detail)
            if job.thread_id == self.current_id:
                self.chat.set_live_status(live_status(job, self._ahead(job)))
                self.composer.set_busy(True, self._busy_note(job))
                self.composer.stop_button.setEnabled(not job.stopping)

    def _on_finished(self, job: Job) -> None:
        tid = job.thread_id
        try:
            info = self.backend.thread(tid)
        except BatonError:
            self.threads.remove(tid)
            return
        escalated = job.escalated or (job.kind == "escalate" and job.state == "done")
        state = {"failed": "failed"}.get(job.state, "escalated" if escalated else "idle")
        background = tid != self.current_id
        self.threads.update(tid, title=info.title, energy_j=info.energy_j, usd=info.usd, state=state, detail="",
                            unread=background and job.state != "cancelled")
        title = info.title or "New thread"
        if job.declined:
            self.announce.emit("Kept the local answer: nothing was sent off this computer.")
        if background:
            if job.state == "done":
                self.announce.emit(f"Answer ready in “{title}” ({'escalated' if escalated else 'local'}).")
            elif job.state == "failed":
                self.announce.emit(f"“{title}” failed: {job.error}")
            return
        self._settle(job)

    def _settle(self, job: Job) -> None:
        self.chat.end_live()
        self._picks.pop(job.thread_id, None)
        if _in_place(job) and job.state != "failed":  # the new version took the old one's place: redraw
            self._rebuild()
            self.composer.set_busy(False)
            return
        new = []
        if job.started_wall is not None:
            self._shown = self.backend.history(job.thread_id)
            new = [m for m in self._shown if m.created_at >= job.started_wall]
        if not new:
            # Nothing reached the store (stopped while queued, or failed before starting): keep the question.
            if job.kind == "ask" and not self.composer.text().strip():
                self.composer.set_text(job.prompt)
            if job.state == "failed":
                back = "\nYour question is back in the box below." if job.kind == "ask" else ""
                self.chat.add_error(f"{job.error}{back}")
        else:
            self.chat.add_settled(new)
            if job.state == "failed" and job.error and not any(m.status == "failed" for m in new):
                self.chat.add_error(job.error)
        self.composer.set_busy(False)

    def _refresh_queue(self) -> None:
        """The slots view: what generates now (local slots, then remote requests) with live tokens/s, then what
        waits for a local slot, in order."""
        rows = []
        local = self.dispatcher.local_queue()
        for job in [*local, *self.dispatcher.cloud_jobs()]:
            row = self.threads.get(job.thread_id)
            where = "local" if job.lane == "local" else (job.model or "cloud")
            rows.append(QueueRow(job.id, row.display_title if row else "thread", job.prompt,
                                 job.started_wall is not None, job.tokens_per_s, where, job.stopping))
        self.queue.set_rows(rows)
        for job in local:
            if job.state == "queued":
                self._on_job_changed(job)


def _in_place(job: Job) -> bool:
    """A job that writes a new version at an existing point (retry, escalate, edit) rather than a new question."""
    return job.kind in ("retry", "escalate", "edit") and bool(job.message_id)


def _live_prompt(job: Job) -> str | None:
    """The question shown above the live answer: the new one of an ask or an edit; none for a retry."""
    return job.prompt if job.kind in ("ask", "edit") or not job.message_id else None
