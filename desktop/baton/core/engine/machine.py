"""What the machine offers the engine: CPU cores and RAM."""

from __future__ import annotations

import os


def physical_cores() -> int:
    """Physical CPU cores (psutil), else logical ones, at least 1: what ``engine.n_threads = 0`` means."""
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - psutil may be missing in odd bundles
        n = None
    return max(1, n or os.cpu_count() or 1)


def total_ram_bytes() -> int | None:
    """Total RAM (Units: bytes) from psutil, or None when it cannot be read."""
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001
        return None
