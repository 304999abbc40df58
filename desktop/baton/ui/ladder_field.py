"""The Settings dialog's ladder (``routing.ladder``): an ordered list of tiers chosen from the local models and the
endpoints, cheapest first; and the question asked once before the app first runs an answer's code
(``verify.mode = "ask"``)."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QListWidget, QMessageBox, QPushButton, QVBoxLayout, QWidget)

VERIFY_CHOICES = (("Ask me the first time", "ask"), ("Run code answers against the question's examples", "on"),
                  ("Never run code answers", "off"))


class LadderField(QWidget):
    """Tiers cheapest first: pick one (a local model or an endpoint) and Add; Up/Down reorder; Remove drops it.
    ``tiers()`` is the list for ``routing.ladder`` (empty: no ladder)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setObjectName("ladderList")
        self.list.setMaximumHeight(110)
        self.pick = QComboBox()
        self.pick.setObjectName("ladderPick")
        self.pick.setToolTip("A local model (from `baton models`) or an endpoint")
        buttons = QHBoxLayout()
        for text, slot in (("Add", self.add), ("Up", lambda: self.move(-1)), ("Down", lambda: self.move(1)),
                           ("Remove", self.remove)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        row = QHBoxLayout()
        row.addWidget(self.pick, 1)
        row.addLayout(buttons)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.list)
        col.addLayout(row)

    def set_choices(self, choices: list[tuple[str, str]]) -> None:
        """(label, spec) pairs offered for adding: local model ids and endpoint names."""
        self.pick.clear()
        for label, spec in choices:
            self.pick.addItem(label, spec)

    def set_tiers(self, tiers: list[str]) -> None:
        """Show ``tiers`` (``routing.ladder``) in order."""
        self.list.clear()
        self.list.addItems(list(tiers))

    def tiers(self) -> list[str]:
        """The tiers in order, each once."""
        out = [self.list.item(i).text() for i in range(self.list.count())]
        return list(dict.fromkeys(out))

    def add(self) -> None:
        """Append the picked tier (once)."""
        spec = self.pick.currentData()
        if spec and spec not in self.tiers():
            self.list.addItem(str(spec))

    def move(self, delta: int) -> None:
        """Move the selected tier up (-1) or down (+1)."""
        row = self.list.currentRow()
        new = row + delta
        if row < 0 or not 0 <= new < self.list.count():
            return
        self.list.insertItem(new, self.list.takeItem(row))
        self.list.setCurrentRow(new)

    def remove(self) -> None:
        """Drop the selected tier."""
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)


class VerifyConsent(QObject):
    """``verify.mode = "ask"``: asks the user once, on the GUI thread, whether Baton may run code answers against
    the question's examples in a sandbox; the answer is saved (``on`` or ``off``). ``__call__`` may be called from
    any thread (it blocks until the user answered). ``answer`` is for tests: the reply instead of a dialog."""

    def __init__(self, backend: Any, parent: QWidget | None = None, answer: bool | None = None) -> None:
        super().__init__(parent)  # made on the GUI thread, where the question is asked
        self._backend = backend
        self._window = parent
        self.answer = answer
        self._reply = False
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        from PySide6.QtCore import QMetaObject, QThread

        with self._lock:
            if QThread.currentThread() is self.thread():
                self._ask()
            else:
                QMetaObject.invokeMethod(self, "_ask", Qt.ConnectionType.BlockingQueuedConnection)
            return self._reply

    @Slot()
    def _ask(self) -> None:
        if self.answer is None:
            box = QMessageBox(QMessageBox.Icon.Question, "Check code answers?",
                              "This question carries examples. May Baton run code answers against them to check "
                              "them? They run in a sandbox: no network, nothing of your home folder, time and "
                              "memory limits. You can change this later in Settings.",
                              QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self._window)
            self._reply = box.exec() == QMessageBox.StandardButton.Yes
        else:
            self._reply = bool(self.answer)
        settings = self._backend.settings
        settings.verify.mode = "on" if self._reply else "off"
        settings.save(self._backend.paths.config_file)
