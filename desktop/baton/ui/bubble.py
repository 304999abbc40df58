"""The widgets of one message: a bubble with its header (who, versions "‹ 1/2 ›", Copy, Edit, a "⋯" menu with
Fork) and a body of blocks, where every code block has its own "Copy code" button.

The body is rebuilt block by block: a block whose text did not change keeps its widget, so a streaming answer
re-renders only its growing last block (``MessageBody.set_text``).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMenu, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from baton.ui.blocks import Block, fenced, split_blocks
from baton.ui.render import Renderer


def _open_link(url: str) -> None:
    if url.startswith(("http://", "https://")):
        QDesktopServices.openUrl(QUrl(url))


def copy_text(text: str) -> None:
    """Put ``text`` on the system clipboard."""
    QGuiApplication.clipboard().setText(text)


def text_label(text: str, rich: bool, name: str = "messageText") -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setText(text)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    label.linkActivated.connect(_open_link)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)  # never widens the chat
    return label


class CodeBlock(QFrame):
    """A fenced code block: its language, a "Copy code" button (copies the code only) and the highlighted code."""

    copied = Signal(str)

    def __init__(self, block: Block, html: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codeBlock")
        self.block = block
        head = QHBoxLayout()
        head.setContentsMargins(6, 2, 2, 0)
        lang = QLabel(block.lang or "code")
        lang.setObjectName("codeLang")
        self.copy_button = QToolButton()
        self.copy_button.setObjectName("copyCode")
        self.copy_button.setText("Copy code")
        self.copy_button.setToolTip("Copy this code block (the code only) to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        head.addWidget(lang, 1)
        head.addWidget(self.copy_button)
        self.code = text_label(html, rich=True, name="codeText")
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addLayout(head)
        col.addWidget(self.code)

    def copy(self) -> None:
        copy_text(self.block.text)
        self.copy_button.setText("Copied ✓")
        self.copied.emit(self.block.text)


class MessageBody(QWidget):
    """A message's text as block widgets (prose labels named ``messageText``, ``CodeBlock`` frames)."""

    def __init__(self, renderer: Renderer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._renderer = renderer
        self._col = QVBoxLayout(self)
        self._col.setContentsMargins(0, 0, 0, 0)
        self._col.setSpacing(6)
        self._shown: list[tuple[Block, QWidget]] = []
        self.text = ""

    def set_text(self, text: str, live: bool = False, key: str | None = None) -> None:
        """Show ``text`` (markdown). ``live``: prose is cut at paragraphs so only the last one is rendered again;
        ``key`` caches the rendering of a settled message."""
        self.text = text
        blocks = split_blocks(text, paragraphs=live)
        for i, block in enumerate(blocks):
            if i < len(self._shown) and self._shown[i][0] == block:
                continue
            w = self._widget(block, key=f"{key}:{i}" if key and not live else None)
            if i < len(self._shown):
                old = self._shown[i][1]
                self._col.replaceWidget(old, w)
                old.hide()
                old.deleteLater()
                self._shown[i] = (block, w)
            else:
                self._col.addWidget(w)
                self._shown.append((block, w))
        for _block, w in self._shown[len(blocks):]:
            self._col.removeWidget(w)
            w.hide()
            w.deleteLater()
        del self._shown[len(blocks):]

    def _widget(self, block: Block, key: str | None) -> QWidget:
        if block.kind == "code":
            return CodeBlock(block, self._renderer.to_html(fenced(block), key=key))
        return text_label(self._renderer.to_html(block.text, key=key), rich=True)

    def code_blocks(self) -> list[CodeBlock]:
        return [w for _b, w in self._shown if isinstance(w, CodeBlock)]


class Bubble(QFrame):
    """One message. The header holds the role line, the version switcher (when there is more than one version at
    this point), Copy, Edit (questions) and a "⋯" menu; the same menu opens on right click."""

    versionRequested = Signal(str)  # the id of the version to show
    editRequested = Signal(str)  # question id
    forkRequested = Signal(str)  # message id

    def __init__(self, kind: str, role_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("bubble", kind)
        self.message_id: str | None = None
        self.raw_text = ""
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(12, 8, 12, 8)
        self.body.setSpacing(4)
        self.header = QHBoxLayout()
        self.header.setContentsMargins(0, 0, 0, 0)
        self.header.setSpacing(2)
        self.role_label = QLabel(role_text)
        self.role_label.setObjectName("roleLabel")
        self.role_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.header.addWidget(self.role_label, 1)
        self.body.addLayout(self.header)
        self.prev_button: QToolButton | None = None
        self.next_button: QToolButton | None = None
        self.version_label: QLabel | None = None
        self.copy_button: QToolButton | None = None
        self.edit_button: QToolButton | None = None
        self.menu_button: QToolButton | None = None
        self.message_body: MessageBody | None = None

    # ---- contents --------------------------------------------------------------------------------
    def add_text(self, html_or_text: str, rich: bool) -> QLabel:
        label = text_label(html_or_text, rich)
        self.body.addWidget(label)
        return label

    def add_markdown(self, text: str, renderer: Renderer, key: str | None = None) -> MessageBody:
        self.message_body = MessageBody(renderer)
        self.message_body.set_text(text, key=key)
        self.body.addWidget(self.message_body)
        return self.message_body

    def _tool(self, text: str, name: str, tip: str, slot: Callable[[], object]) -> QToolButton:
        b = QToolButton()
        b.setObjectName(name)
        b.setText(text)
        b.setToolTip(tip)
        b.setAutoRaise(True)
        b.clicked.connect(lambda _=False: slot())
        self.header.addWidget(b)
        return b

    def set_message(self, message_id: str, raw_text: str, versions: list[str], index: int,
                    editable: bool) -> None:
        """Wire the header for message ``message_id``: ``versions`` are the ids at its point (oldest first) and
        ``index`` the one shown; ``editable`` adds Edit (a question)."""
        self.message_id = message_id
        self.raw_text = raw_text
        if len(versions) > 1:
            self.prev_button = self._tool("‹", "versionPrev", "Show the previous version (a retry or an edit)",
                                          lambda: self.versionRequested.emit(versions[index - 1]))
            self.version_label = QLabel(f"{index + 1}/{len(versions)}")
            self.version_label.setObjectName("versionLabel")
            self.version_label.setToolTip("Versions at this point of the thread")
            self.header.addWidget(self.version_label)
            self.next_button = self._tool("›", "versionNext", "Show the next version",
                                          lambda: self.versionRequested.emit(versions[index + 1]))
            self.prev_button.setEnabled(index > 0)
            self.next_button.setEnabled(index < len(versions) - 1)
        self.copy_button = self._tool("Copy", "copyMessage", "Copy the whole message to the clipboard", self.copy)
        if editable:
            self.edit_button = self._tool("Edit", "editMessage", "Edit this question and send it again (a new "
                                          "version in place)", lambda: self.editRequested.emit(message_id))
        self.menu_button = self._tool("⋯", "messageMenu", "More: fork a new thread from here", self._show_menu)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(lambda pos: self.menu().exec(self.mapToGlobal(pos)))

    def menu(self) -> QMenu:
        """The message's actions (also on right click)."""
        m = QMenu(self)
        m.addAction("Copy message", self.copy)
        if self.edit_button is not None:
            m.addAction("Edit and resend", lambda: self.editRequested.emit(self.message_id or ""))
        m.addAction("Fork a new thread from here", lambda: self.forkRequested.emit(self.message_id or ""))
        return m

    def _show_menu(self) -> None:
        if self.menu_button is not None:
            self.menu().exec(self.menu_button.mapToGlobal(self.menu_button.rect().bottomLeft()))

    def copy(self) -> None:
        copy_text(self.raw_text)
        if self.copy_button is not None:
            self.copy_button.setText("Copied ✓")
