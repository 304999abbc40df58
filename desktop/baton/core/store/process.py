"""Which process wrote a streaming answer, and whether it still runs (for crash recovery)."""

from __future__ import annotations

import os


def process_token(pid: int | None = None) -> str:
    """``pid:start_time``: names one process even after its pid is reused (containers, reboots)."""
    pid = os.getpid() if pid is None else pid
    try:
        import psutil

        started = psutil.Process(pid).create_time()
    except Exception:  # psutil missing or the process is gone: the pid alone
        started = 0.0
    return f"{pid}:{started:.2f}"


def writer_alive(token: str | None) -> bool:
    """Whether the process that wrote a streaming answer still runs."""
    if not token:
        return False
    try:
        pid = int(token.split(":", 1)[0])
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
    except Exception:  # bad token, no such process, psutil missing
        return False
    return process_token(pid) == token
