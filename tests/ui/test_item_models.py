"""Every Qt item model of the app passes qtmodeltester, empty, filled and after changes."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QAction

from baton.ui.models import SHORTCUT_ROLE, ActionListModel, ModelTableModel, QueueModel, QueueRow, ThreadListModel, ThreadRow

MODEL_ROW = {"id": "m", "path": "/m.gguf", "origin": "baton", "name": "m", "arch": "llama", "params": 135_000_000,
             "quant": "Q4_1", "size_bytes": 98_362_432, "context_length": 8192, "chat_template": True,
             "fit": {"device": "split", "n_gpu_layers": 12, "ram_bytes": 1, "vram_bytes": 1, "reason": "half fits"}}


def test_thread_list_model(qtmodeltester):
    model = ThreadListModel()
    qtmodeltester.check(model)
    model.set_rows([ThreadRow("a", "Alpha", energy_j=12.5, usd=0.002), ThreadRow("b", "", state="generating")])
    model.insert_first(ThreadRow("c", "Charlie", state="queued", detail="1 ahead"))
    model.update("b", unread=True, state="escalated")
    qtmodeltester.check(model)
    assert [r.id for r in model.rows()] == ["c", "a", "b"]
    assert model.index(2, 0).data().startswith("New thread\nnew answer · escalated")
    assert model.index(1, 0).data() == "Alpha\nidle · 12.5 J · $0.0020"
    assert model.index(2, 0).data(Qt.ItemDataRole.FontRole).bold()
    model.remove("a")
    qtmodeltester.check(model)
    assert model.rowCount() == 2


def test_queue_model(qtmodeltester):
    """The slots view: what generates now, with its live speed and where, then what waits, numbered."""
    model = QueueModel()
    qtmodeltester.check(model)
    model.set_rows([QueueRow(1, "Alpha", "a long question " * 5, True, 12.34),
                    QueueRow(5, "Echo", "remote one", True, 40.0, "lan-big"),
                    QueueRow(2, "Bravo", "short", False), QueueRow(3, "Charlie", "next", False)])
    qtmodeltester.check(model)
    first = model.index(0, 0).data()
    assert first.startswith("▶ Alpha · 12.3 tok/s") and first.endswith("…")
    assert model.index(1, 0).data().startswith("▶ Echo · 40.0 tok/s · on lan-big")
    assert model.index(2, 0).data() == "1. Bravo · waits\n   short"
    assert model.index(3, 0).data() == "2. Charlie · waits\n   next"
    # a new figure for the same jobs updates in place (no reset: the selection survives)
    resets = []
    model.modelReset.connect(lambda: resets.append(1))
    model.set_rows([QueueRow(1, "Alpha", "q", True, 20.0), QueueRow(5, "Echo", "r", True, 0.0, "lan-big", True),
                    QueueRow(2, "Bravo", "short", False), QueueRow(3, "Charlie", "next", False)])
    assert not resets and "20.0 tok/s" in model.index(0, 0).data()
    assert "stopping…" in model.index(1, 0).data()


def test_model_table_model(qtmodeltester):
    model = ModelTableModel()
    qtmodeltester.check(model)
    model.set_rows([MODEL_ROW, {**MODEL_ROW, "id": "n", "params": None, "fit": {"device": "gpu"}}])
    qtmodeltester.check(model)
    assert model.index(0, 6).data() == "split (12 layers on GPU)"
    assert model.index(0, 2).data() == "93.8 MB"
    assert model.index(1, 4).data() == "?"
    assert model.headerData(6, Qt.Orientation.Horizontal) == "Fit"


def test_action_list_model_and_its_filter(qtmodeltester, qapp):
    acts = [QAction("&New thread"), QAction("Escalate this answer"), QAction("")]
    acts[0].setShortcut("Ctrl+N")
    acts[1].setEnabled(False)
    model = ActionListModel(acts)
    qtmodeltester.check(model)
    assert model.rowCount() == 2  # actions without text are left out
    assert model.index(0, 0).data() == "New thread"
    assert model.index(0, 0).data(SHORTCUT_ROLE) == "Ctrl+N"
    assert not model.flags(model.index(1, 0)) & Qt.ItemFlag.ItemIsEnabled
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setFilterRole(Qt.ItemDataRole.UserRole)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setFilterFixedString("escal")
    qtmodeltester.check(proxy)
    assert proxy.rowCount() == 1


def test_models_of_a_live_window(qtmodeltester, qtbot, make_window):
    from tests.ui.conftest import wait_idle

    h = make_window()
    w = h.window
    w.session.send("hello", "auto")
    w.session.new_thread()
    wait_idle(qtbot, h)
    qtmodeltester.check(w.thread_model)
    qtmodeltester.check(w.queue_model)


def test_receipt_summary_says_estimated_counts_and_dropped_turns():
    from baton.ui.format import receipt_summary

    plain = {"energy": {"total_j": 1.0}, "usage": {"completion_tokens": 5}, "timing": {}, "cost": {"usd": 0}}
    assert "tok (estimated)" not in receipt_summary(plain) and "left out" not in receipt_summary(plain)
    odd = {**plain, "usage": {"completion_tokens": 112, "estimated": True}, "context": {"dropped_turns": 3}}
    line = receipt_summary(odd)
    assert "112 tok (estimated)" in line and "3 earlier turns left out to fit" in line


def test_durations_in_hours_read_as_people_say_them():
    from baton.ui.format import fmt_hours

    assert fmt_hours(0.5) == "30 min"
    assert fmt_hours(5.25) == "5.2 h" or fmt_hours(5.25) == "5.3 h"
    assert fmt_hours(76.0) == "3 days"
    assert fmt_hours(24480.3) == "about 3 years"
