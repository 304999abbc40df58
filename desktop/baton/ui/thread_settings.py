"""A thread's own settings (from the thread list's context menu or the palette): system prompt, model or ladder, tier
mode, temperature, budgets in joules and dollars, with what it has spent, what is left and its burn rate (the last
24 hours' spend divided by 24 h)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel,
                               QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget)

from baton.core.errors import BatonError
from baton.core.store.thread_ops import LADDER
from baton.ui.format import fmt_energy, fmt_hours, fmt_usd

TIER_MODES = (("Auto: local first, escalate when weak", "auto"), ("Local only", "local"),
              ("Cloud: the first endpoint", "cloud"))
MODEL_CHOICES = (("Default model", ""), ("The routing ladder", LADDER))


def fmt_joules(energy_j: float) -> str:
    """Joules as the budget is set, whole and grouped (``3,800 J``)."""
    return f"{energy_j:,.0f} J"


def _budget_box(suffix: str, decimals: int, maximum: float, step: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(0.0, maximum)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setSpecialValueText("no budget")  # 0 means none
    box.setSuffix(suffix)
    return box


class ThreadSettingsDialog(QDialog):
    """Edit one thread's settings; OK saves them through the backend (a bad value is said in the dialog)."""

    def __init__(self, backend: Any, thread_id: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.backend = backend
        self.thread_id = thread_id
        self.setWindowTitle(f"Thread settings: {title or 'New thread'}")
        self.setObjectName("threadSettings")
        self.resize(540, 560)
        s = backend.thread_settings(thread_id)
        self.system = QPlainTextEdit(s.system_prompt)
        self.system.setObjectName("threadSystemPrompt")
        self.system.setPlaceholderText("Baton's default: “You are a helpful assistant. Answer concisely.”")
        self.system.setMaximumHeight(self.system.fontMetrics().lineSpacing() * 5 + 16)
        self.model = QComboBox()
        self.model.setObjectName("threadModel")
        self.model.setEditable(True)
        self.model.setToolTip("A model id from Models (Ctrl+M) or a .gguf path; the ladder lets routing.ladder choose")
        for label, value in MODEL_CHOICES:
            self.model.addItem(label, value)
        for m in backend.resident_models():
            if m.get("model_id") and self.model.findData(m["model_id"]) < 0:
                self.model.addItem(str(m["model_id"]), str(m["model_id"]))
        if s.model and self.model.findData(s.model) < 0:
            self.model.addItem(s.model, s.model)
        self.model.setCurrentIndex(max(0, self.model.findData(s.model)))
        self.tier = QComboBox()
        self.tier.setObjectName("threadTier")
        for label, value in TIER_MODES:
            self.tier.addItem(label, value)
        self.tier.setCurrentIndex(max(0, self.tier.findData(s.tier_mode)))
        self.temperature = QDoubleSpinBox()
        self.temperature.setObjectName("threadTemperature")
        self.temperature.setRange(-0.05, 2.0)
        self.temperature.setSingleStep(0.05)
        self.temperature.setDecimals(2)
        self.temperature.setSpecialValueText("default")  # the minimum: the engine's default
        self.temperature.setValue(-0.05 if s.temperature is None else s.temperature)
        self.budget_j = _budget_box(" J", 0, 1e9, 500)
        self.budget_j.setObjectName("threadBudgetJ")
        self.budget_j.setValue(s.budget_j or 0.0)
        self.hard = QCheckBox("Hard limit: refuse local answers once it is spent (else only warn)")
        self.hard.setChecked(s.budget_hard)
        self.budget_usd = _budget_box("", 2, 1e6, 0.10)
        self.budget_usd.setPrefix("$ ")
        self.budget_usd.setObjectName("threadBudgetUsd")
        self.budget_usd.setValue(s.budget_usd or 0.0)
        self.pinned = QCheckBox("Pinned to the top of the thread list")
        self.pinned.setChecked(s.pinned)
        usd_note = QLabel("Once spent, nothing more of this thread goes to a remote tier: questions stay on this "
                          "computer, and questions sent to the cloud are refused.")
        usd_note.setWordWrap(True)
        usd_note.setObjectName("totalsNote")

        self.spent_j = QProgressBar()
        self.spent_j.setObjectName("spentJ")
        self.spent_usd = QProgressBar()
        self.spent_usd.setObjectName("spentUsd")
        self.spend = QLabel()
        self.spend.setObjectName("threadSpend")
        self.spend.setWordWrap(True)
        self.spend.setTextFormat(Qt.TextFormat.RichText)
        self.error = QLabel("")
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)

        form = QFormLayout()
        form.addRow("System prompt", self.system)
        form.addRow("Model", self.model)
        form.addRow("Tier mode", self.tier)
        form.addRow("Temperature", self.temperature)
        form.addRow("Energy budget", self.budget_j)
        form.addRow("", self.hard)
        form.addRow("Dollar budget", self.budget_usd)
        form.addRow("", usd_note)
        form.addRow("", self.pinned)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addLayout(form)
        col.addWidget(self.spend)
        col.addWidget(self.spent_j)
        col.addWidget(self.spent_usd)
        col.addWidget(self.error)
        col.addStretch(1)
        col.addWidget(buttons)
        self.budget_j.valueChanged.connect(self._show_spend)
        self.budget_usd.valueChanged.connect(self._show_spend)
        self._show_spend()

    def _show_spend(self) -> None:
        try:
            b = self.backend.thread_burn(self.thread_id)
        except BatonError as e:
            self.spend.setText(str(e))
            return
        lines = [f"<b>Spent</b>: {fmt_energy(b.energy_j)} and {fmt_usd(b.usd)} over the thread's life.",
                 f"<b>Burn rate</b> (last 24 hours): {fmt_energy(b.j_per_hour)} per hour, {fmt_usd(b.usd_per_hour)} "
                 "per hour."]
        for bar, spent, budget, fmt, what in ((self.spent_j, b.energy_j, self.budget_j.value(), fmt_joules, "energy"),
                                              (self.spent_usd, b.usd, self.budget_usd.value(), fmt_usd, "dollars")):
            bar.setVisible(budget > 0)
            if budget > 0:
                left = max(0.0, budget - spent)
                bar.setRange(0, 1000)
                bar.setValue(int(min(1.0, spent / budget) * 1000))
                bar.setFormat(f"{what}: {fmt(spent)} of {fmt(budget)}, {fmt(left)} left")
                rate = b.j_per_hour if what == "energy" else b.usd_per_hour
                kind = "energy" if what == "energy" else "dollar"
                if left <= 0:
                    lines.append(f"<b>The {kind} budget is spent.</b>")
                elif rate > 0:
                    lines.append(f"At this rate the {kind} budget lasts about {fmt_hours(left / rate)} more.")
        self.spend.setText("<br>".join(lines))

    def values(self) -> dict[str, Any]:
        """The settings as the form shows them (``ThreadSettings`` field names)."""
        model = self.model.currentData() if self.model.currentText() == self.model.itemText(
            self.model.currentIndex()) else self.model.currentText()
        temp = self.temperature.value()
        return {"system_prompt": self.system.toPlainText(), "model": model or "",
                "tier_mode": self.tier.currentData(), "temperature": None if temp < 0 else temp,
                "budget_j": self.budget_j.value() or None, "budget_usd": self.budget_usd.value() or None,
                "budget_hard": self.hard.isChecked(), "pinned": self.pinned.isChecked()}

    def save(self) -> bool:
        """Save; on a bad value say it here and stay open."""
        try:
            self.backend.set_thread_settings(self.thread_id, **self.values())
        except BatonError as e:
            self.error.setText(str(e))
            return False
        self.accept()
        return True
