"""This process's memory: resident set, split into file-backed mapped pages (the memory-mapped
model, shared libraries) and private (anonymous) memory, plus VRAM where a GPU sensor can tell.

On Linux psutil reads ``/proc/self/statm``, whose ``shared`` field is the resident file-backed
and shmem pages: cheap enough to poll at 4 Hz (``/proc/self/smaps_rollup`` gives the same split
but walks every mapping). Windows reports private bytes; macOS gives no split (all counted as
private).
"""

from __future__ import annotations

import sys
from typing import Any

import psutil


class MemoryReader:
    """Reads this process's memory from /proc/self (psutil elsewhere). Units: bytes."""
    def __init__(self, pid: int | None = None) -> None:
        self._proc = psutil.Process(pid)

    def read(self) -> dict[str, int]:
        """``rss_bytes``, ``rss_mapped_bytes`` (file-backed, e.g. mmapped weights) and ``rss_private_bytes``."""
        mi: Any = self._proc.memory_info()
        rss = int(mi.rss)
        if sys.platform.startswith("linux") and hasattr(mi, "shared"):
            mapped = min(rss, int(mi.shared))
        elif sys.platform == "win32" and hasattr(mi, "private"):
            mapped = max(0, rss - min(rss, int(mi.private)))
        else:
            mapped = 0
        return {"rss_bytes": rss, "rss_mapped_bytes": mapped, "rss_private_bytes": rss - mapped}


def smaps_rollup_split(path: str = "/proc/self/smaps_rollup") -> dict[str, int] | None:
    """The exact split from ``smaps_rollup`` (Linux >= 4.14): file-backed = Rss - Anonymous."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].endswith(":") and parts[2] == "kB":
            try:
                values[parts[0][:-1]] = int(parts[1]) * 1024
            except ValueError:
                continue
    if "Rss" not in values or "Anonymous" not in values:
        return None
    rss, anon = values["Rss"], values["Anonymous"]
    return {"rss_bytes": rss, "rss_mapped_bytes": max(0, rss - anon), "rss_private_bytes": anon}
