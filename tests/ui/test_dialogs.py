"""Settings round trip (file, live settings, keyring), the command palette, the model picker."""

from __future__ import annotations

import tomllib

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from baton.config import Settings
from baton.ui.models import SHORTCUT_ROLE
from baton.ui.palette import CommandPalette
from baton.ui.settings_dialog import SettingsDialog
from tests.ui.conftest import activate, wait_idle


def test_settings_dialog_round_trip(qtbot, make_window, memory_keyring):
    h = make_window()
    w = h.window
    dlg = w.open_settings()
    assert isinstance(dlg, SettingsDialog)
    assert dlg.ep_form.isHidden() and not dlg.ep_empty.isHidden()
    dlg.mode.setCurrentIndex(dlg.mode.findData("ask"))
    assert "ask" in dlg.mode_help.text().lower()
    dlg.budget_usd.setValue(2.5)
    dlg.budget_wh.setValue(120)
    dlg.privacy.setCurrentIndex(dlg.privacy.findData("redact"))
    dlg.tdp.setValue(45)
    dlg.max_tokens.setValue(256)
    dlg.add_endpoint()
    dlg.ep_name.setText("lan-qwen")
    dlg.ep_url.setText("http://192.168.1.20:8080/v1")
    dlg.ep_model.setText("qwen2.5-coder-0.5b")
    dlg.ep_key.setText("sk-test-123")
    dlg.ep_in.setValue(0.15)
    dlg.ep_out.setValue(0.6)
    dlg.ep_j.setValue(0.25)
    qtbot.mouseClick(dlg.buttons.button(dlg.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dlg.result() == dlg.DialogCode.Accepted

    # On disk: human-readable TOML with everything but the key.
    raw_text = h.paths.config_file.read_text()
    assert "sk-test-123" not in raw_text
    raw = tomllib.loads(raw_text)
    assert raw["routing"]["mode"] == "ask"
    assert raw["routing"]["budget_usd_per_day"] == 2.5
    assert raw["routing"]["privacy"] == "redact"
    assert raw["telemetry"]["cpu_tdp_w"] == 45
    assert raw["endpoints"][0]["name"] == "lan-qwen" and raw["endpoints"][0]["usd_per_mtok_out"] == 0.6
    # The key went to the OS keyring.
    assert memory_keyring.get_password("baton", "lan-qwen") == "sk-test-123"
    # Live: the service sees the change (same settings object), and so does the window.
    assert h.service.settings is h.settings
    assert h.settings.routing.mode == "ask" and h.settings.engine.max_tokens == 256
    assert [e.name for e in h.settings.endpoints] == ["lan-qwen"]
    assert "1 endpoint" in w.model_status.text() and "routing ask" in w.model_status.text()
    assert w.actions_.escalate.isEnabled()
    # Reloaded from the file, and shown again by a new dialog.
    again = Settings.load(h.paths.config_file)
    assert again.telemetry.cpu_tdp_w == 45 and again.endpoints[0].base_url == "http://192.168.1.20:8080/v1"
    dlg2 = w.open_settings()
    assert dlg2.mode.currentData() == "ask"
    assert dlg2.tdp.value() == 45 and dlg2.budget_wh.value() == 120
    assert dlg2.ep_list.count() == 1 and dlg2.ep_name.text() == "lan-qwen"
    assert dlg2.ep_key.text() == ""  # a stored key is never shown back
    assert "keyring" in dlg2.ep_key_state.text()
    dlg2.reject()


def test_an_endpoint_added_in_settings_is_used_at_once(qtbot, make_window):
    from baton.core.engine.fake import FakeEngine

    local = FakeEngine("fake-local")
    local.enqueue("a local answer")
    cloud = FakeEngine("big-model")
    cloud.enqueue("a better answer")
    h = make_window(engine=local, cloud=cloud)
    w = h.window
    w.session.send("tell me about tides", "auto")
    wait_idle(qtbot, h)
    assert not w.actions_.escalate.isEnabled()
    dlg = w.open_settings()
    dlg.add_endpoint()
    dlg.ep_name.setText("loop")
    dlg.ep_url.setText("http://127.0.0.1:9/v1")
    dlg.ep_model.setText("big-model")
    dlg.save()
    assert w.actions_.escalate.isEnabled()
    w.actions_.escalate.trigger()
    wait_idle(qtbot, h)
    assert len(cloud.requests) == 1
    assert w.chat.receipt_bars()[-1].badge.text().startswith("this computer · big-model")  # a loopback endpoint


def test_settings_dialog_refuses_an_incomplete_endpoint(qtbot, make_window):
    h = make_window()
    dlg = h.window.open_settings()
    dlg.add_endpoint()
    dlg.ep_url.setText("")
    dlg.save()
    assert dlg.isVisible()
    assert "needs a base URL and a model" in dlg.error.text()
    assert not h.paths.config_file.exists()
    dlg.reject()


def test_settings_dialog_without_a_keyring_points_to_the_env_var(qtbot, make_window):
    import keyring
    from keyring.backends.fail import Keyring as FailKeyring

    h = make_window()
    keyring.set_keyring(FailKeyring())
    dlg = h.window.open_settings()
    dlg.add_endpoint()
    dlg.ep_url.setText("http://10.0.0.2:8000/v1")
    dlg.ep_model.setText("m")
    dlg.ep_key.setText("secret")
    dlg.save()
    assert "environment variable" in dlg.error.text()
    assert "secret" not in h.paths.config_file.read_text()
    dlg.reject()


def test_command_palette_filters_and_runs_an_action(qtbot, make_window):
    h = make_window()
    w = h.window
    activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    palette = next(d for d in QApplication.topLevelWidgets() if isinstance(d, CommandPalette) and d.isVisible())
    assert palette.proxy.rowCount() >= 20  # every action, each with its shortcut
    box = palette.filter  # the hint is read whole, not cut off at the box's edge
    assert box.fontMetrics().horizontalAdvance(box.placeholderText()) < box.contentsRect().width() - 8
    shown = {palette.proxy.index(r, 0).data(): palette.proxy.index(r, 0).data(SHORTCUT_ROLE)
             for r in range(palette.proxy.rowCount())}
    assert shown["New thread"] == "Ctrl+N"
    assert shown["Escalate this answer"] == "Ctrl+E"
    assert shown["Stop answer"] == "Esc"
    qtbot.keyClicks(palette.filter, "new thr")
    assert palette.proxy.rowCount() == 1
    qtbot.keyClick(palette.filter, Qt.Key.Key_Return)
    assert not palette.isVisible()
    assert w.thread_model.rowCount() == 1


def test_model_picker_lists_models_with_their_fit(qtbot, make_window):
    h = make_window()
    w = h.window
    rows = [{"id": "small", "path": "/m/small.gguf", "origin": "baton", "name": "small", "arch": "llama",
             "params": 135_000_000, "quant": "Q4_1", "size_bytes": 98_000_000, "context_length": 8192,
             "chat_template": True,
             "fit": {"device": "cpu", "n_gpu_layers": 0, "ram_bytes": 1, "vram_bytes": 0, "reason": "no GPU"}},
            {"id": "huge", "path": "/m/huge.gguf", "origin": "ollama", "name": "huge", "arch": "llama",
             "params": 70_000_000_000, "quant": "Q4_K_M", "size_bytes": 40_000_000_000, "context_length": 8192,
             "chat_template": True,
             "fit": {"device": "none", "n_gpu_layers": 0, "ram_bytes": 1, "vram_bytes": 0,
                     "reason": "needs 42 GB RAM, 8 GB free"}}]
    h.service.models = lambda: [type("Entry", (), {"to_dict": lambda self, r=r: r})() for r in rows]
    dlg = w.open_models()
    qtbot.waitUntil(lambda: dlg.model.rowCount() == 2, timeout=5000)
    assert dlg.model.index(0, 6).data() == "CPU"
    assert dlg.model.index(1, 6).data() == "does not fit"
    assert dlg.model.index(1, 6).data(Qt.ItemDataRole.ToolTipRole) == "needs 42 GB RAM, 8 GB free"
    assert dlg.model.index(0, 4).data() == "135M"
    dlg.table.selectRow(1)
    assert not dlg.use_button.isEnabled()
    assert "does not fit" in dlg.status.text()
    dlg.table.selectRow(0)
    assert dlg.use_button.isEnabled()
    qtbot.mouseClick(dlg.use_button, Qt.MouseButton.LeftButton)
    assert h.settings.default_model == "small"
    assert "small" in w.composer.model_button.text()


def test_models_dialog_says_what_is_loaded_now():
    from baton.ui.models_dialog import resident_text

    assert "none" in resident_text([])
    line = resident_text([{"model_id": "smol", "ram_bytes": 100 * 2**20, "slots": 4, "busy": False, "idle_s": 12},
                          {"model_id": "qwen", "ram_bytes": 500 * 2**20, "slots": 4, "busy": True}])
    assert "smol (100 MB, 4 slots, idle 12 s)" in line and "qwen (500 MB, 4 slots, answering)" in line
