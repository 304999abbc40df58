"""Names as people see them: a file name that may not be valid UTF-8, a size label like "135M"."""

from __future__ import annotations

import os
from typing import Any


def printable(path: Any) -> str:
    """A path or name as text that can always be printed and stored: bytes that are not UTF-8 (kept by
    Python as surrogate escapes) shown as U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")


def parse_size_label(label: str) -> int | None:
    """``"135M"`` -> 135_000_000; ``"8x7B"`` -> 56e9; None when it is not a size."""
    label = label.strip().upper()
    mult = 1
    if "X" in label:
        head, _, label = label.partition("X")
        if not head.isdigit():
            return None
        mult = int(head)
    scale = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}.get(label[-1:] if label else "")
    if scale is None:
        return None
    try:
        return int(float(label[:-1]) * scale * mult)
    except ValueError:
        return None
