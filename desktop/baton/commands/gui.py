"""`baton gui` (and `baton` with no subcommand): open the desktop app.

The command stays importable without Qt: it checks for a display first, then loads ``baton.ui``
by name only when it is about to open the window.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from typing import Any

from baton.core.errors import BatonError

NO_DISPLAY = ("no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset); use `baton ask` "
              "on a terminal, or set QT_QPA_PLATFORM=offscreen to run the app without a screen")
NO_QT = ("the desktop app needs PySide6, which is not installed; install the gui extra "
         "(pip install 'baton[gui]') or use `baton ask` on a terminal")


def register(sub: Any) -> None:
    p = sub.add_parser("gui", help="open the desktop app (the default)",
                       description="Open the desktop app on the default model.")
    p.set_defaults(func=run)


def display_problem(env: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why the window cannot open here, or None when it can."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if (platform.startswith("linux") and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY")
            and not env.get("QT_QPA_PLATFORM")):
        return NO_DISPLAY
    return None


def run(args: argparse.Namespace, ctx: Any) -> int:
    problem = display_problem()
    if problem is not None:
        raise BatonError(problem)
    if importlib.util.find_spec("PySide6") is None:
        raise BatonError(NO_QT)
    app = importlib.import_module("baton.ui.app")  # by name: the CLI must not depend on Qt
    importlib.import_module("baton.ui.heap").limit_arenas()  # before the service starts any thread
    from baton.commands.serve_thread import ApiServer  # the app's API server toggle runs `baton serve` in-process

    return int(app.run(ctx.paths, ctx.settings, ctx.service(), api_server=ApiServer))
