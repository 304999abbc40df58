"""Saves a streaming answer as it grows, at most once per ``interval_s``.

``append`` is called for every streamed chunk, so it only appends to a list and reads a clock; the
text is joined and written when the interval has passed. A process killed with SIGKILL therefore
loses at most the last interval of text, and the next start labels the answer ``interrupted``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from baton.core.errors import StoreError
from baton.core.store.db import Store


class AnswerWriter:
    """Keeps one streaming answer in the store: ``append`` text, ``finish`` with a status and a receipt."""

    def __init__(
        self,
        store: Store,
        message_id: str,
        interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.message_id = message_id
        self.interval_s = float(interval_s)
        self._clock = clock
        self._parts: list[str] = []
        self._dirty = False
        self._last_save = clock()
        self.saves = 0
        self.finished = False
        # The last failed intermediate save (disk full, locked); the text stays in memory and the
        # next save retries. ``finish`` raises instead, so the caller can tell the user.
        self.last_error: StoreError | None = None

    @property
    def text(self) -> str:
        """All text appended so far, joined."""
        return "".join(self._parts)

    def append(self, text: str) -> None:
        """Add streamed ``text`` (empty text is ignored); saves the answer so far when ``interval_s`` has passed
        since the last save. A failed intermediate save is kept in ``last_error`` and retried on the next one.
        Raises ``StoreError`` when the answer is already finished."""
        if self.finished:
            raise StoreError("this answer is already finished: start a new one to add text")
        if not text:
            return
        self._parts.append(text)
        self._dirty = True
        now = self._clock()
        if now - self._last_save >= self.interval_s:
            self._save(now)

    def flush(self) -> None:
        """Write the text so far now, whatever the interval."""
        if self._dirty and not self.finished:
            self._save(self._clock())

    def _save(self, now: float) -> None:
        self._last_save = now
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        try:
            self.store.update_answer(self.message_id, self._parts[0])
        except StoreError as e:
            self.last_error = e
            return
        self._dirty = False
        self.last_error = None
        self.saves += 1

    def finish(self, status: str, receipt: dict[str, Any] | None = None, note: str | None = None) -> str:
        """Save the final text, status and receipt in one transaction; returns the text.

        On a StoreError nothing is lost: the text stays here and ``finish`` may be called again.
        """
        text = self.text
        self.store.finish_answer(self.message_id, text, status, receipt, note)
        self.finished = True
        self._dirty = False
        return text
