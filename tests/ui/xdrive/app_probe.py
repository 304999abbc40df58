"""Start the real app (``baton gui``, the `baton` entry point's own ``main``) for a real-display drive, with two test
seams and nothing else changed:

* ``--catalog FILE``: the model browser reads this catalog (entries pointing at a loopback server) instead of the
  shipped ``models/catalog.toml`` (``catalog.catalog_path`` is replaced before the app starts);
* ``--probe DIR``: the driver's eyes. When the driver writes a number to ``DIR/ask``, the app writes
  ``DIR/widgets.json``: every visible widget of every window with its screen rectangle, class, object name, text,
  enabled and checked state (a chat bubble's ``message_id`` and ``found`` mark, the thread list's rows, a menu's entries), stamped
  with that number. The
  driver uses it only to know where to point the mouse and what the screen says; every input still goes through
  the X server (xdotool), and every check reads the database, the files written or the servers' logs.

Run by tests/ui/xdrive/drive_cockpit.py as ``python app_probe.py --probe DIR [--catalog FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _text(w) -> str:  # noqa: ANN001 (any QWidget)
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QLineEdit, QPlainTextEdit, QSpinBox
    from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QProgressBar

    if isinstance(w, (QLabel, QLineEdit, QAbstractButton)):
        return w.text()
    if isinstance(w, QComboBox):
        return w.currentText()
    if isinstance(w, QPlainTextEdit):
        return w.toPlainText()[:2000]
    if isinstance(w, (QSpinBox, QDoubleSpinBox, QAbstractSpinBox)):
        return w.text()
    if isinstance(w, QProgressBar):
        return w.text()
    return ""


def dump(seq: int) -> dict:
    """Every visible widget of every visible top-level window, with its global rectangle (screen pixels)."""
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QAbstractButton, QApplication, QMenu, QWidget

    windows = []
    for top in QApplication.topLevelWidgets():
        if not top.isVisible():
            continue
        items = []
        for w in [top, *top.findChildren(QWidget)]:
            if not w.isVisible():
                continue
            p = w.mapToGlobal(QPoint(0, 0))
            item = {"cls": type(w).__name__, "name": w.objectName(), "text": _text(w),
                    "x": p.x(), "y": p.y(), "w": w.width(), "h": w.height(), "enabled": w.isEnabled(),
                    "focus": w.hasFocus()}
            if isinstance(w, QAbstractButton) and w.isCheckable():
                item["checked"] = w.isChecked()
            if w.objectName() == "threadList":  # the sidebar's rows, as painted (title, state, spend), and where
                model, port = w.model(), w.viewport()
                item["rows"], item["row_rects"] = [], []
                for r in range(min(model.rowCount(), 50)):
                    idx = model.index(r, 0)
                    rect = w.visualRect(idx)
                    at = port.mapToGlobal(rect.topLeft())
                    item["rows"].append(str(idx.data() or ""))
                    item["row_rects"].append([at.x(), at.y(), rect.width(), rect.height()])
            if isinstance(w, QMenu):  # a context menu's entries and where they are
                item["actions"] = []
                for a in w.actions():
                    if a.isSeparator() or not a.isVisible():
                        continue
                    g = w.actionGeometry(a)
                    at = w.mapToGlobal(g.topLeft())
                    item["actions"].append({"text": a.text().replace("&", ""), "x": at.x(), "y": at.y(),
                                            "w": g.width(), "h": g.height()})
            mid = getattr(w, "message_id", None)
            if isinstance(mid, str):
                item["message_id"] = mid
                item["found"] = w.property("found") == "1"
            items.append(item)
        windows.append({"title": top.windowTitle(), "cls": type(top).__name__, "xid": int(top.winId()),
                        "active": top.isActiveWindow(), "widgets": items})
    clip = QApplication.clipboard().text()
    return {"seq": seq, "windows": windows, "clipboard_len": len(clip)}


def install_probe(app, folder: Path) -> None:  # noqa: ANN001 (QApplication)
    """Answer the driver's requests (``folder/ask``) with ``folder/widgets.json``, polled every 100 ms."""
    from PySide6.QtCore import QTimer

    ask, out = folder / "ask", folder / "widgets.json"
    timer = QTimer(app)
    timer.setInterval(100)
    last = {"seq": None}

    def poll() -> None:
        try:
            seq = int(ask.read_text().strip() or "0")
        except (OSError, ValueError):
            return
        if seq == last["seq"]:
            return
        last["seq"] = seq
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(dump(seq)))
        os.replace(tmp, out)

    timer.timeout.connect(poll)
    timer.start()
    app._drive_probe = timer  # noqa: SLF001 - kept alive with the application


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probe", type=Path, required=True)
    ap.add_argument("--catalog", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.catalog is not None:
        import baton.core.engine.catalog as catalog

        path = args.catalog.resolve()
        catalog.catalog_path = lambda: path
    import baton.ui.app as ui_app

    make = ui_app.make_application

    def make_with_probe(argv=None):  # noqa: ANN001, ANN202
        app = make(argv)
        install_probe(app, args.probe)
        return app

    ui_app.make_application = make_with_probe
    from baton.cli import main as baton_main

    sys.argv = ["baton"]
    return int(baton_main(["gui"]) or 0)


if __name__ == "__main__":
    sys.exit(main())
