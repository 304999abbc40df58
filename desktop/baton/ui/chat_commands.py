"""The chat's keyboard commands on the latest messages of the shown thread: copy the last answer or its last code
block, edit the last question, regenerate, fork, browse versions. Each is also a menu entry (and so in the command
palette); the same things are buttons on every bubble. GUI thread only."""

from __future__ import annotations

from collections.abc import Callable

from baton.ui.backend import MessageView
from baton.ui.blocks import code_blocks
from baton.ui.bubble import copy_text
from baton.ui.session import Session


class ChatCommands:
    """Commands over ``session``'s shown thread; ``say`` puts one line in the status bar."""

    def __init__(self, session: Session, say: Callable[[str], None]) -> None:
        self.session = session
        self.say = say

    def _last(self, role: str) -> MessageView | None:
        return next((m for m in reversed(self.session._shown) if m.role == role and m.status != "escalated"), None)

    def copy_answer(self) -> None:
        m = self._last("assistant")
        if m is None or not m.content:
            self.say("No answer to copy in this thread yet.")
            return
        copy_text(m.content)
        self.say("Copied the last answer.")

    def copy_code(self) -> None:
        m = self._last("assistant")
        blocks = code_blocks(m.content) if m is not None else []
        if not blocks:
            self.say("The last answer has no code block.")
            return
        copy_text(blocks[-1])
        self.say("Copied the last code block (the code only).")

    def edit_last(self) -> None:
        m = self._last("user")
        if m is None:
            self.say("No question to edit in this thread yet.")
            return
        self.session.begin_edit(m.id)

    def regenerate(self) -> None:
        m = self._last("assistant")
        if m is None:
            self.say("No answer to regenerate in this thread yet.")
            return
        route = (m.receipt or {}).get("route") or {}
        if route.get("tier") == "cloud":
            self.session.retry(m.id, "cloud", str(route.get("endpoint") or ""))
        else:
            self.session.retry(m.id, "local", "")

    def fork_here(self) -> None:
        m = self.session._shown[-1] if self.session._shown else None
        if m is None:
            self.say("Nothing to fork in this thread yet.")
            return
        self.session.fork(m.id)

    def browse(self, delta: int) -> None:
        """Show the previous (-1) or next (+1) version of the last answer (or, with one answer version, of the
        last question)."""
        for role in ("assistant", "user"):
            m = self._last(role)
            if m is not None and len(m.versions) > 1:
                i = m.version_index + delta
                if 0 <= i < len(m.versions):
                    self.session.show_version(m.versions[i])
                    self.say(f"Version {i + 1} of {len(m.versions)}.")
                return
        self.say("The last answer has only one version.")
