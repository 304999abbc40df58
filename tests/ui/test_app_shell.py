"""`baton gui` without a display, markdown rendering, the look (light/dark, icon), the power panel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QPalette

from baton.commands.gui import display_problem
from baton.ui.render import Renderer
from tests.ui.conftest import wait_idle

REPO = Path(__file__).resolve().parents[2]


def test_display_problem_only_on_linux_without_any_display():
    assert display_problem({}, "linux") is not None
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "darwin") is None


def test_baton_gui_without_a_display_exits_1_and_names_the_alternatives(baton_home):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    for argv in (["gui"], []):
        proc = subprocess.run([sys.executable, "-m", "baton", *argv], env=env, capture_output=True, text=True,
                              timeout=120, cwd=REPO)
        assert proc.returncode == 1, proc.stderr
        assert "baton ask" in proc.stderr and "QT_QPA_PLATFORM=offscreen" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_the_installed_qt_binding_does_not_leak_none():
    from baton.ui.app import binding_is_sound

    assert binding_is_sound(), "this PySide6 build drops references to None; install PySide6-Essentials<6.12"


def test_markdown_is_rendered_and_model_html_is_shown_as_text():
    r = Renderer(dark=False)
    html = r.to_html("**hi** <script>alert(1)</script>\n\n```python\nx = 1\n```", key="m1")
    assert "<strong>hi</strong>" in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "white-space: pre-wrap" in html and "<span style=" in html
    light = html
    r.set_dark(True)
    assert r.to_html("**hi** <script>alert(1)</script>\n\n```python\nx = 1\n```", key="m1") != light


def test_theme_follows_the_forced_scheme_and_loads_its_stylesheet(qapp, monkeypatch):
    from baton.ui.theme import Theme, app_icon, assets_dir

    assets = assets_dir()
    assert assets is not None and (assets / "styles" / "dark.qss").exists()
    dark = Theme(qapp, assets, forced="dark")
    dark.apply()
    assert dark.dark
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 80
    assert "#1c1d21" in qapp.styleSheet()
    light = Theme(qapp, assets, forced="light")
    light.apply()
    assert not light.dark
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() > 200
    assert "#f6f7f9" in qapp.styleSheet()
    assert not app_icon(assets).isNull()
    assert app_icon(assets).availableSizes()


def test_power_panel_shows_today_and_the_memory_curve(qtbot, make_window):
    from baton.core.engine.fake import FakeEngine

    engine = FakeEngine("fake-local", token_delay_s=0.01)
    engine.enqueue(["tok "] * 30)
    h = make_window(engine=engine)
    w = h.window
    w.session.send("hello", "auto")
    wait_idle(qtbot, h)
    assert w._power is None  # not built  until first shown
    w.actions_.toggle_power.trigger()
    assert w.power_dock.isVisible() and w.actions_.toggle_power.isChecked()
    w.power.tick()
    assert w.power.local_value.text().endswith("Wh")
    assert "estimated" in w.power.local_note.text() or "measured" in w.power.local_note.text()
    assert w.power.cloud_value.text() == "$0"
    assert "1 answer today" in w.power.cloud_note.text()
    assert "add a cloud endpoint" in w.power.saved_note.text()

    def plotted(key: str) -> int:
        w.power.tick()
        return len(w.power.points(key)[0])

    # The meter's sampler (a real core thread) feeds the curves: RAM, and watts per scope with the source.
    qtbot.waitUntil(lambda: plotted("rss") >= 2, timeout=5000)
    # Tokens per second come from the loaded model's own counter (any caller), sampled once a tick.
    assert max(w.power.points("tok")[1], default=0.0) == 0.0  # nothing generated while the panel was open
    engine.enqueue(["tok "] * 40)
    w.session.send("again", "auto")
    for _ in range(6):
        qtbot.wait(120)
        w.power.tick()
    wait_idle(qtbot, h)
    w.power.tick()
    assert max(w.power.points("tok")[1]) > 0  # the answer's speed
    assert w.power.points("tok")[1][-1] == 0.0  # idle again: back to zero, not a ramp
    scopes = [k for k in w.power._curves if k.startswith("w:")]
    assert scopes, "no power curve"
    legend = w.power.power_plot.legend()
    assert any("(estimated)" in t or "(hw_counter)" in t for t in legend), legend
    w.actions_.toggle_power.trigger()
    assert not w.power_dock.isVisible()
    assert not w.power._timer.isActive()  # no timer runs while the panel is hidden


def test_power_panel_prices_the_savings_against_an_endpoint(qtbot, make_window):
    h = make_window(with_endpoint=True)
    w = h.window
    w.session.send("hello there friend", "local")
    wait_idle(qtbot, h)
    w.power.refresh_totals()
    assert w.power.saved_value.text().startswith("≈ $")
    assert "estimate" in w.power.saved_note.text() and "lan-big" in w.power.saved_note.text()


def test_the_power_panel_comes_back_open_after_a_restart(qtbot, make_window):
    first = make_window().window
    first.actions_.toggle_power.trigger()
    assert first.power_dock.isVisible()
    first.close()  # saves the window's place and what was open
    again = make_window().window
    qtbot.waitUntil(again.power_dock.isVisible, timeout=2000)
    assert again.actions_.toggle_power.isChecked()
    again.actions_.toggle_power.trigger()  # closed this time: it stays closed
    again.close()
    third = make_window().window
    qtbot.wait(50)
    assert not third.power_dock.isVisible()
