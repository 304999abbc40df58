"""Text at the CLI's edges: prompts in (valid UTF-8 only) and model text out (no terminal control).

- ``read_prompt(arg)``: the prompt from its argument, or from stdin when the argument is ``-`` or
  absent; text that is not valid UTF-8 (argv decoded with surrogateescape, or stdin bytes) is refused
  with one line (``UsageError``), never a traceback.
- ``safe_for_terminal(text)``: makes escape sequences and other control characters visible
  (``ESC`` becomes ``^[``, C1 controls ``\\x9b``, bidi overrides ``<U+202E>``) so a model's or a
  server's answer cannot write the clipboard (OSC 52), set the window title, clear the screen or
  reorder what is shown. Keeps ``\\n``, ``\\t`` and ``\\r\\n``. The store and ``--json`` keep text verbatim.
"""

from __future__ import annotations

import sys
from typing import BinaryIO

from baton.core.errors import UsageError

from baton.core.textsafe import safe_for_terminal  # noqa: F401 (the CLI imports it from here)


def not_utf8_message(what: str) -> str:
    return (f"{what} is not valid UTF-8 text (it holds bytes that are not characters); "
            "convert it to UTF-8 (e.g. `iconv -f LATIN1 -t UTF-8`) and try again")


def check_utf8(text: str, what: str = "the prompt") -> str:
    """Return ``text`` if it holds only characters; ``UsageError`` when it carries surrogates (bytes
    that were not UTF-8, kept by surrogateescape, or a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(not_utf8_message(what)) from None
    return text


def read_prompt(arg: str | None, stdin: BinaryIO | None = None) -> str:
    """The prompt: ``arg`` itself, or stdin read as UTF-8 when ``arg`` is None or ``"-"``.

    Raises ``UsageError`` (exit 2) when the text is not valid UTF-8 or is empty after stripping."""
    if arg is not None and arg != "-":
        text = check_utf8(arg, "the prompt")
    else:
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise UsageError(not_utf8_message(f"the prompt on stdin (byte {e.start})")) from None
    if not text.strip():
        raise UsageError("the prompt is empty; give it as an argument or on stdin (`baton ask -`)")
    return text


def check_argv(argv: list[str]) -> None:
    """``UsageError`` naming the argument when one holds bytes that are not UTF-8 (argv arrives
    with surrogateescape on POSIX). A file path (the value of ``--model``, or an argument with a ``/``) may
    hold such bytes: file names on Linux are bytes, and Baton loads those models."""
    command = next((a for a in argv if not a.startswith("-")), "")
    for i, arg in enumerate(argv):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            prev = argv[i - 1] if i > 0 else ""
            if prev in PATH_OPTIONS or "/" in arg:
                continue
            if prev.startswith("-"):
                what = f"the value of {prev}"
            elif command == "ask" and not arg.startswith("-"):
                what = "the prompt"
            else:
                what = f"argument {i + 1}"
            raise UsageError(not_utf8_message(what)) from None


PATH_OPTIONS = ("--model",)
