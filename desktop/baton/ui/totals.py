"""Totals by day, week and month (View > Totals, the palette): answers, joules, dollars paid, and what the same answers
would have cost all-cloud (computed in ``core.totals``; the note under the table says how it is priced)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from baton.core.errors import BatonError
from baton.ui.format import fmt_energy, fmt_wh

PERIODS = (("By day (last 14 days)", "day", 14), ("By week (last 8 weeks)", "week", 8),
           ("By month (last 12 months)", "month", 12))


def fmt_dollars(usd: float) -> str:
    """Dollars with cents, or four decimals under a dollar (small sums stay readable)."""
    return "$0" if usd == 0 else f"${usd:.4f}" if abs(usd) < 1 else f"${usd:,.2f}"


COLUMNS = ("Period", "Answers", "Energy", "Paid", "All-cloud would cost", "Saved")


class TotalsDialog(QDialog):
    """The totals table for one period kind at a time."""

    def __init__(self, backend: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.backend = backend
        self.setWindowTitle("Totals")
        self.setObjectName("totalsDialog")
        self.resize(760, 480)
        self.period = QComboBox()
        self.period.setObjectName("totalsPeriod")
        for label, value, count in PERIODS:
            self.period.addItem(label, (value, count))
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("totalsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.note = QLabel("")
        self.note.setObjectName("totalsNote")
        self.note.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(QLabel("Show"))
        head.addWidget(self.period)
        head.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addLayout(head)
        col.addWidget(self.table, 1)
        col.addWidget(self.note)
        col.addWidget(buttons)
        self.period.currentIndexChanged.connect(lambda _i: self.refresh())
        self.rows: list[Any] = []
        self.refresh()

    def refresh(self) -> None:
        """Read the totals again for the chosen period kind."""
        period, count = self.period.currentData()
        try:
            self.rows = self.backend.totals(period, count)
        except BatonError as e:
            self.note.setText(str(e))
            return
        self.table.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            saved = None if r.all_cloud_usd is None else r.all_cloud_usd - r.usd
            cells = (r.label, f"{r.answers} ({r.local} local, {r.cloud} cloud)" if r.answers else "0",
                     f"{fmt_energy(r.energy_j)} ({fmt_wh(r.energy_j)})" if r.energy_j else "0 J", fmt_dollars(r.usd),
                     "—" if r.all_cloud_usd is None else fmt_dollars(r.all_cloud_usd),
                     "—" if saved is None else fmt_dollars(saved))
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        ref = self.backend.reference_endpoint()
        if ref is None:
            self.note.setText("All-cloud: add an endpoint with prices (Settings → Endpoints) to see what the same "
                              "answers would have cost in the cloud. Energy counts every answer: measured where a "
                              "hardware counter exists, estimated otherwise.")
        else:
            self.note.setText(f"All-cloud: each local answer's prompt and completion tokens priced at {ref}'s rates "
                              "(the first endpoint with a price), plus what the cloud answers really cost. Saved = "
                              "all-cloud minus paid. Energy counts every answer, measured or estimated as its "
                              "receipt says.")
