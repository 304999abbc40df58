"""The main window: threads on the left (with the local queue), the chat and composer in the middle,
the live power panel on the right. Built from a ``UiContext``; owns the dispatcher and the session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent, QColor, QIcon, QPainter, QPixmap, QResizeEvent
from PySide6.QtWidgets import (QDockWidget, QFrame, QHBoxLayout, QInputDialog, QLabel, QListView, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QScrollArea, QSizePolicy,
                               QSplitter, QVBoxLayout, QWidget)

from baton.core.pipeline.turn import Phase
from baton.ui.heap import HeapTrimmer
from baton.ui.idle import IdleBaselineKeeper
from baton.ui.actions import build_actions
from baton.ui.chat_commands import ChatCommands
from baton.ui.backend import Backend
from baton.ui.chat import ChatView
from baton.ui.composer import Composer
from baton.ui.dispatch import Dispatcher
from baton.ui.escalation_dialog import EscalationDialog
from baton.ui.models import ID_ROLE, QueueModel, ThreadListModel
from baton.ui.models_dialog import ModelPicker
from baton.ui.palette import CommandPalette
from baton.ui.registry import Registry
from baton.ui.render import Renderer
from baton.ui.session import Session
from baton.ui.settings_dialog import SettingsDialog
from baton.ui.theme import Theme, state_color
from baton.ui.workers import Approval

MIN_WIDTH, MIN_HEIGHT = 420, 320
NARROW_WIDTH = 720  # below this width the thread list hides itself (Ctrl+B shows it)
RECEIPT_HELP = (
    "Every answer carries a receipt: where it ran (local model or a cloud endpoint) and why the router sent it "
    "there, the energy it took with the share actually measured by a hardware counter (the rest is an "
    "estimate, labelled as one), the tokens, the speed in tokens per second, the time to the first token, and "
    "the dollars it cost. Hover the badge or press “Why” to see the reason and every energy figure with its "
    "source.")


@dataclass
class UiContext:
    """The services the window needs, built once in ui/app.py and passed down."""

    backend: Backend
    registry: Registry
    theme: Theme
    renderer: Renderer
    assets: Path | None = None
    api_server: Callable[..., Any] | None = None  # (service, paths) -> commands/serve_thread.ApiServer, from `baton gui`


class MainWindow(QMainWindow):
    settingsChanged = Signal()  # the live settings changed (saved here or in the config file): views re-read them

    def __init__(self, ui: UiContext) -> None:
        super().__init__()
        self.ui = ui
        self.backend = ui.backend
        if getattr(ui.backend.service, "verifier", None) is not None:  # verify.mode "ask": asked once, here
            from baton.ui.ladder_field import VerifyConsent

            ui.backend.service.verifier.consent = VerifyConsent(ui.backend, self)
        self.setWindowTitle("Baton")
        self.resize(1280, 800)
        self.setMinimumSize(MIN_WIDTH, MIN_HEIGHT)  # explicit, so a wide sidebar never sets the floor
        self._icons: dict[tuple[str, bool], QIcon] = {}

        self.dispatcher = Dispatcher(ui.backend, ui.registry, self)
        self.thread_model = ThreadListModel(self._state_icon, self)
        self.queue_model = QueueModel(self)
        self.chat = ChatView(ui.renderer)
        self.composer = Composer()
        self.session = Session(ui.backend, self.dispatcher, self.thread_model, self.queue_model, self.chat,
                               self.composer, self._empty_state, self)
        self._power: QWidget | None = None  # built on first show
        self.commands = ChatCommands(self.session, lambda msg: self.statusBar().showMessage(msg, 6000))
        self._sidebar_auto = True  # the sidebar follows the window's width until the user toggles it

        self._build_layout()
        self.actions_ = build_actions(self, {
            "new_thread": self.new_thread, "send": self.composer.send, "stop": self.stop,
            "escalate": self.escalate, "retry_local": self.retry_local, "palette": self.open_palette,
            "settings": self.open_settings, "models": self.open_models, "rename": self.rename_thread,
            "delete": self.delete_thread, "toggle_power": self.toggle_power, "toggle_queue": self.toggle_queue,
            "queue_up": lambda: self.move_queued(-1), "queue_down": lambda: self.move_queued(1),
            "queue_cancel": self.cancel_queued, "about_receipts": self.about_receipts, "quit": self.close,
            "switch": self.session.select_index,
            "copy_answer": self.commands.copy_answer, "copy_code": self.commands.copy_code,
            "edit_last": self.commands.edit_last, "regenerate": self.commands.regenerate,
            "fork": self.commands.fork_here, "prev_version": lambda: self.commands.browse(-1),
            "next_version": lambda: self.commands.browse(1), "toggle_sidebar": self.toggle_sidebar,
        })
        from baton.ui.extras import install_extras

        install_extras(self)
        from baton.ui.cockpit import install_cockpit

        install_cockpit(self)  # thread settings, pins, archive, undo, route preview, search, export, totals
        self._wire()
        self.dialogs: list[QWidget] = []  # open non-modal dialogs (escalation approvals)
        self._restore_geometry()
        self.refresh_endpoints()
        self.session.load()
        self._closing = False
        self.backend.start_sampling()  # so the power panel has the last minutes when it opens
        self.idle_keeper = IdleBaselineKeeper(self.backend, self.dispatcher.busy, self)
        self.heap_trimmer = HeapTrimmer(self, self.dispatcher, self.dispatcher.busy)

    # ---- layout ----------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        side = QWidget()
        side.setObjectName("sidebar")
        side.setMinimumWidth(180)
        self.sidebar = side
        title = QLabel("THREADS")
        title.setObjectName("sectionTitle")
        new = QPushButton("+ New thread")
        new.setToolTip("New thread (Ctrl+N)")
        new.clicked.connect(self.new_thread)
        head = QHBoxLayout()
        head.addWidget(title, 1)
        head.addWidget(new)
        self.thread_view = QListView()
        self.thread_view.setObjectName("threadList")
        self.thread_view.setModel(self.thread_model)
        self.thread_view.setUniformItemSizes(True)
        self.thread_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.thread_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.thread_view.clicked.connect(lambda idx: self.session.select(idx.data(ID_ROLE)))
        self.thread_view.activated.connect(lambda idx: self.session.select(idx.data(ID_ROLE)))
        self.queue_box = QWidget()
        qtitle = QLabel("SLOTS")
        qtitle.setObjectName("sectionTitle")
        qtitle.setToolTip("Which threads generate now (each with its live tokens/s) and which wait for a local slot, "
                          "in order; reorder the waiting ones with Alt+Up / Alt+Down")
        self.slots_title = qtitle
        self.queue_view = QListView()
        self.queue_view.setObjectName("queueList")
        self.queue_view.setModel(self.queue_model)
        self.queue_view.setMaximumHeight(120)
        self.queue_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.queue_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.queue_empty = QLabel("Nothing generating. Threads answer side by side here, each in a slot; "
                                  "when every slot is busy the rest wait in order.")
        self.queue_empty.setObjectName("totalsNote")
        self.queue_empty.setWordWrap(True)
        q = QVBoxLayout(self.queue_box)
        q.setContentsMargins(0, 0, 0, 0)
        q.addWidget(qtitle)
        q.addWidget(self.queue_view)
        q.addWidget(self.queue_empty)
        col = QVBoxLayout(side)
        col.setContentsMargins(8, 8, 8, 8)
        col.addLayout(head)
        col.addWidget(self.thread_view, 1)
        col.addWidget(self.queue_box)

        center = QWidget()
        c = QVBoxLayout(center)
        c.setContentsMargins(0, 0, 0, 0)
        c.setSpacing(0)
        c.addWidget(self.chat, 1)
        c.addWidget(self.composer)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        self.splitter = split
        split.addWidget(side)
        split.addWidget(center)
        split.setStretchFactor(1, 1)
        split.setSizes([280, 1000])
        self.setCentralWidget(split)

        self.power_dock = QDockWidget("Power", self)
        self.power_dock.setObjectName("powerDock")
        self.power_dock.setMinimumWidth(200)  # never forces the window wider (see _keep_width)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.power_dock)
        self.power_dock.hide()

        self.model_status = QLabel("")
        self.model_status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.load_bar = QProgressBar()
        self.load_bar.setRange(0, 0)  # busy: llama.cpp does not report load progress
        self.load_bar.setMaximumWidth(120)
        self.load_bar.setVisible(False)
        self.statusBar().addPermanentWidget(self.load_bar)
        self.statusBar().addPermanentWidget(self.model_status)

    def _wire(self) -> None:
        self.composer.sendRequested.connect(lambda text, tier: self.session.send(text, tier,
                                                                                 self.route_preview.endpoint()))
        self.composer.stopRequested.connect(self.stop)
        self.composer.modelPickerRequested.connect(self.open_models)
        self.chat.escalateRequested.connect(lambda mid: self.session.escalate(mid))
        self.chat.retryRequested.connect(lambda mid, tier, target: self.session.retry(mid, tier, target))
        self.session.announce.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        self.settingsChanged.connect(self.refresh_endpoints)
        self.session.currentChanged.connect(self._current_changed)
        self.dispatcher.jobChanged.connect(self._job_changed)
        self.dispatcher.jobFinished.connect(lambda _job: self._refresh_totals())
        self.dispatcher.approvalNeeded.connect(self._approval)
        self.dispatcher.queueChanged.connect(self._queue_changed)
        self.power_dock.visibilityChanged.connect(self.actions_.toggle_power.setChecked)
        self.power_dock.visibilityChanged.connect(lambda shown: self.power if shown else None)
        self.ui.theme.changed.connect(self._theme_changed)
        self._queue_changed()
        self.actions_.toggle_queue.setChecked(True)

    # ---- look ---------------------------------------------------------------------------------------
    def _state_icon(self, state: str) -> QIcon:
        key = (state, self.ui.theme.dark)
        if key not in self._icons:
            pm = QPixmap(12, 12)
            pm.fill(Qt.GlobalColor.transparent)
            p = QPainter(pm)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setBrush(QColor(state_color(self.ui.theme, state)))
            p.setPen(Qt.PenStyle.NoPen)
            p.drawEllipse(1, 1, 10, 10)
            p.end()
            self._icons[key] = QIcon(pm)
        return self._icons[key]

    def _theme_changed(self, dark: bool) -> None:
        self.ui.renderer.set_dark(dark)
        self._icons.clear()
        self.thread_model.set_icon_provider(self._state_icon)
        self.session.select(self.session.current_id) if self.session.current_id else None

    def _empty_state(self, first_run: bool) -> QWidget:
        card = QFrame()
        card.setObjectName("emptyState")
        lay = QVBoxLayout(card)
        lay.setContentsMargins(24, 20, 24, 20)
        model = self.backend.default_model_label()
        if first_run:
            title = QLabel("Ask your first question")
            body = QLabel(
                f"Baton answers on <b>{model}</b>, right here on this computer; nothing leaves it unless you add a "
                f"cloud endpoint. Type below and press <b>Ctrl+Enter</b>.<br><br>{RECEIPT_HELP}<br><br>"
                f"<b>A bigger model?</b> Put a .gguf file in {self.backend.paths.models_dir}, or open Models "
                "(Ctrl+M) to pick one Baton found on this computer.<br>"
                "<b>A stronger tier for hard questions?</b> Add an OpenAI-compatible endpoint (a cloud API, or a "
                "bigger model on a server in your network) in Settings → Endpoints (Ctrl+,).")
        else:
            title = QLabel("New thread")
            body = QLabel(f"Answers come from <b>{model}</b> on this computer first. Type below; Ctrl+Enter sends. "
                          "Threads answer side by side: switch with Ctrl+1…9 while one is busy.")
        title.setObjectName("emptyTitle")
        body.setObjectName("emptyBody")
        body.setWordWrap(True)
        body.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(title)
        lay.addWidget(body)
        return card

    # ---- commands ----------------------------------------------------------------------------------
    def new_thread(self) -> None:
        self.session.new_thread()
        self.composer.edit.setFocus()

    def stop(self) -> None:
        if not self.session.stop():
            self.statusBar().showMessage("Nothing is running in this thread.", 4000)
        self.composer.edit.setFocus()  # the next key goes to the composer, not to whatever button was clicked

    def escalate(self) -> None:
        self.session.escalate()

    def retry_local(self) -> None:
        answer, _q = self.session.last_answer()
        if answer is not None:
            self.session.retry(answer.id, "local", "")

    def open_palette(self) -> CommandPalette:
        retry = self.actions_.retry_menu.actions() if self.actions_.retry_menu is not None else []
        palette = CommandPalette(self.actions_.all() + retry, self)
        palette.fallback = self.search_panel.focus  # Enter on text that names no command searches the threads
        palette.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        palette.open()
        return palette

    def open_settings(self) -> SettingsDialog:
        dlg = SettingsDialog(self.backend, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(self._settings_saved)
        dlg.open()
        return dlg

    def _settings_saved(self) -> None:
        self.settingsChanged.emit()
        self._refresh_totals()
        self.statusBar().showMessage("Settings saved.", 4000)

    def open_models(self) -> ModelPicker:
        dlg = ModelPicker(self.backend, self.ui.registry, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.modelChosen.connect(self._model_chosen)
        dlg.open()
        return dlg

    def _model_chosen(self, model_id: str) -> None:
        import copy

        s = copy.deepcopy(self.backend.settings)
        s.default_model = model_id
        self.backend.save_settings(s)
        self.settingsChanged.emit()
        self.statusBar().showMessage(f"New answers use {self.backend.default_model_label()}.", 6000)

    def rename_thread(self) -> None:
        tid = self.session.current_id
        row = self.thread_model.get(tid) if tid else None
        if row is None:
            return
        title, ok = QInputDialog.getText(self, "Rename thread", "Title:", text=row.title)
        if ok and title.strip():
            self.session.rename(row.id, title)

    def delete_thread(self) -> None:
        tid = self.session.current_id
        row = self.thread_model.get(tid) if tid else None
        if row is None:
            return
        self.thread_actions.delete(row.id)  # at once, with Undo in the status bar for 10 s

    @property
    def power(self) -> "PowerPanel":  # noqa: F821 (imported on first use)
        """The power panel, built the first time it is needed."""
        if self._power is None:
            from baton.ui.power import PowerPanel

            self._power = PowerPanel(self.ui.backend, self.ui.registry, self.ui.theme,
                                     self.backend.generated_tokens)
            holder = QScrollArea()  # the panel's own minimum width never reaches the window
            holder.setObjectName("powerScroll")
            holder.setWidgetResizable(True)
            holder.setFrameShape(QFrame.Shape.NoFrame)
            holder.setWidget(self._power)
            self.power_dock.setWidget(holder)
            # wide enough for the totals' three columns, so the newest seconds at the charts' right are never cut off
            self.power_dock.setMinimumWidth(self._power.minimumSizeHint().width() + 8)
        return self._power  # type: ignore[return-value]

    def _refresh_totals(self) -> None:
        if self._power is not None:
            self._power.refresh_totals()

    def toggle_power(self) -> None:
        """Show or hide the power panel inside the window's current size: the chat gives up the room."""
        width = self.width()
        if not self.power_dock.isVisible():
            self.power  # noqa: B018 (build it before the dock shows)
            self.power.setMinimumWidth(0)
            self.resizeDocks([self.power_dock], [min(340, max(200, width // 3))], Qt.Orientation.Horizontal)
        self.power_dock.setVisible(not self.power_dock.isVisible())
        if self.width() != width and not self.isMaximized():
            self.resize(width, self.height())

    def toggle_sidebar(self) -> None:
        self._sidebar_auto = False
        self.sidebar.setVisible(not self.sidebar.isVisible())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if self._sidebar_auto and hasattr(self, "sidebar"):
            self.sidebar.setVisible(event.size().width() >= NARROW_WIDTH)

    def toggle_queue(self) -> None:
        self.queue_box.setVisible(not self.queue_box.isVisible())
        self.actions_.toggle_queue.setChecked(self.queue_box.isVisible())

    def _selected_queue_job(self) -> int | None:
        idx = self.queue_view.currentIndex()
        return idx.data(ID_ROLE) if idx.isValid() else None

    def move_queued(self, delta: int) -> None:
        job_id = self._selected_queue_job()
        if job_id is not None and self.dispatcher.move(job_id, delta):
            rows = self.queue_model.rows()
            row = next((i for i, r in enumerate(rows) if r.job_id == job_id), -1)
            if row >= 0:
                self.queue_view.setCurrentIndex(self.queue_model.index(row, 0))

    def cancel_queued(self) -> None:
        job_id = self._selected_queue_job()
        job = next((j for j in self.dispatcher.local_queue() if j.id == job_id), None)
        if job is not None:
            self.dispatcher.stop(job)

    def about_receipts(self) -> None:
        QMessageBox.information(self, "What is a receipt?", RECEIPT_HELP)

    # ---- events -------------------------------------------------------------------------------------
    def refresh_endpoints(self) -> None:
        names = self.backend.endpoint_names()
        model = self.backend.default_model_label()
        targets = [(f"Local: {model}", "local", "")] + [(f"Cloud: {n}", "cloud", n) for n in names]
        self.chat.set_retry_targets(targets, bool(names))
        menu = self.actions_.retry_menu
        if menu is not None:
            menu.clear()
            for label, tier, target in targets:
                act = menu.addAction(label)
                act.triggered.connect(lambda _=False, t=tier, g=target: self._retry_last(t, g))
        self.actions_.escalate.setEnabled(bool(names))
        self.composer.set_model_label(model)
        mode = self.backend.settings.routing.mode
        where = f"{len(names)} endpoint{'s' if len(names) != 1 else ''}" if names else "no cloud endpoint"
        self.model_status.setText(f"{model} · routing {mode} · {where}")

    def _retry_last(self, tier: str, target: str) -> None:
        answer, _q = self.session.last_answer()
        if answer is not None:
            self.session.retry(answer.id, tier, target)

    def _current_changed(self, thread_id: str) -> None:
        row = self.thread_model.row_of(thread_id)
        if row >= 0:
            self.thread_view.setCurrentIndex(self.thread_model.index(row, 0))
        self.actions_.stop.setEnabled(self.dispatcher.job_for_thread(thread_id) is not None)

    def _job_changed(self, job) -> None:  # noqa: ANN001
        loading = any(j.phase == Phase.LOADING for j in self.dispatcher.running())
        if loading and not self.load_bar.isVisible():
            self.statusBar().showMessage("Loading the model…")
        elif not loading and self.load_bar.isVisible():
            self.statusBar().clearMessage()
        self.load_bar.setVisible(loading)
        cur = self.session.current_id
        self.actions_.stop.setEnabled(cur is not None and self.dispatcher.job_for_thread(cur) is not None)

    def _queue_changed(self) -> None:
        empty = self.queue_model.rowCount() == 0
        self.queue_view.setVisible(not empty)
        self.queue_empty.setVisible(empty)

    def _approval(self, approval: Approval) -> None:
        row = self.thread_model.get(approval.job.thread_id)
        dlg = EscalationDialog(approval.plan, row.display_title if row else "thread", self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.finished.connect(lambda result: self.dispatcher.answer_approval(approval, result == 1))
        dlg.destroyed.connect(lambda _o=None: self.dialogs.remove(dlg) if dlg in self.dialogs else None)
        self.dialogs.append(dlg)
        approval.job.status, approval.job.phase = "waiting for you", Phase.WAITING
        self.dispatcher.jobChanged.emit(approval.job)
        dlg.show()
        dlg.raise_()

    # ---- lifetime -----------------------------------------------------------------------------------
    def _geometry_store(self) -> QSettings:
        return QSettings(str(self.backend.paths.config_dir / "window.ini"), QSettings.Format.IniFormat)

    def _restore_geometry(self) -> None:
        """The window's size and place, and whether the power panel was open, as the last session left them."""
        store = self._geometry_store()
        geo = store.value("geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        if str(store.value("power_panel", "false")).lower() == "true":
            self.power_dock.show()

    def shutdown(self) -> None:
        """Stop every worker and timer. Called on close; safe to call twice."""
        if getattr(self, "_closing", False):
            return
        self._closing = True
        for dlg in list(self.dialogs):
            dlg.reject()
        if self._power is not None:
            self._power.stop()
        self.idle_keeper.stop()
        self.heap_trimmer.stop()
        from baton.ui.cockpit import shutdown_cockpit

        shutdown_cockpit(self)
        self.dispatcher.shutdown()
        self.chat.end_live()  # its render timer
        self.session.drop_empty_threads()
        self.statusBar().clearMessage()  # stops the status bar's own message timer
        try:
            store = self._geometry_store()
            store.setValue("geometry", self.saveGeometry())
            store.setValue("power_panel", "true" if self.power_dock.isVisible() else "false")
        except Exception:
            pass

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
