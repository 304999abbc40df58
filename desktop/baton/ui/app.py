"""Where the desktop app is put together: the QApplication, the look, the services (built once here
and passed down), the main window."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from typing import Any

from PySide6.QtWidgets import QApplication

from baton.config import Settings
from baton.core.errors import BatonError
from baton.paths import Paths
from baton.ui.backend import Backend
from baton.ui.main_window import MainWindow, UiContext
from baton.ui.registry import Registry
from baton.ui.render import Renderer
from baton.ui.theme import Theme, app_icon, assets_dir


def binding_is_sound() -> bool:
    """False when this PySide6 build drops a reference to None on every void call (6.12.0 does on
    Python 3.11, where None is not immortal: the app then aborts after some thousands of calls)."""
    if sys.version_info >= (3, 12):
        return True
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(64):
        probe.setObjectName("probe")
    return before - sys.getrefcount(None) < 32


GIL_SWITCH_INTERVAL_S = 0.001  # Python's default is 5 ms


def make_application(argv: list[str] | None = None) -> QApplication:
    # The GUI thread waits for the GIL whenever the engine's thread runs Python between tokens; a 1 ms
    # switch interval bounds that wait (measured: p99 event-loop gap 11.4 -> 8.5 ms while streaming).
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("Baton")
    app.setApplicationDisplayName("Baton")
    app.setOrganizationName("Baton")
    app.setDesktopFileName("baton")
    return app  # type: ignore[return-value]


def build_context(app: QApplication, service: Any, paths: Paths, settings: Settings,
                  api_server: Any = None) -> UiContext:
    """Everything the window needs, from one service. Tests call this with a service on a FakeEngine.
    ``api_server``: ``(service, paths) -> ApiServer`` for the API server toggle (None: the toggle says to use
    `baton serve`)."""
    assets = assets_dir()
    theme = Theme.from_env(app, assets)
    theme.apply()
    app.setWindowIcon(app_icon(assets))
    return UiContext(backend=Backend(service, paths, settings), registry=Registry.of(app), theme=theme,
                     renderer=Renderer(dark=theme.dark), assets=assets, api_server=api_server)


def log_to_file(paths: Paths) -> logging.Handler:
    """Unexpected errors of the app go to ``<log dir>/baton-gui.log`` (keys never reach a log line)."""
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(paths.log_dir / "baton-gui.log", maxBytes=1 << 20,
                                                   backupCount=2, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("baton")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


def run(paths: Paths, settings: Settings, service: Any, argv: list[str] | None = None,
        api_server: Any = None) -> int:
    """Open the window on ``service`` and run until it closes (``api_server`` as ``build_context`` takes it).
    Returns the exit code."""
    if not binding_is_sound():
        import PySide6

        raise BatonError(f"PySide6 {PySide6.__version__} has a reference-counting bug on Python "
                         f"{sys.version_info.major}.{sys.version_info.minor} that crashes the app; install another "
                         "version with: pip install 'PySide6-Essentials>=6.6,<6.12'")
    app = make_application(argv)
    handler = log_to_file(paths)
    ui = build_context(app, service, paths, settings, api_server)
    window = MainWindow(ui)
    window.show()
    window.composer.edit.setFocus()
    try:
        return int(app.exec())
    finally:
        window.shutdown()
        logging.getLogger("baton").removeHandler(handler)
        handler.close()
