"""The chat view of one thread: settled messages (markdown, receipts) and at most one live answer.

The live answer (ui/live.py) renders its markdown while it streams, throttled; it is replaced by the settled
bubble when the answer is stored. Every bubble offers Copy, versions "‹ 1/2 ›" where there are several, Edit on
questions and Fork on all (ui/bubble.py).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from baton.ui.backend import MessageView
from baton.ui.bubble import Bubble
from baton.ui.live import LiveAnswer
from baton.ui.receipt import ReceiptBar
from baton.ui.render import Renderer

MAX_SHOWN = 60  # older messages behind "Show earlier"
STATUS_WORDS = {"cancelled": " (stopped)", "interrupted": " (interrupted: Baton closed mid-answer)",
                "loop": " (cut: the model was repeating itself)", "failed": " (failed)"}


class ChatView(QScrollArea):
    escalateRequested = Signal(str)
    retryRequested = Signal(str, str, str)
    acceptRequested = Signal(str)
    showEarlierRequested = Signal()
    versionRequested = Signal(str)  # the id of the version to show at its point
    editRequested = Signal(str)  # question id
    forkRequested = Signal(str)  # message id

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
        self._live_bubble: LiveAnswer | None = None
        self._live_user: Bubble | None = None
        self._last_receipt: ReceiptBar | None = None
        self._stick = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(lambda v: setattr(self, "_stick", v >= bar.maximum() - 4))
        bar.rangeChanged.connect(lambda _lo, hi: bar.setValue(hi) if self._stick else None)

    # ---- building --------------------------------------------------------------------------------
    def set_retry_targets(self, targets: list[tuple[str, str, str]], can_escalate: bool) -> None:
        self._retry_targets[:] = targets  # in place: the receipts' "Retry on" menus read this list when opened
        self._can_escalate = can_escalate

    def clear(self) -> None:
        if self._live_bubble is not None:
            self._live_bubble.stop()
        self._live_bubble = self._live_user = None
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
            self._wire(b, m, editable=True)
            return b
        if m.status == "escalated":
            b = Bubble("replaced", f"Local answer from {m.model or '?'}, replaced by an escalation")
        elif m.status == "failed" and not m.content:
            b = Bubble("error", "The answer failed")
        elif m.status == "refused":
            b = Bubble("error", "Not sent")
        else:
            b = Bubble("assistant", f"{m.model or 'Answer'}{STATUS_WORDS.get(m.status, '')}")
        if m.content:
            b.add_markdown(m.content, self._renderer, key=m.id)
        elif m.status != "failed" and m.status != "refused":
            b.add_text("(no text)", rich=False)
        if m.note and m.status in ("refused", "escalated", "failed"):  # kept with the thread across restarts
            note = b.add_text(m.note, rich=False)
            note.setObjectName("messageNote")
        if m.receipt and m.receipt.get("route") and m.status != "refused":
            bar = ReceiptBar(m.id, m.receipt, actions and m.status != "escalated", self._retry_targets,
                             self._can_escalate, status=m.status, retry=m.status != "escalated")
            bar.escalateRequested.connect(self.escalateRequested)
            bar.retryRequested.connect(self.retryRequested)
            bar.acceptRequested.connect(self.acceptRequested)
            b.body.addWidget(bar)
            if actions:
                self._last_receipt = bar
        elif m.receipt and m.receipt.get("error"):
            b.add_text(str(m.receipt["error"]), rich=False)
        self._wire(b, m, editable=False)
        return b

    def _wire(self, b: Bubble, m: MessageView, editable: bool) -> None:
        versions = m.versions or [m.id]
        b.set_message(m.id, m.content, versions, m.version_index, editable)
        b.versionRequested.connect(self.versionRequested)
        b.editRequested.connect(self.editRequested)
        b.forkRequested.connect(self.forkRequested)

    @staticmethod
    def _drop_actions(bar: ReceiptBar) -> None:
        for button in (bar.escalate_button, bar.accept_button):
            if button is not None:
                button.hide()

    def add_error(self, text: str) -> None:
        b = Bubble("error", "Baton")
        b.add_text(text, rich=False)
        self._add(b)

    # ---- the live answer ---------------------------------------------------------------------------
    def begin_live(self, prompt: str | None, status: str, text: str = "", draft: str = "") -> None:
        """Show the answer being written (and, unless ``prompt`` is None, the question it answers)."""
        self.end_live()
        if prompt is not None:
            self._live_user = Bubble("user", "You")
            self._live_user.add_text(prompt, rich=False)
            self._add(self._live_user)
        self._live_bubble = LiveAnswer(self._renderer, status, text)
        if draft:
            self._live_bubble.restart(draft, "Replaced by an escalation:")
            self._live_bubble.append(text)
        self._add(self._live_bubble)
        self._stick = True

    def append_live(self, text: str) -> None:
        if self._live_bubble is not None:
            self._live_bubble.append(text)

    def restart_live(self, draft: str, note: str) -> None:
        """The answer so far is being replaced (an escalation): keep it faded above and start again."""
        if self._live_bubble is not None:
            self._live_bubble.restart(draft, note)

    def set_live_status(self, status: str) -> None:
        if self._live_bubble is not None:
            self._live_bubble.set_status(status)

    def end_live(self) -> None:
        for w in (self._live_user, self._live_bubble):
            if w is not None:
                self._layout.removeWidget(w)
                w.hide()
                w.deleteLater()
        if self._live_bubble is not None:
            self._live_bubble.stop()
        self._live_user = self._live_bubble = None

    @property
    def live_text(self) -> LiveAnswer | None:
        """The answer being written (``text()`` is its raw text), or None."""
        return self._live_bubble

    @property
    def live_status(self) -> QLabel | None:
        return self._live_bubble.status if self._live_bubble is not None else None

    @property
    def has_live(self) -> bool:
        return self._live_bubble is not None

    def settled_texts(self) -> list[str]:
        """Plain text of every settled message label, in order (used by tests and screenshots)."""
        out = []
        for w in self.bubbles():
            if w is not self._live_bubble and w is not self._live_user:
                out += [label.text() for label in w.findChildren(QLabel) if label.objectName() in
                        ("messageText", "messageNote")]
        return out

    def bubbles(self) -> list[Bubble]:
        """The message bubbles in the order they are shown."""
        items = (self._layout.itemAt(i).widget() for i in range(self._layout.count()))
        return [w for w in items if isinstance(w, Bubble)]

    def receipt_bars(self) -> list[ReceiptBar]:
        return [bar for b in self.bubbles() for bar in b.findChildren(ReceiptBar)]
