"""Every command of the window as a QAction with its shortcut, placed in the menus (and so in the
command palette). Keyboard-first: nothing is reachable only by mouse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu


@dataclass
class Actions:
    new_thread: QAction
    send: QAction
    stop: QAction
    escalate: QAction
    retry_local: QAction
    palette: QAction
    settings: QAction
    models: QAction
    rename: QAction
    delete: QAction
    toggle_power: QAction
    toggle_queue: QAction
    queue_up: QAction
    queue_down: QAction
    queue_cancel: QAction
    about_receipts: QAction
    quit: QAction
    copy_answer: QAction | None = None
    copy_code: QAction | None = None
    edit_last: QAction | None = None
    regenerate: QAction | None = None
    fork: QAction | None = None
    prev_version: QAction | None = None
    next_version: QAction | None = None
    toggle_sidebar: QAction | None = None
    switch: list[QAction] = field(default_factory=list)
    retry_menu: QMenu | None = None
    extra: list[QAction] = field(default_factory=list)  # added by ui/extras.py (Compare, model browser, server)

    def all(self) -> list[QAction]:
        return [self.new_thread, self.send, self.stop, self.escalate, self.retry_local, self.palette, self.settings,
                self.models, self.rename, self.delete, self.toggle_power, self.toggle_queue, self.queue_up,
                self.queue_down, self.queue_cancel, self.about_receipts, self.quit,
                *[a for a in (self.copy_answer, self.copy_code, self.edit_last, self.regenerate, self.fork,
                              self.prev_version, self.next_version, self.toggle_sidebar) if a is not None],
                *self.extra, *self.switch]


def _act(window: QMainWindow, text: str, keys: list[str] | str | None, slot: Callable[[], object],
         tip: str = "") -> QAction:
    a = QAction(text, window)
    if keys:
        seqs = [QKeySequence(k) for k in ([keys] if isinstance(keys, str) else keys)]
        a.setShortcuts(seqs)
    if tip:
        a.setToolTip(tip)
        a.setStatusTip(tip)
    a.triggered.connect(lambda _checked=False: slot())
    window.addAction(a)  # shortcuts work wherever focus is in the window
    return a


def build_actions(window: QMainWindow, h: dict[str, Callable[[], object]]) -> Actions:
    """``h`` maps handler names to callables on the window."""
    acts = Actions(
        new_thread=_act(window, "&New thread", "Ctrl+N", h["new_thread"], "Start a new thread"),
        send=_act(window, "&Send", ["Ctrl+Return", "Ctrl+Enter"], h["send"], "Send the question in the box"),
        stop=_act(window, "S&top answer", "Esc", h["stop"], "Stop this thread's answer between two tokens"),
        escalate=_act(window, "&Escalate this answer", "Ctrl+E", h["escalate"],
                      "Ask the first cloud endpoint to answer the last question again"),
        retry_local=_act(window, "Retry on the &local model", "Ctrl+Shift+R", h["retry_local"],
                         "Ask the last question again on the local model"),
        palette=_act(window, "Command &palette…", "Ctrl+K", h["palette"], "Search every command"),
        settings=_act(window, "&Settings…", "Ctrl+,", h["settings"], "Endpoints, keys, routing, budgets, TDP"),
        models=_act(window, "&Models…", "Ctrl+M", h["models"], "Choose the local model; see what fits"),
        rename=_act(window, "&Rename thread…", "F2", h["rename"], "Rename the current thread"),
        delete=_act(window, "&Delete thread", "Ctrl+Shift+Backspace", h["delete"], "Delete the current thread"),
        toggle_power=_act(window, "&Power panel", "Ctrl+Shift+P", h["toggle_power"],
                          "Show or hide live power, memory and today's totals"),
        toggle_queue=_act(window, "&Slots", "Ctrl+Shift+Q", h["toggle_queue"],
                          "Show or hide the slots: which threads generate now and which wait"),
        queue_up=_act(window, "Move queued answer &up", "Alt+Up", h["queue_up"], "Run the selected queued answer sooner"),
        queue_down=_act(window, "Move queued answer do&wn", "Alt+Down", h["queue_down"],
                        "Run the selected queued answer later"),
        queue_cancel=_act(window, "&Cancel queued answer", "Alt+Del", h["queue_cancel"],
                          "Take the selected answer out of the queue"),
        about_receipts=_act(window, "What is a &receipt?", "F1", h["about_receipts"], "How to read a receipt"),
        quit=_act(window, "&Quit", "Ctrl+Q", h["quit"], "Quit Baton"),
    )
    acts.copy_answer = _act(window, "&Copy the last answer", "Ctrl+Shift+C", h["copy_answer"],
                            "Copy the whole last answer to the clipboard")
    acts.copy_code = _act(window, "Copy the last &code block", "Ctrl+Alt+C", h["copy_code"],
                          "Copy the last answer's last code block (the code only)")
    acts.edit_last = _act(window, "E&dit the last question", "Ctrl+Shift+E", h["edit_last"],
                          "Put the last question in the box; Send asks it in its place")
    acts.regenerate = _act(window, "Re&generate the last answer", "Ctrl+R", h["regenerate"],
                           "Answer the last question again on the same tier (a new version in place)")
    acts.fork = _act(window, "&Fork this thread from here", "Ctrl+Shift+F", h["fork"],
                     "A new thread with this thread's messages so far")
    acts.prev_version = _act(window, "Previous &version", "Alt+Left", h["prev_version"],
                             "Show the previous version of the last answer")
    acts.next_version = _act(window, "Next v&ersion", "Alt+Right", h["next_version"],
                             "Show the next version of the last answer")
    acts.toggle_sidebar = _act(window, "Thread &list", "Ctrl+B", h["toggle_sidebar"],
                               "Show or hide the list of threads (hidden by itself in a narrow window)")
    acts.toggle_power.setCheckable(True)
    acts.toggle_queue.setCheckable(True)
    for n in range(1, 10):
        acts.switch.append(_act(window, f"Go to thread {n}", f"Ctrl+{n}",
                                lambda n=n: h["switch"](n - 1), f"Show thread {n} of the sidebar"))

    bar = window.menuBar()
    m = bar.addMenu("&File")
    m.addActions([acts.new_thread, acts.rename, acts.delete])
    m.addSeparator()
    m.addActions([acts.settings, acts.models])
    m.addSeparator()
    m.addAction(acts.quit)
    m = bar.addMenu("&Answer")
    m.addActions([acts.send, acts.stop, acts.escalate, acts.retry_local, acts.regenerate])
    acts.retry_menu = m.addMenu("Retry &on…")
    m.addSeparator()
    m.addActions([acts.copy_answer, acts.copy_code, acts.edit_last, acts.fork, acts.prev_version,
                  acts.next_version])
    m = bar.addMenu("&Queue")
    m.addActions([acts.queue_up, acts.queue_down, acts.queue_cancel])
    m = bar.addMenu("&View")
    m.addActions([acts.palette, acts.toggle_sidebar, acts.toggle_power, acts.toggle_queue])
    m.addSeparator()
    threads = m.addMenu("&Threads")
    threads.addActions(acts.switch)
    m = bar.addMenu("&Help")
    m.addAction(acts.about_receipts)
    return acts
