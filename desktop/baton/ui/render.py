"""Markdown to the HTML subset Qt's rich text understands, with code highlighted by Pygments.

Rendered once, when an answer has settled (never per token). Raw HTML in a model's answer is shown
as text, not interpreted. Results are cached by (message id, theme) so switching threads is cheap.
"""

from __future__ import annotations

import html
from collections import OrderedDict

import markdown

LIGHT_CODE_STYLE = "friendly"
DARK_CODE_STYLE = "monokai"
CACHE_ENTRIES = 256


class Renderer:
    def __init__(self, dark: bool = False) -> None:
        self._dark = dark
        self._md = self._make()
        self._cache: OrderedDict[tuple[str, str], str] = OrderedDict()

    @property
    def dark(self) -> bool:
        return self._dark

    def set_dark(self, dark: bool) -> None:
        if dark != self._dark:
            self._dark = dark
            self._md = self._make()
            self._cache.clear()

    def _make(self) -> markdown.Markdown:
        md = markdown.Markdown(
            extensions=["fenced_code", "codehilite", "tables", "sane_lists"],
            extension_configs={"codehilite": {
                "noclasses": True, "guess_lang": False,
                "pygments_style": DARK_CODE_STYLE if self._dark else LIGHT_CODE_STYLE,
            }},
        )
        # A model's answer is text: show any HTML in it literally instead of rendering it.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        return md

    def to_html(self, text: str, key: str | None = None) -> str:
        cache_key = (key, "dark" if self._dark else "light") if key else None
        if cache_key is not None and cache_key in self._cache:
            self._cache.move_to_end(cache_key)
            return self._cache[cache_key]
        self._md.reset()
        try:
            body = self._md.convert(text)
        except Exception:  # a pathological input must never take the window down
            body = f"<p>{html.escape(text)}</p>"
        body = _qt_friendly(body)
        if cache_key is not None:
            self._cache[cache_key] = body
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return body


def plain_to_html(text: str) -> str:
    """Streaming text shown as-is (escaped, line breaks kept)."""
    return "<p style='white-space: pre-wrap'>" + html.escape(text) + "</p>"


def _qt_friendly(body: str) -> str:
    """Small fixes for Qt's HTML subset: wrap long code lines, give tables visible cells."""
    body = body.replace('<pre style="line-height: 125%;">',
                        '<pre style="white-space: pre-wrap; margin: 6px;">')
    body = body.replace("<table>", '<table border="1" cellspacing="0" cellpadding="4">')
    return body
