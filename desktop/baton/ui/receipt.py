"""The compact receipt under every answer: a badge (where it ran, and "unsure" in its own colour when Baton doubts
the answer), one line of figures, "Why" (one or two plain sentences) with the numbers behind "details"."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from baton.ui.format import receipt_details_html, receipt_summary
from baton.ui.judgment import badge, why_sentences


class ReceiptBar(QWidget):
    """Badge, one line of figures, "Why" to expand, "Regenerate" and "Retry on ..." (a new version in place); on
    the latest answer also "Good answer" and "Escalate". ``status`` is the message's (``loop``, ``failed``...)."""

    escalateRequested = Signal(str)  # message id
    retryRequested = Signal(str, str, str)  # message id, tier, target (model id or endpoint name)
    acceptRequested = Signal(str)  # message id

    def __init__(self, message_id: str, receipt: dict[str, Any], actions: bool,
                 retry_targets: list[tuple[str, str, str]], can_escalate: bool = True,
                 parent: QWidget | None = None, status: str = "done", retry: bool = True) -> None:
        super().__init__(parent)
        self.message_id = message_id
        self.receipt = receipt
        route = receipt.get("route") or {}

        judged = badge(receipt, status)
        self.badge = QLabel(judged.text)
        self.badge.setObjectName("badge")
        self.badge.setProperty("tier", judged.kind)
        self.badge.setToolTip(judged.tip)
        self.summary = QLabel(receipt_summary(receipt))
        self.summary.setObjectName("receiptText")
        self.summary.setWordWrap(True)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setToolTip("Energy is labelled measured or estimated by its source; press Why, then details, "
                                "for every part.")
        self.ladder = QLabel(ladder_text(receipt))  # the tiers a ladder tried, each with its cost and verdict
        self.ladder.setObjectName("receiptLadder")
        self.ladder.setWordWrap(True)
        self.ladder.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.ladder.setVisible(bool(self.ladder.text()))
        self.toggle = QToolButton()
        self.toggle.setObjectName("receiptToggle")
        self.toggle.setText("Why ▸")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("Why this answer ran where it did, and why it was kept or escalated")
        self.toggle.toggled.connect(self._expand)
        self.why = QLabel(why_sentences(receipt, status))
        self.why.setObjectName("receiptWhy")
        self.why.setWordWrap(True)
        self.why.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.why.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.why.setVisible(False)
        self.details_toggle = QToolButton()
        self.details_toggle.setObjectName("detailsToggle")
        self.details_toggle.setText("details ▸")
        self.details_toggle.setCheckable(True)
        self.details_toggle.setToolTip("The numbers: the router's reason and signals, every energy figure with its "
                                       "source, tokens, time and memory")
        self.details_toggle.toggled.connect(self._details)
        self.details_toggle.setVisible(False)
        self.details = QLabel(f"<b>Why here:</b> {_esc(str(route.get('reason') or 'no reason recorded'))}<br>"
                              + receipt_details_html(receipt).split("<br>", 1)[-1])
        self.details.setObjectName("receiptDetails")
        self.details.setWordWrap(True)
        self.details.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setVisible(False)

        self.badge.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(8)
        top.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.summary, 1)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        row.addWidget(self.toggle)
        self.escalate_button: QToolButton | None = None
        self.retry_button: QToolButton | None = None
        self.accept_button: QToolButton | None = None
        self.regenerate_button: QToolButton | None = None
        if retry:
            self.regenerate_button = QToolButton()
            self.regenerate_button.setObjectName("answerAction")
            self.regenerate_button.setText("Regenerate")
            self.regenerate_button.setToolTip("Answer this question again on the same tier (a new version in place)")
            same = ("cloud", str(route.get("endpoint") or "")) if route.get("tier") == "cloud" else ("local", "")
            self.regenerate_button.clicked.connect(lambda: self.retryRequested.emit(self.message_id, *same))
            row.addWidget(self.regenerate_button)
        if actions:
            self.accept_button = QToolButton()
            self.accept_button.setObjectName("answerAction")
            self.accept_button.setText("Good answer")
            self.accept_button.setToolTip("Tell Baton this answer was good enough; it learns which tier to trust")
            self.accept_button.clicked.connect(self._accept)
            row.addWidget(self.accept_button)
        if actions and can_escalate:
            self.escalate_button = QToolButton()
            self.escalate_button.setObjectName("answerAction")
            self.escalate_button.setText("Escalate")
            self.escalate_button.setToolTip("Ask a stronger tier to answer this again (Ctrl+E)")
            self.escalate_button.clicked.connect(lambda: self.escalateRequested.emit(self.message_id))
            row.addWidget(self.escalate_button)
        if retry and retry_targets:
            self.retry_button = QToolButton()
            self.retry_button.setObjectName("answerAction")
            self.retry_button.setText("Retry on")
            self.retry_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
            menu = QMenu(self.retry_button)
            self._retry_targets = retry_targets  # the chat's live list: read again each time the menu opens
            menu.aboutToShow.connect(self._fill_retry_menu)
            self._fill_retry_menu(menu)
            self.retry_button.setMenu(menu)
            row.addWidget(self.retry_button)
        row.addStretch(1)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 4, 0, 0)
        col.setSpacing(4)
        col.addLayout(top)
        col.addWidget(self.ladder)
        col.addLayout(row)
        col.addWidget(self.why)
        col.addWidget(self.details_toggle)
        col.addWidget(self.details)

    def _fill_retry_menu(self, menu: QMenu | None = None) -> None:
        """The "Retry on" entries from the targets as they are now (an endpoint added or removed since shows)."""
        menu = menu or (self.retry_button.menu() if self.retry_button is not None else None)
        if menu is None:
            return
        menu.clear()
        for label, t, target in self._retry_targets:
            act = menu.addAction(label)
            act.triggered.connect(lambda _=False, t=t, target=target:
                                  self.retryRequested.emit(self.message_id, t, target))

    def _accept(self) -> None:
        if self.accept_button is not None:
            self.accept_button.setEnabled(False)
            self.accept_button.setText("Noted ✓")
        self.acceptRequested.emit(self.message_id)

    def _expand(self, on: bool) -> None:
        self.why.setVisible(on)
        self.details_toggle.setVisible(on)
        self.details.setVisible(on and self.details_toggle.isChecked())
        self.toggle.setText("Why ▾" if on else "Why ▸")

    def _details(self, on: bool) -> None:
        self.details.setVisible(on)
        self.details_toggle.setText("details ▾" if on else "details ▸")


def ladder_text(receipt: dict[str, Any]) -> str:
    """The ladder's steps (``tiers: a (1.2 J, rejected: ...) -> b (...)``), or the examples' result of a plain
    answer, or empty."""
    from baton.core.pipeline.ladder import ladder_line

    steps = receipt.get("ladder") or []
    if steps:
        return ladder_line(steps)
    sentence = (receipt.get("verification") or {}).get("sentence")
    return f"examples: {sentence}" if sentence else ""


def _esc(text: str) -> str:
    import html

    return html.escape(text)
