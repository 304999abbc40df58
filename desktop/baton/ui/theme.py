"""Light and dark looks that follow the system color scheme (``QStyleHints.colorScheme``).

``BATON_THEME=light|dark`` forces one (screenshots, or a desktop that reports no scheme).
Colors for code live here and in ``assets/styles/*.qss``; nothing else hard-codes a color.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

# Colors the Python side needs (plots, state dots); the qss files hold the rest.
COLORS = {
    "light": {"text": "#1f2328", "muted": "#5f6b7a", "canvas": "#ffffff", "grid": "#d8dee4",
              "local": "#1a7f37", "cloud": "#7c3aed", "accent": "#1d6fd6", "warn": "#9a6700",
              "error": "#b42318", "idle": "#9aa3b2",
              "series": ["#1d6fd6", "#d9480f", "#1a7f37", "#7c3aed", "#c2255c", "#0c8599"]},
    "dark": {"text": "#e4e6eb", "muted": "#9aa3b2", "canvas": "#202226", "grid": "#383b42",
             "local": "#3fb950", "cloud": "#b48cff", "accent": "#5b9cf5", "warn": "#d29922",
             "error": "#ff7b72", "idle": "#6b7280",
             "series": ["#5b9cf5", "#ff922b", "#3fb950", "#b48cff", "#f783ac", "#3bc9db"]},
}


def assets_dir() -> Path | None:
    """The ``assets/`` folder: next to a frozen app, or at the repository root in a checkout."""
    candidates = []
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        candidates.append(Path(frozen) / "assets")
    if os.environ.get("BATON_ASSETS"):
        candidates.append(Path(os.environ["BATON_ASSETS"]))
    candidates.append(Path(__file__).resolve().parents[3] / "assets")
    return next((p for p in candidates if (p / "styles").is_dir()), None)


def app_icon(assets: Path | None) -> QIcon:
    icon = QIcon()
    if assets is None:
        return icon
    svg = assets / "icons" / "baton.svg"
    for png in sorted((assets / "icons").glob("baton-*.png")):
        icon.addFile(str(png))
    if svg.exists() and icon.isNull():
        icon.addFile(str(svg))
    return icon


class Theme(QObject):
    changed = Signal(bool)  # dark?

    def __init__(self, app: QApplication, assets: Path | None, forced: str | None = None) -> None:
        super().__init__(app)
        self._app = app
        self._assets = assets
        self._forced = forced if forced in ("light", "dark") else None
        self._dark = False
        app.styleHints().colorSchemeChanged.connect(self._on_scheme)

    @classmethod
    def from_env(cls, app: QApplication, assets: Path | None) -> "Theme":
        return cls(app, assets, os.environ.get("BATON_THEME", "").strip().lower() or None)

    @property
    def dark(self) -> bool:
        return self._dark

    @property
    def colors(self) -> dict:
        return COLORS["dark" if self._dark else "light"]

    def force(self, scheme: str | None) -> None:
        """Use 'light' or 'dark' regardless of the system (None: follow the system again)."""
        self._forced = scheme if scheme in ("light", "dark") else None
        self.apply()

    def system_is_dark(self) -> bool:
        return self._app.styleHints().colorScheme() == Qt.ColorScheme.Dark

    def apply(self) -> None:
        dark = self._forced == "dark" if self._forced else self.system_is_dark()
        self._dark = dark
        self._app.setStyle("Fusion")
        self._app.setPalette(_palette(dark))
        qss = ""
        if self._assets is not None:
            path = self._assets / "styles" / ("dark.qss" if dark else "light.qss")
            if path.exists():
                qss = path.read_text(encoding="utf-8")
        self._app.setStyleSheet(qss + extra_qss(COLORS["dark" if dark else "light"], dark))
        self.changed.emit(dark)

    def _on_scheme(self, _scheme: Qt.ColorScheme) -> None:
        if self._forced is None:
            self.apply()


FOCUSABLE = ("QPushButton", "QToolButton", "QComboBox", "QListView", "QTableView", "QLineEdit", "QPlainTextEdit",
             "QTextEdit", "QSpinBox", "QDoubleSpinBox", "QCheckBox", "QRadioButton", "QTabBar::tab", "QScrollArea",
             "QLabel")


def extra_qss(c: dict, dark: bool) -> str:
    """Styles the app adds to its qss file: a visible focus ring on every control that takes focus, the
    "unsure" badge, code blocks, versions and the editing banner."""
    ring = c["accent"]
    focus = ",\n".join(f"{w}:focus" for w in FOCUSABLE)
    code_bg, code_border = ("#1b1c20", "#383b42") if dark else ("#f6f8fa", "#d8dee4")
    return f"""
{focus} {{ border: 2px solid {ring}; border-radius: 4px; }}
QCheckBox:focus, QRadioButton:focus {{ padding: 1px; }}
QLabel#badge[tier="unsure"] {{ background: {"#3d2e00" if dark else "#fff4d6"}; color: {c["warn"]}; }}
QFrame#codeBlock {{ background: {code_bg}; border: 1px solid {code_border}; border-radius: 6px; }}
QLabel#codeLang {{ color: {c["muted"]}; font-size: 9pt; }}
QLabel#draftText {{ color: {c["muted"]}; font-style: italic; }}
QLabel#versionLabel {{ color: {c["muted"]}; font-size: 9pt; }}
QLabel#receiptWhy {{ color: {c["text"]}; }}
QLabel#messageNote {{ color: {c["warn"]}; }}
QLabel#editBanner {{ color: {c["warn"]}; font-weight: 600; }}
"""


def _palette(dark: bool) -> QPalette:
    if not dark:
        pal = QPalette(QColor("#f6f7f9"))
        pal.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
        pal.setColor(QPalette.ColorRole.Highlight, QColor("#1d6fd6"))
        pal.setColor(QPalette.ColorRole.Link, QColor("#1d6fd6"))
        return pal
    c = COLORS["dark"]
    pal = QPalette()
    role = QPalette.ColorRole
    for r, col in ((role.Window, "#1c1d21"), (role.WindowText, c["text"]), (role.Base, "#25272c"),
                   (role.AlternateBase, "#202226"), (role.Text, c["text"]), (role.Button, "#2a2d33"),
                   (role.ButtonText, c["text"]), (role.Highlight, "#3b7fe0"), (role.HighlightedText, "#ffffff"),
                   (role.ToolTipBase, "#25272c"), (role.ToolTipText, c["text"]), (role.Link, c["accent"]),
                   (role.PlaceholderText, "#7d8590"), (role.BrightText, "#ffffff")):
        pal.setColor(r, QColor(col))
    for r in (role.Text, role.WindowText, role.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, r, QColor("#5c626d"))
    return pal


def state_color(theme: Theme, state: str) -> str:
    c = theme.colors
    return {"generating": c["accent"], "queued": c["warn"], "escalated": c["cloud"], "failed": c["error"],
            "loading": c["accent"], "waiting": c["warn"]}.get(state, c["idle"])


def is_dark_now(app: QGuiApplication) -> bool:
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128
