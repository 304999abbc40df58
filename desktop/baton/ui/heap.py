"""Hands freed heap memory back to the system once the window settles.

Every answer rebuilds the shown thread's bubbles, streams text through worker threads and decodes receipts; every
dialog builds and drops a few hundred widgets. All of that is freed (the window keeps only the shown thread's
bubbles), but glibc's allocator keeps freed pages inside its arenas, the worker threads' arenas most of all, so the
process's resident memory climbs by about a megabyte per answer although nothing is alive. ``malloc_trim(0)``
returns those pages. :class:`HeapTrimmer` calls it a moment after an answer ends or a dialog of the window closes,
once the deferred deletes have run, and never while text is streaming.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject

SETTLE_MS = 400  # after the last trigger: the old bubbles' deferred deletes have run by then


def _libc_call(name: str, argtypes: list[Any]) -> Callable[..., int] | None:
    """The C library's function ``name`` (returning int), or None where it has none (``malloc_trim`` and
    ``mallopt`` are glibc's: not on macOS, Windows or musl)."""
    try:
        fn = getattr(ctypes.CDLL(ctypes.util.find_library("c") or None), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes = argtypes
    fn.restype = ctypes.c_int
    return fn


_TRIM = _libc_call("malloc_trim", [ctypes.c_size_t])
M_ARENA_MAX = -8  # glibc's mallopt parameter number for the arena cap
APP_ARENAS = 1


def limit_arenas(arenas: int = APP_ARENAS, env: dict[str, str] | None = None) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` for the rest of the process (``mallopt(M_ARENA_MAX, arenas)``).

    glibc gives each new thread that allocates its own arena, up to 8 per core; the app starts many short-lived
    threads (answers, previews, searches, the API server's workers), and what each frees stays in its arena, so
    resident memory climbs with every answer although nothing is alive. One arena keeps freed memory in one place
    where the next allocation reuses it and ``malloc_trim`` can return it. Measured (bench/bench_gui_memory.py's
    steps, 20 answers): about 9 MB less resident and a fifth less growth per answer. Decoding is not affected:
    llama.cpp's threads work in buffers allocated once per model.

    Call it before the service starts its threads (arenas already made stay). A ``MALLOC_ARENA_MAX`` set in the
    environment wins (the user's choice; nothing is changed). Returns True when the cap was set; False without
    glibc or when the environment sets it. Never raises."""
    env = os.environ if env is None else env
    mallopt = None if env.get("MALLOC_ARENA_MAX") else _libc_call("mallopt", [ctypes.c_int, ctypes.c_int])
    return bool(mallopt(M_ARENA_MAX, max(1, int(arenas)))) if mallopt is not None else False


def release_freed_memory() -> bool:
    """Return the allocator's free pages to the system (``malloc_trim(0)``). True when the C library has the call
    and released something, False otherwise (no glibc, or nothing to give back). Never raises."""
    if _TRIM is None:
        return False
    return bool(_TRIM(0))


class HeapTrimmer(QObject):
    """Trims the heap ``SETTLE_MS`` after the last answer ends (``dispatcher.jobFinished``) or the last direct child
    of ``window`` (a dialog) goes away. ``busy()`` (a job is running or queued) postpones the trim to the next
    trigger. ``trims`` counts the calls made, for tests."""

    def __init__(self, window: Any, dispatcher: Any, busy: Callable[[], bool]) -> None:
        super().__init__(window)
        self._busy = busy
        self.trims = 0
        self.timer = window.ui.registry.timer("heap-trim", self, SETTLE_MS, self.trim, single_shot=True)
        dispatcher.jobFinished.connect(lambda _job: self.soon())
        window.installEventFilter(self)

    def soon(self) -> None:
        """Trim once the window has been quiet for ``SETTLE_MS``."""
        self.timer.start()

    def trim(self) -> None:
        if self._busy():
            return
        self.trims += 1
        release_freed_memory()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.ChildRemoved:
            self.soon()
        return False

    def stop(self) -> None:
        """Stop the pending trim (the window is closing)."""
        self.timer.stop()
