"""`baton gui` caps glibc's malloc arenas (ui/heap.limit_arenas): threads then share one heap instead of each
keeping its own freed pages. Checked in child processes (the cap is process-wide) by counting the heaps glibc
itself reports (``malloc_info``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from baton.ui.heap import limit_arenas

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import ctypes, sys, tempfile, threading
sys.path.insert(0, sys.argv[1])
from baton.ui.heap import limit_arenas
capped = limit_arenas(1) if sys.argv[2] == "cap" else None
barrier = threading.Barrier(6)
def work():
    barrier.wait()  # all at once, so glibc would hand out separate arenas
    blocks = [bytearray(200_000) for _ in range(20)]
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
path = tempfile.mktemp()
fp = libc.fopen(path.encode(), b"w"); libc.malloc_info(0, fp); libc.fclose(fp)
print(capped, open(path).read().count("<heap nr="))
"""


def _heaps(mode: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    import os

    run_env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    run_env.update(env or {})
    out = subprocess.run([sys.executable, "-c", CHILD, str(REPO / "desktop"), mode], capture_output=True, text=True,
                         env=run_env, timeout=60, check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_threads_share_one_heap_once_capped():
    capped, heaps = _heaps("cap")
    assert capped == "True" and heaps == 1
    _, uncapped = _heaps("none")
    assert uncapped > 1  # without the cap the six threads got heaps of their own


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_the_users_malloc_arena_max_wins():
    capped, heaps = _heaps("cap", {"MALLOC_ARENA_MAX": "3"})
    assert capped == "False" and heaps > 1
    assert limit_arenas(1, env={"MALLOC_ARENA_MAX": "2"}) is False  # nothing changed in this process either
