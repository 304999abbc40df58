"""The window hands freed heap pages back after an answer and after a dialog closes (ui/heap.py)."""

from __future__ import annotations

import sys
import threading

import psutil
import pytest

from baton.ui.cockpit import open_totals
from baton.ui.heap import release_freed_memory
from tests.ui.conftest import wait_idle



def _fragment_in_thread(n: int, size: int) -> list[bytes]:
    """Allocate ``n`` blocks of ``size`` bytes in a worker thread (its own arena) and keep only the last one, so the
    freed blocks sit below a live one: ``free`` alone cannot shrink that heap."""
    kept: list[bytes] = []

    def work() -> None:
        blocks = [bytes(size) for _ in range(n)]
        kept.append(blocks[-1])
        del blocks

    t = threading.Thread(target=work)
    t.start()
    t.join()
    return kept


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_release_freed_memory_returns_pages_a_worker_freed():
    proc = psutil.Process()
    kept = _fragment_in_thread(40_000, 2000)  # ~80 MB freed behind one live block
    before = proc.memory_info().rss
    assert release_freed_memory() is True
    after = proc.memory_info().rss
    assert before - after > 30 * 1024 * 1024, (before, after)
    assert len(kept[0]) == 2000


def test_window_trims_after_an_answer_and_after_a_dialog(qtbot, make_window):
    h = make_window()
    w = h.window
    t = w.heap_trimmer
    start = t.trims
    w.session.send("what is 2+2?", "local")
    wait_idle(qtbot, h)
    qtbot.waitUntil(lambda: t.trims > start, timeout=5000)
    after_answer = t.trims
    dlg = open_totals(w)
    qtbot.waitUntil(dlg.isVisible, timeout=2000)
    dlg.reject()
    qtbot.waitUntil(lambda: t.trims > after_answer, timeout=5000)
    assert not t.timer.isActive()
