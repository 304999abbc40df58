"""The window's tools beyond the chat: Compare (Answer menu), the model browser and the API server toggle (File
menu). Each lives in its own module and adds its action here, so it is in the menus and the command palette."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from baton.ui.actions import _act


def _menu(window: Any, title: str) -> QMenu | None:
    for a in window.menuBar().actions():
        if a.text().replace("&", "") == title and a.menu() is not None:
            return a.menu()
    return None


def menu_adder(window: Any, menu_title: str) -> Callable[..., QAction]:
    """``add(text, keys, slot, tip="")``: make an action of ``window``, list it in the command palette and put it in
    the menu titled ``menu_title`` (when the window has one). Returns the action."""
    def add(text: str, keys: str | None, slot: Callable[[], object], tip: str = "") -> QAction:
        act = _act(window, text, keys, slot, tip)
        window.actions_.extra.append(act)
        menu = _menu(window, menu_title)
        if menu is not None:
            menu.addAction(act)
        return act
    return add


def install_extras(window: Any) -> None:
    """Add Compare, Model browser and API server to ``window`` (a MainWindow whose actions are built)."""
    from baton.ui import compare, model_browser, serve_toggle

    def adder(menu_title: str) -> Callable[..., QAction]:
        return menu_adder(window, menu_title)

    from baton.ui.store_watch import StoreWatch

    window.store_watch = StoreWatch(window)  # what the API server (or a terminal) writes shows up here
    compare.install(window, adder("Answer"))
    model_browser.install(window, adder("File"))
    serve_toggle.install(window, adder("File"))
    from baton.ui.settings_sync import SettingsSync

    window.settings_sync = SettingsSync(window)
