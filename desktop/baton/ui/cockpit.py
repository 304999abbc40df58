"""The orchestrator's cockpit in the window: per-thread settings, pins, archive and delete with undo (thread_menu),
the route preview under the composer (route_preview), search in the sidebar (search_panel), export of the current
thread and the totals by day, week and month (totals). Each adds its actions to the menus and the command palette."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog

from baton.core.errors import BatonError
from baton.ui.extras import menu_adder

EXPORTS = {"md": ("Markdown", "Markdown (*.md)", ".md"), "json": ("JSON with receipts", "JSON (*.json)", ".json")}


def install_cockpit(window: Any) -> None:
    """Build the cockpit's parts on ``window`` (a MainWindow with its actions, before its threads are loaded):
    ``window.thread_actions``, ``window.route_preview``, ``window.search_panel`` and their actions."""
    from baton.ui.route_preview import RoutePreview
    from baton.ui.search_panel import SearchPanel
    from baton.ui.thread_menu import ThreadActions

    window.thread_actions = actions = ThreadActions(window)
    window.route_preview = preview = RoutePreview(window)
    window.search_panel = search = SearchPanel(window)
    col = window.sidebar.layout()
    head = next((col.itemAt(i).layout() for i in range(col.count()) if col.itemAt(i).layout() is not None), None)
    if head is not None:  # THREADS [Archived] [+ New thread]
        head.insertWidget(1, actions.archived_button)
    else:
        col.addWidget(actions.archived_button)
    preview.set_endpoints(window.backend.endpoint_names())
    window.settingsChanged.connect(lambda: preview.set_endpoints(window.backend.endpoint_names()))

    def add(menu: str, text: str, keys: str | None, slot: Any, tip: str) -> Any:
        return menu_adder(window, menu)(text, keys, slot, tip)

    add("File", "Thread se&ttings…", "Ctrl+Shift+,", actions.open_settings,
        "This thread's system prompt, model, tier mode, temperature and budgets")
    add("File", "&Pin or unpin thread", None, actions.toggle_pin, "Keep this thread at the top of the list")
    add("File", "&Archive or unarchive thread", None, actions.archive, "Move this thread to the Archived section")
    shown = add("View", "Show &archived threads", None, lambda: actions.set_show_archived(not actions.show_archived),
                "The archived threads instead of the others")
    shown.setCheckable(True)
    actions.archived_button.toggled.connect(shown.setChecked)
    add("File", "&Search all threads…", "Ctrl+F", search.focus, "Full-text search over every message of every thread")
    for fmt, (what, _filter, _ext) in EXPORTS.items():
        add("File", f"&Export thread as {what}…", None, lambda f=fmt: export_current(window, f),
            f"Write the current thread out as {what}, as `baton threads export` does")
    add("View", "&Totals by day, week and month…", None, lambda: open_totals(window),
        "Joules, dollars, and what the same answers would have cost all-cloud")


def export_current(window: Any, fmt: str, path: str | Path | None = None) -> Path | None:
    """Export the current thread as ``fmt`` (``md`` or ``json``) to ``path`` (asked with a file dialog when None).
    Returns the file written, or None (no thread, cancelled, or it failed: the status bar says why)."""
    tid = window.session.current_id
    if tid is None:
        window.statusBar().showMessage("No thread to export yet.", 4000)
        return None
    what, filt, ext = EXPORTS[fmt]
    if path is None:
        row = window.thread_model.get(tid)
        name = "".join(c if c.isalnum() or c in "-_ " else "_" for c in (row.display_title if row else "thread"))
        chosen, _ = QFileDialog.getSaveFileName(window, f"Export thread as {what}",
                                                str(Path.home() / f"{name.strip() or 'thread'}{ext}"), filt)
        if not chosen:
            return None
        path = chosen
    out = Path(path)
    try:
        out.write_text(window.backend.export_thread(tid, fmt), encoding="utf-8")
    except (BatonError, OSError) as e:
        window.statusBar().showMessage(f"Could not export the thread: {e}", 8000)
        return None
    window.statusBar().showMessage(f"Exported to {out}", 6000)
    return out


def open_totals(window: Any) -> Any:
    """Open the totals dialog (non-modal)."""
    from PySide6.QtCore import Qt

    from baton.ui.totals import TotalsDialog

    dlg = TotalsDialog(window.backend, window)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.open()
    return dlg


def shutdown_cockpit(window: Any) -> None:
    """Stop the cockpit's timers and workers and finish a pending delete (when the window closes)."""
    for part in ("thread_actions", "route_preview", "search_panel"):
        obj = getattr(window, part, None)
        if obj is not None:
            obj.shutdown()
