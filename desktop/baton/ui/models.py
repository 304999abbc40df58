"""Qt item models: thin adapters over plain Python lists, changed only on the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QAction, QFont, QIcon

from baton.ui.format import fmt_bytes, fmt_count, fmt_energy, fmt_usd

Index = QModelIndex | QPersistentModelIndex
ID_ROLE = Qt.ItemDataRole.UserRole + 1
STATE_ROLE = Qt.ItemDataRole.UserRole + 2
UNREAD_ROLE = Qt.ItemDataRole.UserRole + 3
SHORTCUT_ROLE = Qt.ItemDataRole.UserRole + 4

STATE_LABELS = {"idle": "idle", "queued": "queued", "generating": "generating", "escalated": "escalated",
                "failed": "failed", "loading": "loading model", "waiting": "waiting for you"}


@dataclass(frozen=True)
class ThreadRow:
    id: str
    title: str
    state: str = "idle"  # idle | queued | loading | generating | waiting | escalated | failed
    energy_j: float = 0.0
    usd: float = 0.0
    unread: bool = False
    detail: str = ""  # e.g. "2nd in queue"
    pinned: bool = False

    @property
    def display_title(self) -> str:
        return self.title or "New thread"


class ThreadListModel(QAbstractListModel):
    def __init__(self, icon_for_state: Callable[[str], QIcon] | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ThreadRow] = []
        self._icon_for_state = icon_for_state

    # ---- the list ------------------------------------------------------------------------------
    def rows(self) -> list[ThreadRow]:
        return list(self._rows)

    def set_rows(self, rows: list[ThreadRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_of(self, thread_id: str) -> int:
        return next((i for i, r in enumerate(self._rows) if r.id == thread_id), -1)

    def get(self, thread_id: str) -> ThreadRow | None:
        i = self.row_of(thread_id)
        return self._rows[i] if i >= 0 else None

    def insert_first(self, row: ThreadRow) -> None:
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._rows.insert(0, row)
        self.endInsertRows()

    def remove(self, thread_id: str) -> None:
        i = self.row_of(thread_id)
        if i >= 0:
            self.beginRemoveRows(QModelIndex(), i, i)
            del self._rows[i]
            self.endRemoveRows()

    def update(self, thread_id: str, **changes: Any) -> None:
        i = self.row_of(thread_id)
        if i < 0:
            return
        new = replace(self._rows[i], **changes)
        if new != self._rows[i]:
            self._rows[i] = new
            idx = self.index(i, 0)
            self.dataChanged.emit(idx, idx)

    def set_icon_provider(self, icon_for_state: Callable[[str], QIcon]) -> None:
        self._icon_for_state = icon_for_state
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 0))

    # ---- QAbstractItemModel ----------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's own default)
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            state = STATE_LABELS.get(r.state, r.state)
            if r.detail:
                state = f"{state} ({r.detail})"
            if r.unread:
                state = f"new answer · {state}"
            pin = "★ " if r.pinned else ""
            return f"{pin}{r.display_title}\n{state} · {fmt_energy(r.energy_j)} · {fmt_usd(r.usd)}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"{r.display_title}\nState: {STATE_LABELS.get(r.state, r.state)}\n"
                    f"Spent: {fmt_energy(r.energy_j)} and {fmt_usd(r.usd)}")
        if role == Qt.ItemDataRole.DecorationRole and self._icon_for_state is not None:
            return self._icon_for_state(r.state)
        if role == Qt.ItemDataRole.FontRole and r.unread:
            f = QFont()
            f.setBold(True)
            return f
        if role == ID_ROLE:
            return r.id
        if role == STATE_ROLE:
            return r.state
        if role == UNREAD_ROLE:
            return r.unread
        return None


@dataclass(frozen=True)
class QueueRow:
    """One row of the slots view: a job generating now (``running``, with its live ``tokens_per_s``) or waiting
    for a local slot. ``where``: ``local`` or the endpoint's name."""

    job_id: int
    thread_title: str
    prompt: str
    running: bool
    tokens_per_s: float = 0.0
    where: str = "local"
    stopping: bool = False


class QueueModel(QAbstractListModel):
    """The slots view: the jobs generating now (local slots, then remote requests), each with its live
    tokens/s, then the jobs waiting for a local slot, numbered in the order they will start."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[QueueRow] = []

    def set_rows(self, rows: list[QueueRow]) -> None:
        if rows == self._rows:
            return
        if [r.job_id for r in rows] == [r.job_id for r in self._rows]:  # figures changed: no reset, no lost focus
            self._rows = list(rows)
            if rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, 0))
            return
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[QueueRow]:
        return list(self._rows)

    def running_count(self) -> int:
        return sum(1 for r in self._rows if r.running)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            prompt = " ".join(r.prompt.split())
            prompt = prompt if len(prompt) <= 40 else prompt[:39] + "…"
            if r.running:
                rate = "stopping…" if r.stopping else (f"{r.tokens_per_s:.1f} tok/s" if r.tokens_per_s else "starting")
                where = "" if r.where == "local" else f" · on {r.where}"
                return f"▶ {r.thread_title} · {rate}{where}\n   {prompt}"
            waiting = index.row() - self.running_count() + 1
            return f"{waiting}. {r.thread_title} · waits\n   {prompt}"
        if role == Qt.ItemDataRole.ToolTipRole:
            if r.running:
                return ("Generating now" + (" on the local engine, in a slot of its own" if r.where == "local"
                                            else f" on {r.where}") + "; the figure is this thread's live speed")
            return "Waiting for a local slot; move it with Alt+Up / Alt+Down, take it out with Alt+Del"
        if role == ID_ROLE:
            return r.job_id
        return None


MODEL_COLUMNS = ("Model", "Origin", "Size", "Quant", "Params", "Context", "Fit")


class ModelTableModel(QAbstractTableModel):
    """Rows are the dicts of `baton models --json`."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_dict(self, row: int) -> dict[str, Any] | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(MODEL_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal
                and 0 <= section < len(MODEL_COLUMNS)):
            return MODEL_COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        m = self._rows[index.row()]
        fit = m.get("fit") or {}
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                m.get("name") or m.get("id", "?"),
                m.get("origin", ""),
                fmt_bytes(m.get("size_bytes") or 0),
                m.get("quant", ""),
                fmt_count(m.get("params")) if m.get("params") else "?",
                f"{m.get('context_length') or 0:,}",
                _fit_label(fit),
            )[col] if 0 <= col < len(MODEL_COLUMNS) else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == len(MODEL_COLUMNS) - 1:
                return fit.get("reason") or "no fit plan"
            return m.get("path", "")
        if role == ID_ROLE:
            return m.get("id")
        return None


def _fit_label(fit: dict[str, Any]) -> str:
    device = fit.get("device", "?")
    return {"gpu": "GPU", "cpu": "CPU", "split": f"split ({fit.get('n_gpu_layers', 0)} layers on GPU)",
            "none": "does not fit"}.get(device, device)


class ActionListModel(QAbstractListModel):
    """Every QAction of the window, for the command palette."""

    def __init__(self, actions: list[QAction], parent: Any = None) -> None:
        super().__init__(parent)
        self._actions = [a for a in actions if a.text()]

    def action(self, row: int) -> QAction | None:
        return self._actions[row] if 0 <= row < len(self._actions) else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._actions)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._actions):
            return None
        a = self._actions[index.row()]
        text = a.text().replace("&", "")
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == SHORTCUT_ROLE:
            return a.shortcut().toString(a.shortcut().SequenceFormat.NativeText)
        if role == Qt.ItemDataRole.ToolTipRole:
            return a.toolTip() or text
        if role == Qt.ItemDataRole.UserRole:
            return text  # what the filter matches
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        a = self._actions[index.row()]
        base = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
        return base | Qt.ItemFlag.ItemIsEnabled if a.isEnabled() else base
