"""An answer's markdown cut into blocks: prose and fenced code. Pure functions, no Qt.

Code blocks are shown as widgets of their own (with a "Copy code" button that copies exactly the code), and a
streaming answer is rendered block by block: every block but the last is settled and rendered once, only the
growing last one is rendered again on each (throttled) refresh. A code block that was cut before its closing
fence (a stopped or length-limited answer) is still a code block, so its line breaks survive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")


@dataclass(frozen=True)
class Block:
    """One piece of an answer. ``kind``: ``prose`` (markdown) or ``code`` (``text`` is the code itself, without
    its fences; ``lang`` the fence's language word, "" if none; ``closed`` False when the fence was never
    closed)."""

    kind: str
    text: str
    lang: str = ""
    closed: bool = True


def split_blocks(text: str, paragraphs: bool = False) -> list[Block]:
    """Cut ``text`` into prose and code blocks, in order; empty prose between blocks is dropped. With
    ``paragraphs``, prose is also cut at blank lines (the streaming view: finished paragraphs are settled)."""
    blocks: list[Block] = []
    prose: list[str] = []
    code: list[str] = []
    fence: str | None = None
    lang = ""

    def flush_prose() -> None:
        chunk = "".join(prose)
        prose.clear()
        if not chunk.strip():
            return
        if paragraphs:
            parts = re.split(r"\n[ \t]*\n(?=\S)", chunk)
            for i, p in enumerate(parts):
                if p.strip():
                    blocks.append(Block("prose", p if i == len(parts) - 1 else p + "\n"))
        else:
            blocks.append(Block("prose", chunk))

    for line in text.splitlines(keepends=True):
        if fence is None:
            m = _FENCE.match(line.rstrip("\n"))
            if m:
                flush_prose()
                fence, lang = m.group(1), m.group(2)
                continue
            prose.append(line)
        else:
            stripped = line.strip()
            if stripped and stripped[0] == fence[0] and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                blocks.append(Block("code", "".join(code).rstrip("\n"), lang, True))
                code.clear()
                fence = None
                continue
            code.append(line)
    if fence is not None:
        blocks.append(Block("code", "".join(code).rstrip("\n"), lang, False))
    flush_prose()
    return blocks


def code_blocks(text: str) -> list[str]:
    """The code of every fenced block in ``text``, in order (what the "Copy code" buttons copy)."""
    return [b.text for b in split_blocks(text) if b.kind == "code"]


def fenced(block: Block) -> str:
    """A code block as markdown again (for the renderer), with a fence longer than any run of backticks in it."""
    longest = max((len(r) for r in re.findall(r"`+", block.text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{block.lang}\n{block.text}\n{fence}\n"
