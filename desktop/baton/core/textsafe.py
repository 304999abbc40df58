"""Text made safe to show: terminal control characters made visible (no Qt, no terminal needed).

``safe_for_terminal(text)`` makes escape sequences and other control characters visible (``ESC`` becomes ``^[``, C1
controls ``\\x9b``, bidi overrides ``<U+202E>``) so a model's or a server's answer cannot write the clipboard (OSC 52),
set the window title, clear the screen or reorder what is shown. Keeps ``\\n``, ``\\t`` and ``\\r\\n``. Used by the CLI
and by exports (``thread_doc``); the store and ``--json`` keep text verbatim.
"""

from __future__ import annotations

import re

# C0 controls except \t and \n, a \r not followed by \n, DEL, C1 controls, bidi embeddings/overrides/
# isolates and marks, and lone surrogates (undecodable bytes from surrogateescape).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
    "|\r(?!\n)"
)


def _visible(m: re.Match[str]) -> str:
    ch = m.group(0)
    code = ord(ch)
    if code < 0x20:
        return "^" + chr(code + 0x40)  # ESC -> ^[, BEL -> ^G, BS -> ^H, CR -> ^M
    if code == 0x7F:
        return "^?"
    if code <= 0x9F:
        return f"\\x{code:02x}"
    return f"<U+{code:04X}>"


def safe_for_terminal(text: str) -> str:
    """``text`` with every terminal control made visible; printable text, ``\\n``, ``\\t`` unchanged.

    Shape: str -> str, never longer than 8x the input. Idempotent on its own output."""
    return _UNSAFE.sub(_visible, text)
