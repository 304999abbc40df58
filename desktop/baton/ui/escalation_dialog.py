"""Ask mode: before anything leaves the machine, show exactly what will be sent, where, and what it
will probably cost. Nothing is sent unless the user says yes; closing the dialog means no."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLabel, QPlainTextEdit, QPushButton,
                               QVBoxLayout, QWidget)

from baton.ui.format import fmt_usd


class EscalationDialog(QDialog):
    def __init__(self, plan: Any, thread_title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        endpoint = getattr(plan, "endpoint", "?")
        self.setWindowTitle(f"Send to {endpoint}?")
        self.setModal(False)
        self.resize(620, 480)
        intro = QLabel(f"Thread <b>{_esc(thread_title)}</b> wants a stronger answer. Nothing has left this "
                       "computer yet. This is exactly what would be sent:")
        intro.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Endpoint:", QLabel(f"{_esc(endpoint)} · model {_esc(getattr(plan, 'model', '?'))}"))
        form.addRow("Address:", QLabel(_esc(getattr(plan, "base_url", "?"))))
        est = getattr(plan, "est_usd", None)
        form.addRow("Estimated cost:", QLabel(f"{fmt_usd(est)} (estimate from the endpoint's prices)"))
        reason = getattr(plan, "reason", "")
        if reason:
            why = QLabel(_esc(reason))
            why.setWordWrap(True)
            form.addRow("Why:", why)
        redactions = list(getattr(plan, "redactions", []) or [])
        if redactions:
            red = QLabel("Redacted before sending: " + ", ".join(_esc(str(r)) for r in redactions))
            red.setObjectName("warning")
            red.setWordWrap(True)
            form.addRow("Privacy:", red)
        self.outgoing = QPlainTextEdit(getattr(plan, "text_to_send", ""))
        self.outgoing.setObjectName("outgoingText")
        self.outgoing.setReadOnly(True)
        buttons = QDialogButtonBox()
        self.send_button = QPushButton(f"Send to {endpoint}")
        self.keep_button = QPushButton("Keep the local answer")
        buttons.addButton(self.send_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.keep_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.keep_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.outgoing, 1)
        layout.addWidget(buttons)


def _esc(text: str) -> str:
    import html

    return html.escape(str(text))
