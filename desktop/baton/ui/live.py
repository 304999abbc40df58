"""The answer being written: markdown rendered while it streams (throttled, never per token) and the status
("Escalating to …", "Stopping…") on a line of its own, outside the answer's text.

Text arrives about every 50 ms (the dispatcher's drain); it is rendered at most every ``MIN_INTERVAL_MS``, and
less often when rendering gets slow (the interval is ``COST_FACTOR`` times the last render's cost), so a long
answer never takes the event loop for long. Only the growing last block is rendered again (ui/bubble.py).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

from baton.ui.bubble import Bubble, MessageBody, text_label
from baton.ui.render import Renderer

MIN_INTERVAL_MS = 250
MAX_INTERVAL_MS = 1000
COST_FACTOR = 8


class LiveAnswer(Bubble):
    """The live bubble. ``text()`` is the raw text so far; ``renders`` counts the markdown renders (a test and a
    benchmark read it: far fewer than the pieces of text that arrived)."""

    def __init__(self, renderer: Renderer, status: str, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__("assistant", "Answer", parent)
        self.setObjectName("liveAnswer")
        self._raw = ""
        self.renders = 0
        self.draft: QLabel | None = None
        self.status = QLabel(status)
        self.status.setObjectName("liveStatus")
        self.status.setWordWrap(True)
        self.content = MessageBody(renderer)
        self.body.addWidget(self.content)
        self.body.addWidget(self.status)
        self.status.setVisible(bool(status))
        self._timer = QTimer(self)
        self._timer.setObjectName("live-render")
        self._timer.setSingleShot(True)
        self._timer.setInterval(MIN_INTERVAL_MS)
        self._timer.timeout.connect(self.render)
        if text:
            self._raw = text
            self.render()

    def text(self) -> str:
        return self._raw

    def append(self, text: str) -> None:
        """Add streamed text; it is shown at the next throttled render."""
        self._raw += text
        if not self._timer.isActive():
            self._timer.start()

    def render(self) -> None:
        """Render the markdown now (the timer calls this; so does the end of a restart)."""
        t0 = time.perf_counter()
        self.content.set_text(self._raw, live=True)
        self.renders += 1
        cost_ms = (time.perf_counter() - t0) * 1000.0
        self._timer.setInterval(int(min(MAX_INTERVAL_MS, max(MIN_INTERVAL_MS, COST_FACTOR * cost_ms))))

    def restart(self, draft: str, note: str) -> None:
        """An escalation replaces the answer so far: keep it above, faded and labelled, and start again."""
        if self.draft is None:
            self.draft = text_label("", rich=False, name="draftText")
            self.body.insertWidget(1, self.draft)
        self.draft.setText(f"{note}\n{draft.strip()}" if draft.strip() else note)
        self._raw = ""
        self.render()

    def set_status(self, status: str) -> None:
        self.status.setText(status)
        self.status.setVisible(bool(status))

    def stop(self) -> None:
        self._timer.stop()
