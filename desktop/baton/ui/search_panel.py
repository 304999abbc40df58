"""Find: a search box at the top of the sidebar (SQLite FTS5 over every message of every thread, best match first);
while it holds a query the thread list gives way to the results, and activating a result opens its thread, shows
the version it is in, scrolls to the message and outlines it. The command palette's "Search all threads" and its
fallback (Enter on text that names no command) fill the same box."""

from __future__ import annotations

import html
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QWidget

from baton.core.errors import BatonError
from baton.core.store.search import HIGHLIGHT

DEBOUNCE_MS = 200
FOUND_STYLE = '[found="1"] { border: 2px solid #d4a017; border-radius: 10px; }'
ROLE_WORDS = {"user": "You", "assistant": "Answer"}


def snippet_html(snippet: str) -> str:
    """A search snippet as HTML: the text escaped, the matched words (between ``**``) in bold."""
    start, end = HIGHLIGHT
    out, rest, bold = [], snippet, False
    while rest:
        mark = end if bold else start
        i = rest.find(mark)
        piece, rest = (rest, "") if i < 0 else (rest[:i], rest[i + len(mark):])
        text = html.escape(piece.replace("\n", " "))
        out.append(f"<b>{text}</b>" if bold else text)
        if i >= 0:
            bold = not bold
    return "".join(out)


class SearchPanel(QObject):
    """The sidebar's search box and results list over ``window``'s thread list."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.box = QLineEdit()
        self.box.setObjectName("threadSearch")
        self.box.setPlaceholderText("Search every thread…")
        self.box.setClearButtonEnabled(True)
        self.box.setToolTip("Full-text search over every message (\"exact phrase\", a OR b, pref*); Enter opens the "
                            "first result, Esc clears")
        self.results = QListWidget()
        self.results.setObjectName("searchResults")
        self.results.setVisible(False)
        self.results.setWordWrap(True)
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results.itemActivated.connect(self._activated)
        self.results.itemClicked.connect(self._activated)
        self.status = QLabel("")
        self.status.setObjectName("totalsNote")
        self.status.setWordWrap(True)
        self.status.setVisible(False)
        self.hits: list[Any] = []
        self.found: QWidget | None = None
        col = window.sidebar.layout()
        col.insertWidget(0, self.box)
        at = col.indexOf(window.thread_view)
        col.insertWidget(at + 1, self.status)
        col.insertWidget(at + 2, self.results, 1)
        self.timer = window.ui.registry.timer("search", self, DEBOUNCE_MS, self.run, single_shot=True)
        self.box.textChanged.connect(lambda _t: self.timer.start())
        self.box.returnPressed.connect(self._open_first)

    def focus(self, text: str | None = None) -> None:
        """Show the sidebar and put the keyboard in the box (with ``text``, searched at once)."""
        self.w.sidebar.setVisible(True)
        if text is not None:
            self.box.setText(text)
            self.run()
        self.box.setFocus()
        self.box.selectAll()

    def run(self) -> list[Any]:
        """Search now for the box's text; an empty box brings the thread list back. Returns the hits."""
        self.timer.stop()
        query = self.box.text().strip()
        searching = bool(query)
        self.w.thread_view.setVisible(not searching)
        self.results.setVisible(searching)
        self.status.setVisible(searching)
        self.results.clear()
        self.hits = []
        if not searching:
            return []
        try:
            self.hits = self.w.backend.search(query, limit=50)
        except BatonError as e:
            self.status.setText(str(e))
            return []
        self.status.setText(f"{len(self.hits)} match{'es' if len(self.hits) != 1 else ''}" if self.hits else
                            "Nothing matches. Try fewer words, or pref* for a word's start.")
        for hit in self.hits:
            item = QListWidgetItem(self.results)
            title = html.escape(" ".join((hit.title or "New thread").split()))
            earlier = " · earlier version" if hit.status in ("replaced", "escalated") else ""
            label = QLabel(f"<b>{title}</b><br><span style='color:gray'>{ROLE_WORDS.get(hit.role, hit.role)}"
                           f"{earlier}</span><br>{snippet_html(hit.snippet)}")
            label.setObjectName("searchHit")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setContentsMargins(6, 4, 6, 4)
            item.setData(Qt.ItemDataRole.UserRole, hit.message_id)
            item.setToolTip(f"{hit.title}\n{hit.snippet}")
            self.results.setItemWidget(item, label)
            label.setFixedWidth(max(120, self.results.viewport().width() - 4))
            item.setSizeHint(label.sizeHint())
        return self.hits

    def _open_first(self) -> None:
        if self.results.count():
            self.open_hit(0)

    def _activated(self, item: QListWidgetItem) -> None:
        self.open_hit(self.results.row(item))

    def open_hit(self, row: int) -> bool:
        """Open result ``row``: its thread (from the Archived section when it is archived), the version it is in,
        scrolled to and outlined. False when the thread is gone."""
        if not 0 <= row < len(self.hits):
            return False
        hit = self.hits[row]
        actions = getattr(self.w, "thread_actions", None)
        if self.w.thread_model.get(hit.thread_id) is None and actions is not None:
            archived = hit.thread_id in {t.id for t in self.w.backend.list_threads(archived=True)}
            actions.set_show_archived(archived)
        if self.w.thread_model.get(hit.thread_id) is None:
            return False
        self.w.session.select(hit.thread_id)
        if not self._bubble(hit.message_id):
            self.w.session.show_version(hit.message_id)  # an earlier version: show that one
        if not self._bubble(hit.message_id):
            self.w.session._show_earlier()  # beyond the messages shown at first
        bubble = self._bubble(hit.message_id)
        if bubble is None:
            return False
        self.reveal(bubble)
        return True

    def _bubble(self, message_id: str) -> Any:
        return next((b for b in self.w.chat.bubbles() if b.message_id == message_id), None)

    def reveal(self, bubble: QWidget) -> None:
        """Scroll the chat to ``bubble`` and outline it (until the chat is redrawn)."""
        chat = self.w.chat
        chat._stick = False  # do not jump back to the newest message as the layout settles
        bubble.setProperty("found", "1")
        bubble.setStyleSheet(FOUND_STYLE)
        self.found = bubble
        chat.widget().adjustSize()
        chat.ensureWidgetVisible(bubble, 0, 24)
        QTimer.singleShot(60, lambda: chat.ensureWidgetVisible(bubble, 0, 24) if shiboken6.isValid(bubble) else None)

    def shutdown(self) -> None:
        """Stop the debounce timer (called when the window closes)."""
        self.timer.stop()

