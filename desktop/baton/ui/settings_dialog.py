"""Settings: routing mode and budgets, endpoints with keys (OS keyring), engine, CPU TDP.

Edits a copy of the settings; OK validates it, saves the TOML file and copies it into the live
settings the service uses. Keys go to the OS keyring only, never into the file.
"""

from __future__ import annotations

import copy

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QPushButton, QSpinBox,
                               QTabWidget, QVBoxLayout, QWidget)

from baton.config import ROUTING_MODES, Endpoint, Settings
from baton.core.errors import BatonError
from baton.ui.backend import Backend
from baton.ui.ladder_field import VERIFY_CHOICES, LadderField

MODE_HELP = {
    "auto": "Local first; escalate on its own when the local answer looks weak",
    "ask": "Local first; before anything leaves, show what would be sent and ask",
    "never": "Never escalate on its own (Escalate and Retry still work)",
    "offline": "Nothing leaves this computer: no socket to a non-loopback address",
}


def _spin(lo: float, hi: float, decimals: int = 2, step: float = 1.0, suffix: str = "") -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    if suffix:
        s.setSuffix(suffix)
    return s


def _ispin(lo: int, hi: int, step: int = 1, suffix: str = "") -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    if suffix:
        s.setSuffix(suffix)
    return s


class SettingsDialog(QDialog):
    def __init__(self, backend: Backend, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.resize(680, 520)
        self._backend = backend
        self.work: Settings = copy.deepcopy(backend.settings)
        self.pending_keys: dict[str, str] = {}
        self._current_ep = -1

        self.tabs = QTabWidget()
        self.tabs.addTab(self._routing_tab(), "Routing")
        self.tabs.addTab(self._endpoints_tab(), "Endpoints")
        self.tabs.addTab(self._engine_tab(), "Engine")
        self.tabs.addTab(self._energy_tab(), "Energy")
        self.error = QLabel("")
        self.error.setObjectName("warning")
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self._load()
        from baton.ui.endpoint_tools import EndpointTools

        self.endpoint_tools = EndpointTools(self, parent)  # Test, and the list kept in step with the live settings

    # ---- tabs ----------------------------------------------------------------------------------
    def _routing_tab(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        self.mode = QComboBox()
        for m in ROUTING_MODES:
            self.mode.addItem(m, m)
        self.mode_help = QLabel("")
        self.mode_help.setWordWrap(True)
        self.mode.currentIndexChanged.connect(lambda _i: self.mode_help.setText(MODE_HELP.get(self.mode.currentData(),
                                                                                             "")))
        self.budget_usd = _spin(0, 10000, 2, 0.5, " $/day")
        self.budget_wh = _spin(0, 100000, 1, 10, " Wh/day")
        self.budget_wh.setSpecialValueText("no limit")
        self.privacy = QComboBox()
        self.privacy.addItem("Refuse to send secrets", "refuse")
        self.privacy.addItem("Redact secrets, then send", "redact")
        self.offline = QCheckBox("Offline: never open a connection off this machine")
        form.addRow("Routing mode:", self.mode)
        form.addRow("", self.mode_help)
        form.addRow("Cloud budget:", self.budget_usd)
        form.addRow("Local energy budget:", self.budget_wh)
        form.addRow("Secrets in prompts:", self.privacy)
        form.addRow("", self.offline)
        self.ladder = LadderField()  # routing.ladder: tiers cheapest first, climbed one step at a time
        self.verify_mode = QComboBox()
        for label, mode in VERIFY_CHOICES:
            self.verify_mode.addItem(label, mode)
        form.addRow("Ladder:", self.ladder)
        form.addRow("Check code answers:", self.verify_mode)
        return w

    def _endpoints_tab(self) -> QWidget:
        w = QWidget()
        self.ep_list = QListWidget()
        self.ep_list.setObjectName("endpointList")
        self.ep_list.currentRowChanged.connect(self._select_endpoint)
        add = QPushButton("Add endpoint")
        add.clicked.connect(self.add_endpoint)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_endpoint)
        left = QVBoxLayout()
        left.addWidget(self.ep_list, 1)
        left.addWidget(add)
        left.addWidget(self.remove_button)
        self.ep_form = QWidget()
        form = QFormLayout(self.ep_form)
        self.ep_name = QLineEdit()
        self.ep_name.textChanged.connect(self._rename_item)
        self.ep_url = QLineEdit()
        self.ep_url.setPlaceholderText("https://api.example.com/v1 or http://192.168.1.20:8080/v1")
        self.ep_model = QLineEdit()
        self.ep_key_env = QLineEdit()
        self.ep_key_env.setPlaceholderText("e.g. OPENAI_API_KEY (optional)")
        self.ep_key = QLineEdit()
        self.ep_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.ep_key.setPlaceholderText("paste to store in the OS keyring")
        self.ep_key_state = QLabel("")
        self.ep_in = _spin(0, 1000, 3, 0.1, " $/Mtok")
        self.ep_out = _spin(0, 1000, 3, 0.1, " $/Mtok")
        self.ep_j = _spin(0, 1000, 3, 0.1, " J/token")
        self.ep_ctx = _ispin(256, 2_000_000, 1024, " tokens")
        self.ep_timeout = _spin(1, 3600, 0, 5, " s")
        for label, field in (("Name:", self.ep_name), ("Base URL:", self.ep_url), ("Model:", self.ep_model),
                             ("API key:", self.ep_key), ("", self.ep_key_state), ("Key env var:", self.ep_key_env),
                             ("Price in:", self.ep_in), ("Price out:", self.ep_out), ("Energy estimate:", self.ep_j),
                             ("Context window:", self.ep_ctx), ("Timeout:", self.ep_timeout)):
            form.addRow(label, field)
        self.ep_empty = QLabel("No endpoints yet. Add one to let Baton escalate: a cloud API, or a bigger model "
                               "on a server in your network (llama.cpp, vLLM, Ollama).")
        self.ep_empty.setWordWrap(True)
        right = QVBoxLayout()
        right.addWidget(self.ep_empty)
        right.addWidget(self.ep_form)
        right.addStretch(1)
        row = QHBoxLayout(w)
        row.addLayout(left, 1)
        row.addLayout(right, 2)
        return w

    def _engine_tab(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        self.default_model = QLineEdit()
        self.default_model.setPlaceholderText("empty = the built-in SmolLM2-135M")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_model)
        row = QHBoxLayout()
        row.addWidget(self.default_model, 1)
        row.addWidget(browse)
        self.n_ctx = _ispin(256, 1_048_576, 512, " tokens")
        self.max_tokens = _ispin(1, 131072, 64, " tokens")
        self.temperature = _spin(0, 2, 2, 0.05)
        self.n_threads = _ispin(0, 512)
        self.n_threads.setSpecialValueText("physical cores")
        form.addRow("Default model:", row)
        form.addRow("Context:", self.n_ctx)
        form.addRow("Answer length:", self.max_tokens)
        form.addRow("Temperature:", self.temperature)
        form.addRow("CPU threads:", self.n_threads)
        return w

    def _energy_tab(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        self.tdp = _spin(0, 1000, 0, 5, " W")
        self.tdp.setSpecialValueText("guess from the CPU")
        self.sample_hz = _spin(0.5, 20, 1, 0.5, " Hz")
        note = QLabel("Without a hardware counter, CPU energy is estimated as TDP × (0.1 + 0.9 × load³) and "
                      "labelled 'estimated' on every receipt.")
        note.setWordWrap(True)
        form.addRow("CPU TDP:", self.tdp)
        form.addRow("Power sampling:", self.sample_hz)
        form.addRow("", note)
        return w

    # ---- load / store -----------------------------------------------------------------------------
    def _load(self) -> None:
        s = self.work
        self.mode.setCurrentIndex(max(0, self.mode.findData(s.routing.mode)))
        self.mode_help.setText(MODE_HELP.get(s.routing.mode, ""))
        self.budget_usd.setValue(s.routing.budget_usd_per_day)
        self.budget_wh.setValue(s.routing.budget_wh_per_day)
        self.privacy.setCurrentIndex(max(0, self.privacy.findData(s.routing.privacy)))
        self.offline.setChecked(s.offline)
        self.ladder.set_choices(self._ladder_choices())
        self.ladder.set_tiers(s.routing.ladder)
        self.verify_mode.setCurrentIndex(max(0, self.verify_mode.findData(s.verify.mode)))
        self.default_model.setText(s.default_model)
        self.n_ctx.setValue(s.engine.n_ctx)
        self.max_tokens.setValue(s.engine.max_tokens)
        self.temperature.setValue(s.engine.temperature)
        self.n_threads.setValue(s.engine.n_threads)
        self.tdp.setValue(s.telemetry.cpu_tdp_w)
        self.sample_hz.setValue(s.telemetry.sample_hz)
        self.ep_list.clear()
        for ep in s.endpoints:
            self.ep_list.addItem(ep.name)
        self._current_ep = -1
        self.ep_list.setCurrentRow(0 if s.endpoints else -1)
        self._sync_endpoint_visibility()

    def _ladder_choices(self) -> list[tuple[str, str]]:
        try:
            models = [str(m.get("id")) for m in self._backend.models() if m.get("id")]
        except BatonError:
            models = []
        return [(f"{m} (this computer)", m) for m in models] + [(f"{e.name} (endpoint)", e.name)
                                                             for e in self.work.endpoints]

    def _sync_endpoint_visibility(self) -> None:
        has = bool(self.work.endpoints)
        self.ep_form.setVisible(has)
        self.ep_empty.setVisible(not has)
        self.remove_button.setEnabled(has)

    def _select_endpoint(self, row: int) -> None:
        self._commit_endpoint()
        self._current_ep = row
        if not 0 <= row < len(self.work.endpoints):
            return
        ep = self.work.endpoints[row]
        self.ep_name.setText(ep.name)
        self.ep_url.setText(ep.base_url)
        self.ep_model.setText(ep.model)
        self.ep_key_env.setText(ep.key_env)
        self.ep_key.setText(self.pending_keys.get(ep.name, ""))
        where = self._backend.key_source(ep.name, ep.key_env)
        self.ep_key_state.setText("A key is stored in the OS keyring." if where == "keyring" else
                                  f"The key comes from ${ep.key_env}." if where.startswith("env:") else
                                  "No key stored yet.")
        self.ep_in.setValue(ep.usd_per_mtok_in)
        self.ep_out.setValue(ep.usd_per_mtok_out)
        self.ep_j.setValue(ep.j_per_token)
        self.ep_ctx.setValue(ep.context_window)
        self.ep_timeout.setValue(ep.timeout_s)

    def _commit_endpoint(self) -> None:
        i = self._current_ep
        if not 0 <= i < len(self.work.endpoints):
            return
        old = self.work.endpoints[i]
        name = self.ep_name.text().strip() or old.name
        key = self.ep_key.text().strip()
        self.pending_keys.pop(old.name, None)
        if key:
            self.pending_keys[name] = key
        self.work.endpoints[i] = Endpoint(
            name=name, base_url=self.ep_url.text().strip(), model=self.ep_model.text().strip(),
            key_env=self.ep_key_env.text().strip(), usd_per_mtok_in=self.ep_in.value(),
            usd_per_mtok_out=self.ep_out.value(), j_per_token=self.ep_j.value(),
            context_window=self.ep_ctx.value(), timeout_s=self.ep_timeout.value())
        item = self.ep_list.item(i)
        if item is not None:
            item.setText(name)

    def _rename_item(self, text: str) -> None:
        item = self.ep_list.item(self._current_ep)
        if item is not None and text.strip():
            item.setText(text.strip())

    def add_endpoint(self) -> None:
        self._commit_endpoint()
        names = {e.name for e in self.work.endpoints}
        n = 1
        while f"endpoint{n}" in names:
            n += 1
        self.work.endpoints.append(Endpoint(name=f"endpoint{n}", base_url="", model=""))
        self.ep_list.addItem(f"endpoint{n}")
        self._sync_endpoint_visibility()
        self.ep_list.setCurrentRow(len(self.work.endpoints) - 1)
        self.ep_name.setFocus()

    def remove_endpoint(self) -> None:
        i = self.ep_list.currentRow()
        if not 0 <= i < len(self.work.endpoints):
            return
        self._current_ep = -1
        removed = self.work.endpoints.pop(i)
        self.pending_keys.pop(removed.name, None)
        self.ep_list.takeItem(i)
        self._sync_endpoint_visibility()

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", str(self._backend.paths.models_dir),
                                              "GGUF models (*.gguf)")
        if path:
            self.default_model.setText(path)

    def collect(self) -> Settings:
        """The edited settings (also used by tests)."""
        self._commit_endpoint()
        s = self.work
        s.routing.mode = str(self.mode.currentData())
        s.routing.budget_usd_per_day = self.budget_usd.value()
        s.routing.budget_wh_per_day = self.budget_wh.value()
        s.routing.privacy = str(self.privacy.currentData())
        s.offline = self.offline.isChecked()
        s.routing.ladder = self.ladder.tiers()
        s.verify.mode = str(self.verify_mode.currentData())
        s.default_model = self.default_model.text().strip()
        s.engine.n_ctx = self.n_ctx.value()
        s.engine.max_tokens = self.max_tokens.value()
        s.engine.temperature = self.temperature.value()
        s.engine.n_threads = self.n_threads.value()
        s.telemetry.cpu_tdp_w = self.tdp.value()
        s.telemetry.sample_hz = self.sample_hz.value()
        return s

    def save(self) -> None:
        s = self.collect()
        problems = [f"endpoint '{e.name}' needs a base URL and a model" for e in s.endpoints
                    if not e.base_url or not e.model]
        if len({e.name for e in s.endpoints}) != len(s.endpoints):
            problems.append("two endpoints have the same name; names must be unique")
        if problems:
            self.error.setText("; ".join(problems))
            return
        try:
            self._backend.save_settings(copy.deepcopy(s))
            for name, key in self.pending_keys.items():
                self._backend.set_api_key(name, key)
        except BatonError as e:
            self.error.setText(str(e))
            return
        self.accept()
