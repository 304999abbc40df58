"""The model browser: Baton's curated catalog, what fits this machine and why (the fit planner's words), and a
download with progress that can be paused, resumed and cancelled, verified (sha256, GGUF header) before the
model is offered for use. The download runs on a worker thread (``core.engine.model_download``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from baton.core.engine.fit import fmt_gb
from baton.ui.backend import Backend, describe_error
from baton.ui.registry import Registry

COLUMNS = ("Model", "Kind", "Params", "Quant", "Size", "Fits here", "On disk")
PROGRESS_EVERY_S = 0.1


class DownloadThread(QThread):
    """Runs one ``ModelDownload`` off the GUI thread; progress at most every 0.1 s (and the last one)."""

    progressed = Signal(object, object, float)  # bytes (int), total bytes (int | None), bytes/s
    ended = Signal(str, str)  # state (done|paused|cancelled|failed), message

    def __init__(self, job: Any) -> None:
        super().__init__()
        self.job = job
        self._last: tuple[float, int] = (0.0, -1)

    def report(self, done: int, total: int | None, rate: float) -> None:
        """Emit ``progressed`` when a tenth of a percent more is done, or every 0.1 s when the total is unknown."""
        import time

        now = time.monotonic()
        permille = int(1000 * done / total) if total else -1
        if (permille != self._last[1]) if total else (now - self._last[0] >= PROGRESS_EVERY_S):
            self._last = (now, permille)
            self.progressed.emit(done, total, rate)

    def run(self) -> None:
        try:
            result = self.job.run()
        except Exception as e:  # every failure is a line in the dialog, never a crash
            self.ended.emit("failed", describe_error(e))
            return
        if result is None:
            self.ended.emit(self.job.state, "")
        else:
            self.ended.emit("done", str(result.path))


class ModelBrowser(QDialog):
    """The catalog as a table; Download / Pause / Resume / Cancel for the selected model; Use for new answers."""

    modelChosen = Signal(str)  # the downloaded file's path

    def __init__(self, backend: Backend, registry: Registry, catalog: list[Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from baton.core.engine.catalog import load_catalog
        from baton.core.engine.fit import detect_gpu, free_ram

        self.setWindowTitle("Model browser")
        self.resize(920, 560)
        self._backend, self._registry = backend, registry
        self.catalog = list(catalog) if catalog is not None else load_catalog()
        self.n_ctx = backend.settings.engine.n_ctx
        ram, gpu = free_ram(), detect_gpu()
        self.plans = [m.plan(self.n_ctx, free_ram_bytes=ram, gpu=gpu or False) for m in self.catalog]
        self.machine = QLabel(f"This computer: {fmt_gb(ram)} RAM free, "
                              f"{f'{gpu.name} with {fmt_gb(gpu.free_bytes)} free' if gpu else 'no GPU found'}; "
                              f"planned for {self.n_ctx} tokens of context (Settings → Engine).")
        self.machine.setWordWrap(True)
        self.table = QTableWidget(len(self.catalog), len(COLUMNS))
        self.table.setObjectName("catalogTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.why = QLabel("")
        self.why.setObjectName("fitReason")
        self.why.setWordWrap(True)
        self.why.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("downloadStatus")
        self.status.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel download")
        self.use_button = QPushButton("Use for new answers")
        close = QPushButton("Close")
        self.download_button.clicked.connect(self.download)
        self.pause_button.clicked.connect(self.pause)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button.clicked.connect(self.use)
        close.clicked.connect(self.reject)
        row = QHBoxLayout()
        for b in (self.download_button, self.pause_button, self.cancel_button, self.use_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(close)
        col = QVBoxLayout(self)
        col.addWidget(self.machine)
        col.addWidget(self.table, 1)
        col.addWidget(self.why)
        col.addWidget(self.bar)
        col.addWidget(self.status)
        col.addLayout(row)
        self.jobs: dict[str, Any] = {}  # model id -> ModelDownload (paused ones kept for the resume)
        self._thread: DownloadThread | None = None
        self._running_id: str | None = None
        self._fill()
        self.table.itemSelectionChanged.connect(self._selection)
        self.table.selectRow(0)

    # ---- table ------------------------------------------------------------------------------------
    def _disk_state(self, m: Any) -> str:
        if not m.url:
            return "built in"
        d = self._backend.paths.models_dir
        if (d / m.filename).is_file():
            return "downloaded"
        part = d / (m.filename + ".part")
        if part.exists():
            return f"partial ({fmt_gb(part.stat().st_size)})"
        return ""

    def _fill(self) -> None:
        for r, (m, plan) in enumerate(zip(self.catalog, self.plans)):
            fits = {"gpu": "yes, on the GPU", "cpu": "yes, on the CPU", "split": f"split ({plan.n_gpu_layers} "
                    "layers on the GPU)", "none": "no"}.get(plan.device, plan.device)
            cells = (m.name, m.kind, f"{m.params / 1e9:.1f} B" if m.params >= 1e9 else f"{m.params / 1e6:.0f} M",
                     m.quant, fmt_gb(m.size_bytes), fits, self._disk_state(m))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 5:
                    item.setToolTip(plan.reason)
                self.table.setItem(r, c, item)

    def selected(self) -> int:
        """The selected row (-1 when none)."""
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def _selection(self) -> None:
        r = self.selected()
        if r < 0:
            return
        m, plan = self.catalog[r], self.plans[r]
        pinned = "verified by sha256" if m.sha256 else "no sha256 pinned in the catalog: checked as a GGUF file only"
        self.why.setText(f"<b>{m.name}</b> ({m.license}): {plan.reason}. "
                         + ("Ships with Baton." if not m.url else f"{fmt_gb(m.size_bytes)} download, {pinned}."))
        self._buttons()

    def _buttons(self) -> None:
        r = self.selected()
        m = self.catalog[r] if r >= 0 else None
        running = self._thread is not None
        job = self.jobs.get(m.id) if m is not None else None
        state = self._disk_state(m) if m is not None else ""
        self.download_button.setText("Downloading…" if running and m is not None and m.id == self._running_id
                                     else "Resume" if (job is not None and job.state == "paused")
                                     or state.startswith("partial") else "Download")
        self.download_button.setEnabled(m is not None and bool(m.url) and state != "downloaded" and not running)
        self.pause_button.setEnabled(running and m is not None and m.id == self._running_id)
        self.cancel_button.setEnabled(m is not None and ((running and m.id == self._running_id)
                                                         or state.startswith("partial")))
        self.use_button.setEnabled(m is not None and state == "downloaded" and not (running and m.id == self._running_id))

    # ---- commands ---------------------------------------------------------------------------------
    def download(self) -> bool:
        """Start (or resume) the selected model's download. Returns False when it cannot start."""
        from baton.core.engine.model_download import ModelDownload
        from baton.core.errors import BatonError

        r = self.selected()
        if r < 0 or self._thread is not None:
            return False
        m = self.catalog[r]
        job = self.jobs.get(m.id)
        if job is None or job.state in ("cancelled", "failed", "done"):
            try:
                job = ModelDownload(m, self._backend.paths.models_dir, offline=self._backend.settings.is_offline)
            except BatonError as e:
                self.status.setText(str(e))
                return False
            self.jobs[m.id] = job
        thread = DownloadThread(job)
        job.progress = thread.report
        self._registry.track_thread("model-download", thread)
        thread.progressed.connect(self._progress)
        thread.ended.connect(lambda state, msg, mid=m.id: self._ended(mid, state, msg))
        thread.finished.connect(self._thread_finished)
        self._thread, self._running_id = thread, m.id
        self.bar.setVisible(True)
        self.status.setText(f"Resuming {m.name}…" if job.partial_bytes() else f"Downloading {m.name}…")
        self._buttons()
        thread.start()
        return True

    def pause(self) -> None:
        """Pause the running download after its current chunk (the part stays on disk)."""
        job = self.jobs.get(self._running_id or "")
        if job is not None:
            job.pause()
            self.status.setText("Pausing…")

    def cancel(self) -> None:
        """Stop the running download (or drop a paused one) and delete its part."""
        r = self.selected()
        m = self.catalog[r] if r >= 0 else None
        if m is None:
            return
        job = self.jobs.get(m.id)
        if job is None:
            from baton.core.engine.download import discard_partial

            discard_partial(self._backend.paths.models_dir, m.filename)
            self._refresh_row(m.id, "Download cancelled; the partial file was deleted.")
            return
        job.cancel()
        if self._thread is None or self._running_id != m.id:
            self._refresh_row(m.id, "Download cancelled; the partial file was deleted.")
        else:
            self.status.setText("Cancelling…")

    def use(self) -> None:
        r = self.selected()
        if r >= 0 and self._disk_state(self.catalog[r]) == "downloaded":
            self.modelChosen.emit(str(self._backend.paths.models_dir / self.catalog[r].filename))
            self.accept()

    # ---- worker signals ---------------------------------------------------------------------------
    def _progress(self, done: int, total: int | None, rate: float) -> None:
        if total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * done / total))
        else:
            self.bar.setRange(0, 0)
        of = f" of {fmt_gb(total)}" if total else ""
        self.status.setText(f"{fmt_gb(done)}{of} · {rate / 1e6:.1f} MB/s")

    def _ended(self, model_id: str, state: str, message: str) -> None:
        words = {"done": f"Downloaded and verified: {message}. Press “Use for new answers” to answer with it.",
                 "paused": "Paused; Resume continues where it stopped.",
                 "cancelled": "Download cancelled; the partial file was deleted.",
                 "failed": f"The download failed: {message}"}
        self._running_id = None
        self._refresh_row(model_id, words.get(state, state))

    def _thread_finished(self) -> None:
        self._thread = None
        self._buttons()

    def _refresh_row(self, model_id: str, status: str) -> None:
        for r, m in enumerate(self.catalog):
            if m.id == model_id:
                self.table.item(r, 6).setText(self._disk_state(m))
        self.status.setText(status)
        self.bar.setVisible(False)
        self._buttons()

    def done(self, result: int) -> None:
        if self._thread is not None:
            job = self.jobs.get(self._running_id or "")
            if job is not None:
                job.pause()  # closing keeps the part: the next download resumes it
            self._thread.wait(30000)
        super().done(result)


def install(window: Any, add_action: Callable[..., QAction]) -> QAction:
    """Add "Model browser…" to the window (File menu and palette)."""
    def open_browser(catalog: list[Any] | None = None) -> ModelBrowser:
        dlg = ModelBrowser(window.backend, window.ui.registry, catalog, window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.modelChosen.connect(window._model_chosen)  # noqa: SLF001 - the window's own "use this model"
        window.model_browser = dlg
        dlg.open()
        return dlg

    window.open_model_browser = open_browser
    return add_action("Model &browser…", "Ctrl+Shift+B", open_browser,
                      "The model catalog: what fits here and why; download, pause, resume, verify")
