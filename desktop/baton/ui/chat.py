"""The chat view of one thread: settled messages (markdown, receipts) and at most one live answer.

The live answer is a text document that only ever has text appended at its end (cheap, no
re-layout of what came before); it is replaced by the rendered markdown when the answer settles.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QTextCursor
from PySide6.QtWidgets import (QFrame, QLabel, QPushButton, QScrollArea, QSizePolicy, QTextBrowser, QVBoxLayout,
                               QWidget)

from baton.ui.backend import MessageView
from baton.ui.receipt import ReceiptBar
from baton.ui.render import Renderer

MAX_SHOWN = 60  # older messages behind "Show earlier"


def _open_link(url: str) -> None:
    if url.startswith(("http://", "https://")):
        QDesktopServices.openUrl(QUrl(url))


class Bubble(QFrame):
    def __init__(self, kind: str, role_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("bubble", kind)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(12, 8, 12, 8)
        self.body.setSpacing(4)
        self.role_label = QLabel(role_text)
        self.role_label.setObjectName("roleLabel")
        self.body.addWidget(self.role_label)

    def add_text(self, html_or_text: str, rich: bool) -> QLabel:
        label = QLabel()
        label.setObjectName("messageText")
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        label.setText(html_or_text)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        label.linkActivated.connect(_open_link)
        label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.body.addWidget(label)
        return label


class LiveText(QTextBrowser):
    """Streaming text: appended at the end, height follows the document."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("liveText")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().setDocumentMargin(0)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.setFixedHeight(self.fontMetrics().lineSpacing() + 4)

    def append_text(self, text: str) -> None:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)

    def text(self) -> str:
        return self.document().toPlainText()

    def _fit(self, size: Any) -> None:
        self.setFixedHeight(max(int(size.height()) + 4, self.fontMetrics().lineSpacing() + 4))


class ChatView(QScrollArea):
    escalateRequested = Signal(str)
    retryRequested = Signal(str, str, str)
    acceptRequested = Signal(str)
    showEarlierRequested = Signal()

    def __init__(self, renderer: Renderer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatScroll")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._renderer = renderer
        self._contents = QWidget()
        self._contents.setObjectName("chatContents")
        self._layout = QVBoxLayout(self._contents)
        self._layout.setContentsMargins(16, 16, 16, 16)
        self._layout.setSpacing(10)
        self._layout.addStretch(1)
        self.setWidget(self._contents)
        self._retry_targets: list[tuple[str, str, str]] = []
        self._can_escalate = False
        self._live_bubble: Bubble | None = None
        self._live_user: Bubble | None = None
        self.live_text: LiveText | None = None
        self.live_status: QLabel | None = None
        self._last_receipt: ReceiptBar | None = None
        self._stick = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(lambda v: setattr(self, "_stick", v >= bar.maximum() - 4))
        bar.rangeChanged.connect(lambda _lo, hi: bar.setValue(hi) if self._stick else None)

    # ---- building --------------------------------------------------------------------------------
    def set_retry_targets(self, targets: list[tuple[str, str, str]], can_escalate: bool) -> None:
        self._retry_targets = list(targets)
        self._can_escalate = can_escalate

    def clear(self) -> None:
        self._live_bubble = self._live_user = None
        self.live_text = None
        self.live_status = None
        self._last_receipt = None
        while self._layout.count() > 1:
            item = self._layout.takeAt(0)
            w = item.widget()
            if w is not None:
                w.hide()
                w.deleteLater()
        self._stick = True

    def _add(self, w: QWidget) -> None:
        self._layout.insertWidget(self._layout.count() - 1, w)

    def show_empty(self, widget: QWidget) -> None:
        self.clear()
        self._add(widget)

    def show_messages(self, messages: list[MessageView], show_all: bool = False) -> None:
        self.clear()
        if not show_all and len(messages) > MAX_SHOWN:
            more = QPushButton(f"Show {len(messages) - MAX_SHOWN} earlier messages")
            more.setFlat(True)
            more.clicked.connect(self.showEarlierRequested)
            self._add(more)
            messages = messages[-MAX_SHOWN:]
        self.add_settled(messages)

    def add_settled(self, messages: list[MessageView]) -> None:
        last_answer = max((i for i, m in enumerate(messages) if m.role == "assistant" and m.status != "escalated"),
                          default=-1)
        if last_answer >= 0 and self._last_receipt is not None:
            self._drop_actions(self._last_receipt)
        for i, m in enumerate(messages):
            self._add(self._settled_bubble(m, actions=(i == last_answer)))

    def _settled_bubble(self, m: MessageView, actions: bool) -> Bubble:
        if m.role == "user":
            b = Bubble("user", "You")
            b.add_text(m.content, rich=False)
            return b
        if m.status == "escalated":
            b = Bubble("replaced", f"Local answer from {m.model or '?'}, replaced by an escalation")
        elif m.status == "failed" and not m.content:
            b = Bubble("error", "The answer failed")
        elif m.status == "refused":
            b = Bubble("error", "Not sent")
        else:
            label = {"cancelled": " (stopped)", "interrupted": " (interrupted: Baton closed mid-answer)",
                     "loop": " (cut: the model was repeating itself)", "failed": " (failed)"}.get(m.status, "")
            b = Bubble("assistant", f"{m.model or 'Answer'}{label}")
        if m.content:
            b.add_text(self._renderer.to_html(m.content, key=m.id), rich=True)
        elif m.status == "refused" and m.note:
            b.add_text(m.note, rich=False)
        elif m.status != "failed":
            b.add_text("(no text)", rich=False)
        if m.receipt and m.receipt.get("route"):
            bar = ReceiptBar(m.id, m.receipt, actions and m.status != "escalated", self._retry_targets,
                             self._can_escalate)
            bar.escalateRequested.connect(self.escalateRequested)
            bar.retryRequested.connect(self.retryRequested)
            bar.acceptRequested.connect(self.acceptRequested)
            b.body.addWidget(bar)
            if actions:
                self._last_receipt = bar
        elif m.receipt and m.receipt.get("error"):
            b.add_text(str(m.receipt["error"]), rich=False)
        return b

    @staticmethod
    def _drop_actions(bar: ReceiptBar) -> None:
        for button in (bar.escalate_button, bar.retry_button, bar.accept_button):
            if button is not None:
                button.hide()

    def add_error(self, text: str) -> None:
        b = Bubble("error", "Baton")
        b.add_text(text, rich=False)
        self._add(b)

    # ---- the live answer ---------------------------------------------------------------------------
    def begin_live(self, prompt: str | None, status: str, text: str = "") -> None:
        """Show the answer being written (and, unless ``prompt`` is None, the question it answers)."""
        self.end_live()
        if prompt is not None:
            self._live_user = Bubble("user", "You")
            self._live_user.add_text(prompt, rich=False)
            self._add(self._live_user)
        self._live_bubble = Bubble("assistant", "Answer")
        self.live_status = QLabel(status)
        self.live_status.setObjectName("liveStatus")
        self.live_text = LiveText()
        if text:
            self.live_text.append_text(text)
        self._live_bubble.body.addWidget(self.live_text)
        self._live_bubble.body.addWidget(self.live_status)
        self.live_status.setVisible(bool(status))  # only once it has a parent, or it becomes a window
        self._add(self._live_bubble)
        self._stick = True

    def append_live(self, text: str) -> None:
        if self.live_text is not None:
            self.live_text.append_text(text)

    def set_live_status(self, status: str) -> None:
        if self.live_status is not None:
            self.live_status.setText(status)
            self.live_status.setVisible(bool(status))

    def end_live(self) -> None:
        for w in (self._live_user, self._live_bubble):
            if w is not None:
                self._layout.removeWidget(w)
                w.hide()
                w.deleteLater()
        self._live_user = self._live_bubble = None
        self.live_text = None
        self.live_status = None

    @property
    def has_live(self) -> bool:
        return self._live_bubble is not None

    def settled_texts(self) -> list[str]:
        """Plain text of every settled message label, in order (used by tests and screenshots)."""
        out = []
        for w in self.bubbles():
            if w is not self._live_bubble and w is not self._live_user:
                out += [label.text() for label in w.findChildren(QLabel, "messageText")]
        return out

    def bubbles(self) -> list[Bubble]:
        """The message bubbles in the order they are shown."""
        items = (self._layout.itemAt(i).widget() for i in range(self._layout.count()))
        return [w for w in items if isinstance(w, Bubble)]

    def receipt_bars(self) -> list[ReceiptBar]:
        return [bar for b in self.bubbles() for bar in b.findChildren(ReceiptBar)]
