"""The command palette (Ctrl+K): type to filter every action of the window, Enter runs it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QModelIndex, QObject, QSortFilterProxyModel, Qt
from PySide6.QtGui import QAction, QPainter
from PySide6.QtWidgets import (QDialog, QLineEdit, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem,
                               QVBoxLayout, QWidget)

from baton.ui.models import SHORTCUT_ROLE, ActionListModel


class ShortcutDelegate(QStyledItemDelegate):
    """The command on the left, its shortcut right-aligned."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        super().paint(painter, option, index)
        keys = index.data(SHORTCUT_ROLE)
        if not keys:
            return
        painter.save()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = option.palette.ColorRole.HighlightedText if selected else option.palette.ColorRole.PlaceholderText
        painter.setPen(option.palette.color(role))
        painter.drawText(option.rect.adjusted(0, 0, -8, 0),
                         int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), keys)
        painter.restore()


class CommandPalette(QDialog):
    def __init__(self, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Command palette")
        self.setModal(True)
        self.resize(520, 360)
        self.model = ActionListModel(actions, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterRole(Qt.ItemDataRole.UserRole)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter = QLineEdit()
        self.filter.setObjectName("paletteFilter")
        self.filter.setPlaceholderText("Type a command, or words to search every thread")
        self.filter.setToolTip("Enter runs the highlighted command; when no command matches, Enter searches every "
                               "thread for the words")
        self.fallback: Callable[[str], object] | None = None  # what Enter does when no command matches
        self.filter.textChanged.connect(self._filter)
        self.filter.installEventFilter(self)
        self.list = QListView()
        self.list.setObjectName("paletteList")
        self.list.setModel(self.proxy)
        self.list.setItemDelegate(ShortcutDelegate(self.list))
        self.list.activated.connect(self._run_index)
        self.list.clicked.connect(self._run_index)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.list)
        self._select_first()

    def _filter(self, text: str) -> None:
        # Every word must appear, in any order: "new thr" finds "New thread".
        words = [w for w in text.split() if w]
        pattern = "".join(f"(?=.*{_escape(w)})" for w in words)
        self.proxy.setFilterRegularExpression(pattern)
        self._select_first()

    def _select_first(self) -> None:
        for row in range(self.proxy.rowCount()):
            idx = self.proxy.index(row, 0)
            if idx.flags() & Qt.ItemFlag.ItemIsEnabled:
                self.list.setCurrentIndex(idx)
                return

    def run_current(self) -> bool:
        return self._run_index(self.list.currentIndex())

    def _run_index(self, idx) -> bool:  # noqa: ANN001 (QModelIndex)
        if not idx.isValid() or not idx.flags() & Qt.ItemFlag.ItemIsEnabled:
            return False
        action = self.model.action(self.proxy.mapToSource(idx).row())
        self.accept()
        if action is not None:
            action.trigger()
        return action is not None

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.filter and event.type() == QEvent.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                step = 1 if key == Qt.Key.Key_Down else -1
                row = max(0, min(self.proxy.rowCount() - 1, self.list.currentIndex().row() + step))
                self.list.setCurrentIndex(self.proxy.index(row, 0))
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                if not self.run_current() and self.fallback is not None and self.filter.text().strip():
                    text = self.filter.text().strip()
                    self.accept()
                    self.fallback(text)
                return True
        return super().eventFilter(obj, event)


def _escape(word: str) -> str:
    return "".join("\\" + c if not c.isalnum() else c for c in word)
