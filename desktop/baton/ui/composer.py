"""Where the user types: the prompt, the tier to ask, the model, Send (Ctrl+Enter) and Stop (Esc)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSizePolicy, QToolButton,
                               QVBoxLayout, QWidget)

TIERS = (("Auto", "auto", "Local first; escalate when the local answer looks weak"),
         ("Local only", "local", "Never leave this computer"),
         ("Cloud", "cloud", "Send straight to the first cloud endpoint"))


class Composer(QWidget):
    sendRequested = Signal(str, str)  # prompt, tier
    stopRequested = Signal()
    modelPickerRequested = Signal()
    editCancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.edit = QPlainTextEdit()
        self.edit.setObjectName("composerEdit")
        self.edit.setPlaceholderText("Ask anything. Ctrl+Enter sends, Esc stops, Ctrl+E escalates the last answer.")
        self.edit.setMinimumHeight(self.edit.fontMetrics().lineSpacing() * 2 + 12)
        self.edit.setMaximumHeight(self.edit.fontMetrics().lineSpacing() * 4 + 20)
        self.edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.edit.setTabChangesFocus(True)

        self.tier = QComboBox()
        self.tier.setObjectName("tierCombo")
        for label, value, tip in TIERS:
            self.tier.addItem(label, value)
            self.tier.setItemData(self.tier.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.tier.setToolTip("Where this question goes")
        self.model_button = QPushButton("Model")
        self.model_button.setObjectName("modelButton")
        self.model_button.setFlat(True)
        self.model_button.setToolTip("Choose the local model (Ctrl+M)")
        self.model_button.clicked.connect(self.modelPickerRequested)
        self.note = QLabel("")
        self.note.setObjectName("receiptText")
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.edit_banner = QLabel("Editing a question: Send asks it in its place (a new version).")
        self.edit_banner.setObjectName("editBanner")
        self.edit_banner.setWordWrap(True)
        self.edit_banner.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cancel_edit_button = QToolButton()
        self.cancel_edit_button.setObjectName("cancelEdit")
        self.cancel_edit_button.setText("Cancel edit")
        self.cancel_edit_button.setToolTip("Keep the question as it was")
        self.cancel_edit_button.clicked.connect(self.editCancelled)
        banner = QHBoxLayout()
        banner.setContentsMargins(0, 0, 0, 0)
        banner.addWidget(self.edit_banner, 1)
        banner.addWidget(self.cancel_edit_button)
        self._banner = QWidget()
        self._banner.setLayout(banner)
        self._banner.setVisible(False)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setToolTip("Send (Ctrl+Enter)")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop this thread's answer (Esc)")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stopRequested)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.tier)
        row.addWidget(self.model_button, 1)
        row.addWidget(self.note, 2)
        row.addWidget(self.stop_button)
        row.addWidget(self.send_button)
        col = QVBoxLayout(self)
        col.setContentsMargins(16, 8, 16, 12)
        col.setSpacing(6)
        col.addWidget(self._banner)
        col.addWidget(self.edit)
        col.addLayout(row)
        self._busy = False

    def text(self) -> str:
        return self.edit.toPlainText()

    def set_text(self, text: str) -> None:
        self.edit.setPlainText(text)

    def selected_tier(self) -> str:
        return str(self.tier.currentData())

    def set_model_label(self, label: str) -> None:
        short = label if len(label) <= 18 else label[:17] + "…"
        self.model_button.setText(f"{short} ▾")
        self.model_button.setToolTip(f"Local model: {label}. Choose another (Ctrl+M)")

    def begin_edit(self, text: str) -> None:
        """Edit mode: the question's text in the box and a banner; Send asks it in its place."""
        self.set_text(text)
        self._banner.setVisible(True)
        self.send_button.setText("Send edit")
        self.edit.setFocus()
        cursor = self.edit.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        self.edit.setTextCursor(cursor)

    def end_edit(self) -> None:
        if self._banner.isVisible():
            self.set_text("")
        self._banner.setVisible(False)
        self.send_button.setText("Send")

    @property
    def editing(self) -> bool:
        return self._banner.isVisible()

    def set_busy(self, busy: bool, note: str = "") -> None:
        """While this thread answers, Send waits and Stop is live; typing stays possible."""
        self._busy = busy
        self.send_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.note.setText(note)

    @property
    def busy(self) -> bool:
        return self._busy

    def send(self) -> None:
        text = self.text().strip()
        if not text or self._busy:
            return
        self.sendRequested.emit(text, self.selected_tier())
