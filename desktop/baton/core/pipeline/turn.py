"""The request object and the protocol every tier implements.

A ``Turn`` is built once per request by the service: the thread, the stored question it answers, the messages
as they will be sent (system prompt, history on the thread's current path, the question), the resolved sampling
parameters and the caller's callbacks. A ``Tier`` (``LocalTier``: an engine and the meter; ``RemoteTier``: an
OpenAI-compatible client, the privacy gate and the endpoint's prices) answers it: ``run`` streams the text to a
sink and returns a ``TierRun`` with the completion and what it cost. Asking, escalating and retrying are the same
call with a different tier.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

from baton.core.types import ChatMessage, Completion, Measurement, SamplingParams

TextSink = Callable[[str], None]


class Phase(StrEnum):
    """Where a request is: code branches on these, never on the wording of a status line."""

    LOADING = "loading"  # loading the local model
    GENERATING = "generating"  # the local model is answering
    ASKING = "asking"  # a remote tier is answering (chosen before generating)
    ESCALATING = "escalating"  # a remote tier is answering after a local answer was judged too weak
    WAITING = "waiting"  # waiting for the user (approval) or for a remote tier's rate limit


class Progress(str):
    """A status line for people (the string itself) with its ``phase`` for code."""

    phase: Phase

    def __new__(cls, phase: Phase, text: str) -> "Progress":
        obj = super().__new__(cls, text)
        obj.phase = Phase(phase)
        return obj


def _noop(_text: str) -> None:
    return None


@dataclass
class Turn:
    """One request from ask to receipt.

    ``messages``: what a tier is sent before its own trimming (local context) or gate (remote), oldest first,
    the question last. ``params``: resolved (``max_tokens`` and ``temperature`` never None). ``question_id``: the
    stored user message this answers (set by the service once the request is valid). ``mode``: ``auto``,
    ``local`` or ``cloud`` as the caller asked. ``notices``: plain sentences for the receipt and the app.
    """

    thread_id: str | None
    messages: list[ChatMessage]
    params: SamplingParams
    mode: str = "auto"
    question_id: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    on_text: TextSink = _noop
    on_status: TextSink = _noop
    approve: Callable[[Any], bool] | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def question(self) -> str:
        """The text of the last user message (what is being asked)."""
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


@dataclass
class TierRun:
    """What one tier produced for a turn: its completion, the messages it really sent (after trimming or
    redaction), energy (Units: J, each part labelled with its source), cost (Units: USD) and notices."""

    completion: Completion
    sent: list[ChatMessage]
    energy: Measurement
    usd: float = 0.0
    load_s: float = 0.0
    notices: list[str] = field(default_factory=list)
    gate: list[tuple[str, str]] = field(default_factory=list)  # (kind, place) the privacy gate acted on
    dropped_turns: int = 0  # earlier turns left out to fit the local context


class Tier(Protocol):
    """Anything that can answer a turn and say what it cost."""

    kind: str  # "local" | "cloud"
    model: str
    endpoint: str | None
    where: str  # "this_computer" | "network" | "cloud"

    def run(self, turn: Turn, sink: TextSink) -> TierRun:
        """Answer ``turn``, calling ``sink`` with each piece of text as it arrives. Raises ``ContextOverflow``,
        ``PrivacyBlocked``, ``PolicyError`` (refused before anything was sent) or ``CloudError``/``ModelError``
        (failed while answering; text already given to ``sink`` is kept by the caller)."""
        ...


def where_of_url(url: str) -> str:
    """Where text sent to ``url`` is processed: ``this_computer`` (loopback), ``network`` (a private, link-local
    or ``.local`` address) or ``cloud`` (anything else, names included: a name is not resolved to decide)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host in ("localhost", "ip6-localhost") or host.endswith(".localhost"):
        return "this_computer"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "network" if host.endswith((".local", ".lan", ".home.arpa", ".internal")) else "cloud"
    if ip.is_loopback:
        return "this_computer"
    if ip.is_private or ip.is_link_local:
        return "network"
    return "cloud"
