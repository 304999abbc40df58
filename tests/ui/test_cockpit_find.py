"""Find and take out: the sidebar's search (FTS5 over every thread) and jumping to the message, the palette's search,
exporting the current thread as Markdown and JSON with receipts, and the totals by day, week and month."""

from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import Qt

from tests.ui.conftest import wait_idle

SHOTS = Path("/tmp/shots")


def _thread(store, title: str, pairs: list[tuple[str, str]], usd: float = 0.0, tier: str = "local") -> str:
    t = store.create_thread(title)
    for q_text, a_text in pairs:
        q = store.add_message(t.id, "user", q_text)
        a = store.begin_answer(t.id, "m", tier, parent_id=q.id)
        store.finish_answer(a.id, a_text, "done", {"energy": {"total_j": 12.0}, "cost": {"usd": usd},
                                                   "route": {"tier": tier},
                                                   "usage": {"prompt_tokens": 100, "completion_tokens": 50}})
    return t.id


def test_search_finds_every_thread_and_jumps_to_the_message(qtbot, make_window):
    h = make_window()
    store = h.service.store
    long = _thread(store, "long one", [(f"question {i}", f"filler answer {i}") for i in range(30)]
                   + [("where is the flux capacitor", "under the seat of the DeLorean")])
    _thread(store, "other", [("nothing here", "still nothing")])
    old = _thread(store, "archived one", [("the flux of time", "archived answer")])
    store.archive_thread(old)
    w = h.window
    w.thread_actions.resync()
    sp = w.search_panel
    sp.box.setText("flux")
    qtbot.waitUntil(lambda: sp.results.isVisible() and sp.results.count() == 2, timeout=3000)
    assert not w.thread_view.isVisible()
    assert {hit.thread_id for hit in sp.hits} == {long, old}
    SHOTS.mkdir(parents=True, exist_ok=True)
    w.resize(1100, 700)
    w.sidebar.grab().save(str(SHOTS / "search_results.png"))
    row = next(i for i, hit in enumerate(sp.hits) if hit.thread_id == long)
    sp.results.itemActivated.emit(sp.results.item(row))
    assert w.session.current_id == long
    assert sp.found is not None and sp.found.message_id == sp.hits[row].message_id
    assert sp.found.property("found") == "1"
    # the message was beyond the first screenful: it is shown and scrolled into view
    bar = w.chat.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() < bar.maximum(), timeout=3000)
    # an archived thread's hit opens the Archived section
    row = next(i for i, hit in enumerate(sp.hits) if hit.thread_id == old)
    assert sp.open_hit(row) and w.thread_actions.show_archived and w.session.current_id == old
    sp.box.clear()
    sp.run()
    assert w.thread_view.isVisible() and not sp.results.isVisible()


def test_the_palette_searches_when_no_command_matches(qtbot, make_window):
    h = make_window()
    _thread(h.service.store, "t", [("zebra crossing", "black and white")])
    w = h.window
    w.thread_actions.resync()
    palette = w.open_palette()
    qtbot.keyClicks(palette.filter, "zebra")
    qtbot.keyClick(palette.filter, Qt.Key.Key_Return)
    assert w.search_panel.box.text() == "zebra" and len(w.search_panel.hits) == 1
    palette = w.open_palette()
    qtbot.keyClicks(palette.filter, "search all threads")
    assert palette.run_current()
    assert w.search_panel.box.hasFocus() or w.search_panel.box.selectedText() == "zebra"


def test_export_the_current_thread_as_markdown_and_json_with_receipts(qtbot, make_window, tmp_path):
    from baton.ui.cockpit import export_current

    h = make_window()
    w = h.window
    w.session.new_thread()
    w.session.send("What is 2+2?")
    wait_idle(qtbot, h)
    md = export_current(w, "md", tmp_path / "t.md")
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# What is 2+2?") and "*Receipt:" in text and "### You" in text
    doc = json.loads(export_current(w, "json", tmp_path / "t.json").read_text(encoding="utf-8"))
    assert doc["format"] == "baton.thread" and doc["thread"]["id"] == w.session.current_id
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant"]
    assert doc["messages"][1]["receipt"]["route"]["tier"] == "local"
    names = [a.text().replace("&", "") for a in w.actions_.all()]
    assert "Export thread as Markdown…" in names and "Export thread as JSON with receipts…" in names
    assert export_current(w, "md", tmp_path / "missing-dir" / "x.md") is None
    assert "Could not export" in w.statusBar().currentMessage()


def test_totals_by_day_week_and_month_with_the_all_cloud_figure(qtbot, make_window):
    from baton.ui.cockpit import open_totals

    h = make_window(with_endpoint=True)  # lan-big: $0.5 in, $1.5 out per million tokens
    store = h.service.store
    _thread(store, "local work", [("a", "b"), ("c", "d")])
    _thread(store, "cloud work", [("e", "f")], usd=0.01, tier="cloud")
    dlg = open_totals(h.window)
    today = dlg.rows[0]
    assert today.label == time.strftime("%Y-%m-%d") and len(dlg.rows) == 14
    assert (today.answers, today.local, today.cloud, today.energy_j) == (3, 2, 1, 36.0)
    expected = 0.01 + (200 * 0.5 + 100 * 1.5) / 1e6
    assert abs(today.all_cloud_usd - expected) < 1e-12
    assert dlg.table.item(0, 1).text() == "3 (2 local, 1 cloud)"
    assert "lan-big" in dlg.note.text()
    dlg.period.setCurrentIndex(2)
    assert dlg.rows[0].label == time.strftime("%Y-%m") and dlg.rows[0].answers == 3 and len(dlg.rows) == 12
    dlg.period.setCurrentIndex(1)
    assert dlg.rows[0].label.startswith("week of ") and dlg.rows[0].answers == 3
    SHOTS.mkdir(parents=True, exist_ok=True)
    dlg.grab().save(str(SHOTS / "totals.png"))
    dlg.reject()
