"""Render baton.svg to the PNG sizes desktops ask for (and baton.ico where Qt can write it).

Run from the repository root: ``QT_QPA_PLATFORM=offscreen .venv/bin/python assets/icons/make_icons.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QImageWriter, QPainter
from PySide6.QtSvg import QSvgRenderer

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def main() -> int:
    here = Path(__file__).resolve().parent
    app = QGuiApplication(sys.argv[:1])  # noqa: F841 (QImage/QSvgRenderer need an application)
    renderer = QSvgRenderer(str(here / "baton.svg"))
    if not renderer.isValid():
        print("baton.svg could not be read", file=sys.stderr)
        return 1
    images = {}
    for size in SIZES:
        img = QImage(size, size, QImage.Format.Format_ARGB32)
        img.fill(Qt.GlobalColor.transparent)
        painter = QPainter(img)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        img.save(str(here / f"baton-{size}.png"))
        images[size] = img
    if b"ico" in [bytes(f) for f in QImageWriter.supportedImageFormats()]:
        images[256].save(str(here / "baton.ico"))
    print(f"wrote {len(SIZES)} PNGs to {here}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
