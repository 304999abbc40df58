"""Turn chat messages into a prompt with the model's own chat template, safely.

The template (``tokenizer.chat_template`` from the GGUF) is Jinja, rendered in a sandbox
(``ImmutableSandboxedEnvironment``) with the helpers Hugging Face templates expect: ``raise_exception``,
``strftime_now``, a ``tojson`` that does not HTML-escape, ``loopcontrols`` and ``{% generation %}``.

What the prompt guarantees:

- Message content stays *text*. The template is rendered with a placeholder for each content; the result
  is a list of ``Piece``s: the template's own markup (``special=True``: special-token strings in it become
  special tokens) and the contents (``special=False``: a user typing ``<|im_end|>`` gets the characters, not
  the token). Rendering once more with the real contents catches templates that transform content
  (``| trim``, ``split('</think>')``): the transformed text is what goes in.
- The history always suits the template. Empty assistant turns are dropped, consecutive turns of one role
  are merged, system messages go first. A template that raises (Gemma: "System role not supported",
  Mistral: "roles must alternate") or silently drops the system text is tried again with the system text
  folded into the first user turn, then with a user turn put before a leading assistant turn.
- A template that still fails, or that does not compile, is replaced by a generic format (ChatML when the
  vocabulary has its tokens, else a plain transcript) and a note says so: never a traceback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from baton.core.types import ChatMessage

MAX_NOTE_CHARS = 160
LEADING_USER_TEXT = "(continuing the conversation)"
_SENTINEL = "\ue000{}\ue001"  # private-use characters: no template or tokenizer gives them meaning
_SENTINEL_RE = re.compile("\ue000(\\d+)\ue001")


@dataclass(frozen=True)
class Piece:
    """A run of prompt text. ``special``: template markup (special-token strings become tokens);
    otherwise message content, tokenized as plain text."""

    text: str
    special: bool


@dataclass
class RenderedPrompt:
    """A prompt as pieces, the strings that end the answer, and what had to be adapted (plain sentences)."""

    pieces: list[Piece]
    stops: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    format: str = "template"  # "template" | "chatml" | "transcript"

    @property
    def text(self) -> str:
        """The whole prompt as one string (the pieces joined)."""
        return "".join(p.text for p in self.pieces)


class _TemplateFailed(Exception):
    pass


def _raise_exception(message: Any) -> None:
    from jinja2.exceptions import TemplateError

    raise TemplateError(str(message))


def _tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def compile_template(source: str) -> Any:
    """Compile a chat template in a fresh sandboxed environment. Raises ``jinja2.TemplateError`` on bad syntax."""
    from jinja2 import nodes
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _Generation(Extension):
        """``{% generation %}...{% endgeneration %}`` (marks assistant text for training): rendered as is."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body).set_lineno(lineno)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, _Generation])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(source)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= MAX_NOTE_CHARS else text[: MAX_NOTE_CHARS - 3] + "..."


def normalize_history(messages: list[ChatMessage]) -> list[ChatMessage]:
    """System messages first (joined), contents stripped, empty assistant turns dropped, consecutive turns of
    one role merged with a blank line. The result alternates user/assistant after the optional system turn,
    except that it may start with an assistant turn (see ``lead_with_user``)."""
    system = [m.content.strip() for m in messages if m.role == "system" and m.content.strip()]
    out: list[ChatMessage] = [ChatMessage("system", "\n\n".join(system))] if system else []
    for m in messages:
        if m.role == "system":
            continue
        text = m.content.strip()
        if not text and m.role == "assistant":
            continue  # a failed or cancelled answer left nothing
        if out and out[-1].role == m.role:
            out[-1] = ChatMessage(m.role, f"{out[-1].content}\n\n{text}" if text else out[-1].content)
        else:
            out.append(ChatMessage(m.role, text))
    return out


def fold_system(messages: list[ChatMessage]) -> list[ChatMessage]:
    """The system text moved to the start of the first user turn (for templates without a system role)."""
    if not messages or messages[0].role != "system":
        return list(messages)
    system, rest = messages[0].content, list(messages[1:])
    for i, m in enumerate(rest):
        if m.role == "user":
            rest[i] = ChatMessage("user", f"{system}\n\n{m.content}" if m.content else system)
            return rest
    return [ChatMessage("user", system), *rest]


def lead_with_user(messages: list[ChatMessage]) -> list[ChatMessage]:
    """A short user turn put before a leading assistant turn, for templates that demand user first."""
    head = 1 if messages and messages[0].role == "system" else 0
    if len(messages) > head and messages[head].role == "assistant":
        return [*messages[:head], ChatMessage("user", LEADING_USER_TEXT), *messages[head:]]
    return list(messages)


class ChatFormat:
    """A model's chat format: its Jinja template when it has a working one, else a generic format.

    ``template``: the GGUF's ``tokenizer.chat_template`` (None or "" for a base model). ``bos_token`` and
    ``eos_token``: the vocabulary's texts for those tokens (what ``{{ bos_token }}`` renders). ``chatml``: the
    vocabulary has ChatML's ``<|im_start|>``/``<|im_end|>`` tokens, so the fallback uses ChatML rather than a
    plain transcript. ``notes`` holds sentences about the format itself (a template that does not compile).
    """

    def __init__(self, template: str | None, bos_token: str = "", eos_token: str = "", chatml: bool = False) -> None:
        self.bos_token, self.eos_token = bos_token, eos_token
        self.fallback = "chatml" if chatml else "transcript"
        self.notes: list[str] = []
        self._template: Any = None
        if template and template.strip():
            try:
                self._template = compile_template(template)
            except Exception as e:  # noqa: BLE001 - any compile failure means "use the generic format"
                self.notes.append(f"the model's chat template does not compile ({_one_line(e)}); "
                                  f"Baton uses a generic {self.fallback} format")
        else:
            self.notes.append(f"the model has no chat template; Baton uses a generic {self.fallback} format")

    @property
    def has_template(self) -> bool:
        """True when the model's own chat template compiled and is used (False: the generic fallback format)."""
        return self._template is not None

    # ---- rendering -----------------------------------------------------------------------------
    def render(self, messages: list[ChatMessage]) -> RenderedPrompt:
        """The prompt for ``messages`` (ending with the assistant's turn opened). Never raises for a template's
        sake: what was adapted is in ``notes``."""
        base = normalize_history(messages)
        if self._template is None:
            return self._generic(base, [])
        attempts = [
            (base, []),
            (fold_system(base), ["the chat template has no system role: the system text went into the first "
                                 "user turn"]),
            (lead_with_user(fold_system(base)), ["the chat template needs the user to speak first: Baton put a "
                                                 "short user turn before the first answer"]),
        ]
        error: BaseException | None = None
        for msgs, notes in attempts:
            if msgs is not base and msgs == base:
                continue
            try:
                out = self._render_template(msgs)
            except _TemplateFailed as e:
                error = e.__cause__ or e
                continue
            dropped = out.notes
            if any(r == "system" for r in dropped) and msgs and msgs[0].role == "system":
                continue  # the template ignores system messages: try again with it folded
            out.notes = notes + [f"the chat template left out a {r} turn" for r in dropped]
            return out
        note = f"the model's chat template failed ({_one_line(error) if error else 'no output'}); " \
               f"Baton used a generic {self.fallback} format"
        return self._generic(lead_with_user(base), [note])

    def _env_kwargs(self, msgs: list[dict[str, str]]) -> dict[str, Any]:
        return {"messages": msgs, "add_generation_prompt": True, "bos_token": self.bos_token,
                "eos_token": self.eos_token, "tools": None, "documents": None}

    def _render_template(self, messages: list[ChatMessage]) -> RenderedPrompt:
        holders = [{"role": m.role, "content": _SENTINEL.format(i)} for i, m in enumerate(messages)]
        real = [{"role": m.role, "content": m.content} for m in messages]
        try:
            shaped = self._template.render(**self._env_kwargs(holders))
            full = self._template.render(**self._env_kwargs(real))
        except Exception as e:  # noqa: BLE001 - jinja errors, raise_exception, TypeErrors inside templates
            raise _TemplateFailed from e
        parts = _SENTINEL_RE.split(shaped)
        markup, idx = parts[0::2], [int(i) for i in parts[1::2]]
        contents = [messages[i].content for i in idx]
        if "".join(_interleave(markup, contents)) != full:
            contents = _transformed_contents(markup, full) or contents
        pieces = [Piece(t, special) for t, special in _interleave_tagged(markup, contents) if t]
        seen = set(idx)
        dropped = [m.role for i, m in enumerate(messages) if i not in seen and m.content]
        stops = [self.eos_token] if self.eos_token else []
        return RenderedPrompt(pieces, stops, dropped, "template")

    def _generic(self, messages: list[ChatMessage], notes: list[str]) -> RenderedPrompt:
        pieces: list[Piece] = []
        if self.fallback == "chatml":
            for m in messages:
                pieces += [Piece(f"<|im_start|>{m.role}\n", True), Piece(m.content, False), Piece("<|im_end|>\n", True)]
            pieces.append(Piece("<|im_start|>assistant\n", True))
            stops = ["<|im_end|>"]
        else:
            for m in messages:
                pieces += [Piece(f"{m.role.capitalize()}: ", True), Piece(m.content, False), Piece("\n\n", True)]
            pieces.append(Piece("Assistant:", True))
            stops = ["\nUser:", "\nSystem:"]
        return RenderedPrompt([p for p in pieces if p.text], stops, notes, self.fallback)


def _interleave(markup: list[str], contents: list[str]) -> list[str]:
    out = [markup[0]]
    for c, m in zip(contents, markup[1:]):
        out += [c, m]
    return out


def _interleave_tagged(markup: list[str], contents: list[str]) -> list[tuple[str, bool]]:
    out = [(markup[0], True)]
    for c, m in zip(contents, markup[1:]):
        out += [(c, False), (m, True)]
    return out


def _transformed_contents(markup: list[str], full: str) -> list[str] | None:
    """The contents as the template printed them (trimmed, split...), read out of the real rendering between
    the markup runs; None when the markup does not occur exactly as often as in the placeholder rendering
    (a content that itself holds the markup would make the split ambiguous)."""
    for m in set(markup):
        if m and full.count(m) != sum(x.count(m) for x in markup):
            return None
    pattern = "".join(_interleave([re.escape(m) for m in markup], ["(.*?)"] * (len(markup) - 1)))
    match = re.fullmatch(pattern, full, re.DOTALL)
    return list(match.groups()) if match else None
