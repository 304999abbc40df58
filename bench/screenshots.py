"""Screenshots of the real app, in light and dark: first run, the main window with answers from the
default model, the power panel, the settings dialog, the escalation dialog and the command palette.

Run: ``.venv/bin/python bench/screenshots.py [--out bench/screenshots] [--tokens 96]``
(offscreen by default; with DISPLAY set and QT_QPA_PLATFORM unset it draws on that display). The PNGs
are not kept in the repository; this generator is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gui_harness import ask_and_wait, open_app, pump_until  # noqa: E402

QUESTIONS = [
    ("Write a Python function that reverses a string, with an example.", "auto"),
    ("What is the capital of France? Answer in one sentence.", "auto"),
]


def save(widget, path: Path) -> None:  # noqa: ANN001
    widget.grab().save(str(path))
    print(f"wrote {path}", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "screenshots"))
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--themes", default="light,dark")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from baton.config import Endpoint
    from baton.core.results import EscalationPlan
    from baton.ui.escalation_dialog import EscalationDialog

    aut = open_app("shots")
    w, app = aut.window, aut.app
    themes = [t for t in args.themes.split(",") if t in ("light", "dark")]
    try:
        w.resize(1280, 800)
        for theme in themes:  # first run: no thread yet
            w.ui.theme.force(theme)
            pump_until(app, lambda: False, 0.3)
            save(w, out / f"first-run-{theme}.png")
        aut.settings.engine.max_tokens = args.tokens
        for prompt, tier in QUESTIONS:
            w.session.new_thread()
            ask_and_wait(aut, prompt, tier=tier)
        w.session.select_index(1)  # the code answer
        example = Endpoint(name="lan-qwen", base_url="http://192.168.1.20:8080/v1", model="qwen2.5-coder-7b",
                           usd_per_mtok_in=0.0, usd_per_mtok_out=0.0, j_per_token=0.8)
        plan = EscalationPlan("lan-qwen", example.base_url, example.model,
                              "system: You are a helpful assistant. Answer concisely.\n\nuser: What is 17 * 23?",
                              0.0004, "local answer looked weak: mean log-prob -2.7 under threshold -1.4", [])
        for theme in themes:
            w.ui.theme.force(theme)
            w.power_dock.hide()
            pump_until(app, lambda: False, 0.3)
            bars = w.chat.receipt_bars()
            if bars:
                bars[-1].toggle.setChecked(True)  # the receipt, expanded
            pump_until(app, lambda: False, 0.3)
            save(w, out / f"main-{theme}.png")
            w.power_dock.show()
            pump_until(app, lambda: False, 2.5)  # a few sampler ticks
            save(w, out / f"power-{theme}.png")
            save(w.power, out / f"power-panel-{theme}.png")
            w.power_dock.hide()
            dlg = w.open_settings()
            dlg.resize(680, 520)
            pump_until(app, lambda: False, 0.3)
            save(dlg, out / f"settings-{theme}.png")
            dlg.add_endpoint()
            dlg.ep_name.setText(example.name)
            dlg.ep_url.setText(example.base_url)
            dlg.ep_model.setText(example.model)
            dlg.ep_j.setValue(example.j_per_token)
            dlg.tabs.setCurrentIndex(1)
            pump_until(app, lambda: False, 0.3)
            save(dlg, out / f"settings-endpoints-{theme}.png")
            dlg.reject()
            esc = EscalationDialog(plan, "What is 17 * 23?", w)
            esc.show()
            pump_until(app, lambda: False, 0.3)
            save(esc, out / f"escalation-{theme}.png")
            esc.reject()
            esc.deleteLater()
            palette = w.open_palette()
            palette.filter.setText("thread")
            pump_until(app, lambda: False, 0.3)
            save(palette, out / f"palette-{theme}.png")
            palette.reject()
    finally:
        aut.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
