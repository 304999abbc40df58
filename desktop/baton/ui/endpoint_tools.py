"""What Settings → Endpoints adds beyond editing: "Test" (a real request to the endpoint's ``/models``, off the
GUI thread, with the key typed in the dialog or the stored one), and the list kept in step with the live settings
(an endpoint removed or added elsewhere, by `baton endpoints` or another window, shows at once)."""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QPushButton, QWidget

from baton.ui.registry import Registry
from baton.ui.workers import Call


class EndpointTools(QObject):
    """Attached to a SettingsDialog (``dialog``, its Qt parent: the connections end with it); ``window`` is its
    MainWindow (or None)."""

    def __init__(self, dialog: Any, window: Any = None) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self.test_button = QPushButton("Test")
        self.test_button.setObjectName("testEndpoint")
        self.test_button.setToolTip("Ask the endpoint which models it serves (GET /models) with this key")
        self.test_button.clicked.connect(self.test)
        self.result = QLabel("")
        self.result.setObjectName("endpointTest")
        self.result.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.test_button)
        row.addWidget(self.result, 1)
        holder = QWidget()
        holder.setLayout(row)
        form = dialog.ep_form.layout()
        if isinstance(form, QFormLayout):
            form.addRow("", holder)
        dialog.ep_list.currentRowChanged.connect(lambda _r: self.result.setText(""))
        self._call: Call | None = None
        changed = getattr(window, "settingsChanged", None)
        if changed is not None:
            changed.connect(self.live_settings_changed)
        dialog.finished.connect(lambda _r: self._wait())

    def test(self) -> bool:
        """Start a test of the selected endpoint as edited now. Returns False when one is running or none is picked."""
        d = self.dialog
        if self._call is not None:
            return False
        d._commit_endpoint()  # noqa: SLF001 - the fields as typed
        i = d.ep_list.currentRow()
        if not 0 <= i < len(d.work.endpoints):
            return False
        ep = d.work.endpoints[i]
        key = d.pending_keys.get(ep.name)
        backend = d._backend  # noqa: SLF001
        self._call = Call(lambda: backend.test_endpoint(ep, key))
        Registry.of().track_thread("endpoint-test", self._call)
        self._call.succeeded.connect(lambda text: self.result.setText(str(text)))
        self._call.failed.connect(lambda msg: self.result.setText(f"Failed: {msg}"))
        self._call.finished.connect(self._done)
        self.result.setText(f"Testing {ep.base_url}…")
        self.test_button.setEnabled(False)
        self._call.start()
        return True

    def _done(self) -> None:
        self._call = None
        self.test_button.setEnabled(True)

    def _wait(self) -> None:
        if self._call is not None:
            self._call.wait(30000)

    def live_settings_changed(self) -> None:
        """The live endpoints changed: show them (the selection stays on the same name when it still exists)."""
        d = self.dialog
        d._commit_endpoint()  # noqa: SLF001
        i = d.ep_list.currentRow()
        name = d.work.endpoints[i].name if 0 <= i < len(d.work.endpoints) else None
        d.work.endpoints = copy.deepcopy(list(d._backend.settings.endpoints))  # noqa: SLF001
        d._current_ep = -1  # noqa: SLF001
        d.ep_list.blockSignals(True)
        d.ep_list.clear()
        for ep in d.work.endpoints:
            d.ep_list.addItem(ep.name)
        d.ep_list.blockSignals(False)
        names = [e.name for e in d.work.endpoints]
        d.ep_list.setCurrentRow(names.index(name) if name in names else (0 if names else -1))
        d._sync_endpoint_visibility()  # noqa: SLF001
