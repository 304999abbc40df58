"""The compact receipt under every answer, with the route's reason on hover and on expand."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from baton.ui.format import receipt_details_html, receipt_summary


class ReceiptBar(QWidget):
    """Badge (tier and model), one line of figures, "Why" to expand; on the latest answer also
    "Escalate" and "Retry on ..."."""

    escalateRequested = Signal(str)  # message id
    retryRequested = Signal(str, str, str)  # message id, tier, target (model id or endpoint name)
    acceptRequested = Signal(str)  # message id

    def __init__(self, message_id: str, receipt: dict[str, Any], actions: bool,
                 retry_targets: list[tuple[str, str, str]], can_escalate: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message_id = message_id
        self.receipt = receipt
        route = receipt.get("route") or {}
        tier = str(route.get("tier") or "?")
        reason = str(route.get("reason") or "no reason recorded")

        self.badge = QLabel(f"{tier} · {route.get('model') or '?'}" + (" · escalated" if route.get("escalated")
                                                                         else ""))
        self.badge.setObjectName("badge")
        self.badge.setProperty("tier", tier if tier in ("local", "cloud") else "failed")
        self.badge.setToolTip(f"Why here: {reason}")
        self.summary = QLabel(receipt_summary(receipt))
        self.summary.setObjectName("receiptText")
        self.summary.setWordWrap(True)
        self.summary.setToolTip(f"Why here: {reason}\nEnergy is labelled measured or estimated by its source; "
                                "expand for every part.")
        self.toggle = QToolButton()
        self.toggle.setObjectName("receiptToggle")
        self.toggle.setText("Why ▸")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("Show why this answer was routed here and every energy figure with its source")
        self.toggle.toggled.connect(self._expand)
        self.details = QLabel(receipt_details_html(receipt))
        self.details.setObjectName("receiptDetails")
        self.details.setWordWrap(True)
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
        if actions and retry_targets:
            self.retry_button = QToolButton()
            self.retry_button.setObjectName("answerAction")
            self.retry_button.setText("Retry on")
            self.retry_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
            menu = QMenu(self.retry_button)
            for label, t, target in retry_targets:
                act = menu.addAction(label)
                act.triggered.connect(lambda _=False, t=t, target=target:
                                      self.retryRequested.emit(self.message_id, t, target))
            self.retry_button.setMenu(menu)
            row.addWidget(self.retry_button)
        row.addStretch(1)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 4, 0, 0)
        col.setSpacing(4)
        col.addLayout(top)
        col.addLayout(row)
        col.addWidget(self.details)

    def _accept(self) -> None:
        if self.accept_button is not None:
            self.accept_button.setEnabled(False)
            self.accept_button.setText("Noted ✓")
        self.acceptRequested.emit(self.message_id)

    def _expand(self, on: bool) -> None:
        self.details.setVisible(on)
        self.toggle.setText("Why ▾" if on else "Why ▸")
