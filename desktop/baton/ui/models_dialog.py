"""The model picker: every GGUF Baton can use, with size, quantization, context and fit."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QLabel, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from baton.ui.backend import Backend
from baton.ui.models import ModelTableModel
from baton.ui.registry import Registry
from baton.ui.workers import Call


class ModelPicker(QDialog):
    modelChosen = Signal(str)  # model id ("" = the built-in default)

    def __init__(self, backend: Backend, registry: Registry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(820, 420)
        self._backend = backend
        self.model = ModelTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(lambda _i: self._use())
        self.status = QLabel("Looking for models…")
        self.status.setWordWrap(True)
        how = QLabel(f"To add a bigger model, download one from the catalog (Model browser), put a .gguf file in "
                     f"{backend.paths.models_dir}, or run `baton models pull URL`. Models from Ollama, LM Studio, GPT4All, Jan and the Hugging Face "
                     "cache show up here without copying. Hover a fit to see the reason.")
        how.setWordWrap(True)
        how.setObjectName("totalsNote")
        self.resident = QLabel(resident_text(backend.resident_models()))
        self.resident.setObjectName("residentModels")
        self.resident.setWordWrap(True)
        self.use_button = QPushButton("Use for new answers")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._use)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.use_button, QDialogButtonBox.ButtonRole.ActionRole)
        browse = getattr(parent, "open_model_browser", None)  # ui/model_browser.py installs it on the window
        if browse is not None:
            self.browse_button = buttons.addButton("Model browser…", QDialogButtonBox.ButtonRole.ActionRole)
            self.browse_button.clicked.connect(lambda: (self.reject(), browse()))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.resident)
        layout.addWidget(self.table, 1)
        layout.addWidget(how)
        layout.addWidget(buttons)
        self.table.selectionModel().selectionChanged.connect(self._selection)
        self._call = Call(backend.models)
        registry.track_thread("model-discovery", self._call)
        self._call.succeeded.connect(self._loaded)
        self._call.failed.connect(lambda msg: self.status.setText(f"Could not list models: {msg}"))
        self._call.start()

    def _loaded(self, rows: Any) -> None:
        rows = list(rows)
        self.model.set_rows(rows)
        current = self._backend.settings.default_model
        self.status.setText(f"{len(rows)} models found. The current default is "
                            f"{self._backend.default_model_label()}.")
        for i, r in enumerate(rows):
            if current and current in (r.get("id"), r.get("path"), r.get("name")):
                self.table.selectRow(i)

    def _selection(self, *_args: Any) -> None:
        row = self._selected()
        fit = (row or {}).get("fit") or {}
        self.use_button.setEnabled(row is not None and fit.get("device") != "none")
        if row is not None and fit.get("device") == "none":
            self.status.setText(f"{row.get('name')} does not fit here: {fit.get('reason', '')}")

    def _selected(self) -> dict[str, Any] | None:
        idx = self.table.selectionModel().currentIndex()
        return self.model.row_dict(idx.row()) if idx.isValid() else None

    def _use(self) -> None:
        row = self._selected()
        if row is None or (row.get("fit") or {}).get("device") == "none":
            return
        self.modelChosen.emit(str(row.get("id") or row.get("path")))
        self.accept()

    def done(self, result: int) -> None:
        if self._call.isRunning():
            self._call.wait(10000)
        super().done(result)


def resident_text(resident: list[dict[str, Any]]) -> str:
    """One line on what is loaded now: each model with its RAM, slots and how long it has been idle."""
    if not resident:
        return "Loaded now: none (a model loads with the first question that needs it)."
    parts = []
    for r in resident:
        ram = f"{(r.get('ram_bytes') or 0) / 2**20:.0f} MB"
        state = "answering" if r.get("busy") else f"idle {float(r.get('idle_s') or 0):.0f} s"
        parts.append(f"{r.get('model_id', '?')} ({ram}, {r.get('slots', 1)} slots, {state})")
    return "Loaded now: " + "; ".join(parts) + ". An idle model is unloaded after engine.model_ttl_s."
