"""Compare: one question answered by two tiers side by side, each with its receipt; "Keep this one" makes that
answer the thread's current version (the other stays reachable as an earlier version).

The two answers run one after the other on a worker thread through the service's ``compare`` (``ask`` on the
first side, then ``retry`` on the second), and both stream into their pane as they come.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QDialog, QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton,
                               QSizePolicy, QSplitter, QVBoxLayout, QWidget)

from baton.core.errors import BatonError
from baton.ui.backend import Backend, describe_error
from baton.ui.format import receipt_summary
from baton.ui.registry import Registry
from baton.ui.workers import StreamBuffer

DRAIN_MS = 50
Target = tuple[str, str, str]  # label, tier (local|cloud), target (model id or endpoint name; "" = default)


def compare_targets(backend: Backend) -> list[Target]:
    """What can answer, read from the live settings now: the default local model, the other loaded models, and
    every configured endpoint."""
    default = backend.default_model_label()
    out: list[Target] = [(f"Local: {default}", "local", "")]
    for r in backend.resident_models():
        mid = str(r.get("model_id") or "")
        if mid and mid != default and all(t[2] != mid for t in out):
            out.append((f"Local: {mid}", "local", mid))
    out += [(f"Endpoint: {n}", "cloud", n) for n in backend.endpoint_names()]
    return out


def _side(tier: str, target: str) -> dict[str, Any]:
    return {"tier": "cloud", "endpoint": target} if tier == "cloud" else {"tier": "local", "model": target or None}


class CompareRun(QThread):
    """Runs ``Backend.compare`` off the GUI thread; text goes to two StreamBuffers the dialog drains."""

    sideStatus = Signal(str, str)  # side ("a"|"b"), status words
    done = Signal(object)  # (receipt_a, receipt_b | None)
    failed = Signal(str)

    def __init__(self, backend: Backend, thread_id: str | None, prompt: str, a: dict[str, Any],
                 b: dict[str, Any]) -> None:
        super().__init__()
        self._args = (backend, thread_id, prompt, a, b)
        self.buffers = {"a": StreamBuffer(), "b": StreamBuffer()}
        self.cancel = threading.Event()

    def run(self) -> None:
        backend, tid, prompt, a, b = self._args
        try:
            result = backend.compare(tid, prompt, a, b, self.buffers["a"].push, self.buffers["b"].push, self.cancel,
                                     lambda side, p: self.sideStatus.emit(side, str(getattr(p, "text", p))))
        except Exception as e:  # every failure is shown in the dialog, never a crash
            self.failed.emit(describe_error(e))
            return
        self.done.emit(result)


class AnswerPane(QFrame):
    """One side: which tier, the answer as it streams, its receipt, and "Keep this one"."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("comparePane")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(title)
        self.title.setObjectName("sectionTitle")
        self.status = QLabel("")
        self.status.setObjectName("receiptText")
        self.text = QPlainTextEdit()
        self.text.setObjectName("compareText")
        self.text.setReadOnly(True)
        self.receipt = QLabel("")
        self.receipt.setObjectName("receiptText")
        self.receipt.setWordWrap(True)
        self.receipt.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.keep = QPushButton("Keep this one")
        self.keep.setObjectName("keepButton")
        self.keep.setEnabled(False)
        self.message_id: str | None = None
        col = QVBoxLayout(self)
        col.addWidget(self.title)
        col.addWidget(self.status)
        col.addWidget(self.text, 1)
        col.addWidget(self.receipt)
        col.addWidget(self.keep)

    def append(self, text: str) -> None:
        cur = self.text.textCursor()
        cur.movePosition(cur.MoveOperation.End)
        cur.insertText(text)

    def settle(self, receipt: dict[str, Any] | None) -> None:
        if receipt is None:
            self.status.setText("not run")
            return
        self.message_id = str(receipt.get("message_id") or "") or None
        if self.text.toPlainText() != receipt.get("text", ""):
            self.text.setPlainText(str(receipt.get("text") or ""))
        route = receipt.get("route") or {}
        where = route.get("endpoint") or route.get("model") or "?"
        self.status.setText(f"answered by {where}")
        self.receipt.setText(receipt_summary(receipt))


class CompareDialog(QDialog):
    """Pick two tiers, send the question to both, read both answers with their receipts, keep one."""

    kept = Signal(str, str)  # thread id, kept message id

    def __init__(self, backend: Backend, registry: Registry, thread_id: str | None, prompt: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare two answers")
        self.resize(980, 620)
        self._backend, self._registry = backend, registry
        self.thread_id = thread_id
        self.question = QPlainTextEdit(prompt)
        self.question.setObjectName("compareQuestion")
        self.question.setPlaceholderText("The question both tiers answer")
        self.question.setMaximumHeight(self.question.fontMetrics().lineSpacing() * 4 + 20)
        self.side_a, self.side_b = QComboBox(), QComboBox()
        self.refresh_targets()
        self.go = QPushButton("Compare")
        self.go.setObjectName("compareButton")
        self.go.setDefault(True)
        self.go.clicked.connect(self.start)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("A:"))
        pick.addWidget(self.side_a, 1)
        pick.addWidget(QLabel("B:"))
        pick.addWidget(self.side_b, 1)
        pick.addWidget(self.go)
        self.pane_a, self.pane_b = AnswerPane("A"), AnswerPane("B")
        self.pane_a.keep.clicked.connect(lambda: self.keep("a"))
        self.pane_b.keep.clicked.connect(lambda: self.keep("b"))
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.pane_a)
        split.addWidget(self.pane_b)
        self.note = QLabel("Both answers are stored in the thread as versions of one answer; the one you keep "
                           "becomes the current version, the other stays one click away (‹ 1/2 ›).")
        self.note.setObjectName("totalsNote")
        self.note.setWordWrap(True)
        col = QVBoxLayout(self)
        col.addWidget(self.question)
        col.addLayout(pick)
        col.addWidget(split, 1)
        col.addWidget(self.note)
        self._run: CompareRun | None = None
        self._timer = registry.timer("compare-drain", self, DRAIN_MS, self._drain)
        self.result: tuple[dict[str, Any], dict[str, Any] | None] | None = None

    def refresh_targets(self) -> None:
        """Fill both pickers from the live settings (called again when the settings change)."""
        targets = compare_targets(self._backend)
        for i, box in enumerate((self.side_a, self.side_b)):
            keep = box.currentData()
            box.clear()
            for label, tier, target in targets:
                box.addItem(label, (tier, target))
            idx = box.findData(keep) if keep is not None else -1
            box.setCurrentIndex(idx if idx >= 0 else min(i, box.count() - 1))

    def start(self) -> bool:
        """Send the question to both sides. Returns False (and says why) when it cannot start."""
        prompt = self.question.toPlainText().strip()
        if not prompt:
            self.note.setText("Type the question to compare first.")
            return False
        if self._run is not None:
            return False
        a, b = self.side_a.currentData(), self.side_b.currentData()
        if a is None or b is None:
            return False
        if a == b:
            self.note.setText("Pick two different tiers or models for A and B.")
            return False
        for pane, box in ((self.pane_a, self.side_a), (self.pane_b, self.side_b)):
            pane.title.setText(box.currentText())
            pane.text.clear()
            pane.receipt.setText("")
            pane.keep.setEnabled(False)
        self.pane_a.status.setText("starting…")
        self.pane_b.status.setText("waits for A")
        self._run = CompareRun(self._backend, self.thread_id, prompt, _side(*a), _side(*b))
        self._registry.track_thread("compare", self._run)
        self._run.sideStatus.connect(lambda side, text: self._pane(side).status.setText(text))
        self._run.done.connect(self._done)
        self._run.failed.connect(self._failed)
        self._run.finished.connect(self._finished)
        self.go.setEnabled(False)
        self._timer.start()
        self._run.start()
        return True

    def _pane(self, side: str) -> AnswerPane:
        return self.pane_a if side == "a" else self.pane_b

    def _drain(self) -> None:
        if self._run is None:
            return
        for side, buf in self._run.buffers.items():
            for part in buf.drain():
                if part is not None:
                    self._pane(side).append(part)

    def _done(self, result: Any) -> None:
        self._drain()
        ra, rb = result
        self.result = (ra, rb)
        self.thread_id = str(ra.get("thread_id") or self.thread_id)
        self.pane_a.settle(ra)
        self.pane_b.settle(rb)
        both = rb is not None
        self.pane_a.keep.setEnabled(both)
        self.pane_b.keep.setEnabled(both)
        self.note.setText("Read both, then keep the better one." if both else "Stopped before B ran.")

    def _failed(self, message: str) -> None:
        self._drain()
        self.note.setText(f"The comparison failed: {message}")

    def _finished(self) -> None:
        self._timer.stop()
        self._drain()
        self._run = None
        self.go.setEnabled(True)

    def keep(self, side: str) -> bool:
        """Make side ``side``'s answer the thread's current version. Returns False when there is none yet."""
        mid = self._pane(side).message_id
        if mid is None or self.thread_id is None:
            return False
        try:
            self._backend.keep(mid)
        except Exception as e:  # noqa: BLE001 - shown, never a crash
            self.note.setText(describe_error(e))
            return False
        self.kept.emit(self.thread_id, mid)
        self.accept()
        return True

    def done(self, result: int) -> None:
        if self._run is not None:
            self._run.cancel.set()
            self._run.wait(30000)
        self._timer.stop()
        super().done(result)


def install(window: Any, add_action: Callable[..., QAction]) -> QAction:
    """Add "Compare…" to the window (Answer menu, palette, the composer's right-click menu)."""
    def open_compare() -> CompareDialog:
        session = window.session
        dlg = CompareDialog(window.backend, window.ui.registry, session.current_id, window.composer.text(), window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def show(thread_id: str | None, message_id: str | None = None) -> None:
            if not thread_id:
                return
            if session.threads.get(thread_id) is None:
                session.load()
            try:  # both answers ran outside the dispatcher: the thread list's spend is refreshed here
                info = window.backend.thread(thread_id)
                session.threads.update(thread_id, title=info.title, energy_j=info.energy_j, usd=info.usd)
            except BatonError:
                pass
            session.select(thread_id)
            if message_id:
                session.show_version(message_id)
                window.composer.set_text("")
                window.statusBar().showMessage("Kept; the other answer stays as an earlier version.", 6000)

        dlg.kept.connect(show)
        dlg.rejected.connect(lambda: show(dlg.thread_id) if dlg.result is not None else None)
        window.settingsChanged.connect(dlg.refresh_targets)
        window.compare_dialog = dlg
        dlg.open()
        return dlg

    act = add_action("Co&mpare two tiers…", "Ctrl+Shift+M", open_compare,
                     "Send the question in the box to two tiers or models side by side and keep the better answer")
    edit = window.composer.edit
    edit.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def menu(pos: Any) -> None:
        m = edit.createStandardContextMenu()
        m.addSeparator()
        m.addAction(act)
        m.exec(edit.mapToGlobal(pos))
        m.deleteLater()

    edit.customContextMenuRequested.connect(menu)
    return act
