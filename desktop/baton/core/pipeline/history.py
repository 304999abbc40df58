"""The messages a tier is sent for a thread: its current path, cleaned so every chat template accepts it."""

from __future__ import annotations

from collections.abc import Iterable

from baton.core.store.records import Message, Status
from baton.core.types import ChatMessage

# Answers worth sending back as context: finished ones, and stopped ones with the text the user saw.
_SENDABLE = frozenset({Status.DONE, Status.LOOP, Status.CANCELLED, Status.INTERRUPTED})


def history_from_path(path: Iterable[Message]) -> list[ChatMessage]:
    """User and assistant turns of a thread's current path, in order, that alternate user/assistant and start
    with a user turn. A question left without a usable answer (the answer failed, was refused or was empty) is
    joined with the question that follows it (nothing the user wrote is lost), so templates that demand
    alternating roles (Mistral, Gemma) accept the history. Combine with ``alternate`` after adding a question."""
    out: list[ChatMessage] = []
    for m in path:
        if m.role == "user" and m.content.strip():
            if out and out[-1].role == "user":  # its answer never came
                out[-1] = ChatMessage("user", f"{out[-1].content}\n\n{m.content}")
                continue
            out.append(ChatMessage("user", m.content))
        elif m.role == "assistant" and m.content.strip() and m.status in _SENDABLE:
            if out and out[-1].role == "user":
                out.append(ChatMessage("assistant", m.content))
    return out


def alternate(messages: list[ChatMessage]) -> list[ChatMessage]:
    """``messages`` with system messages first (joined into one) and consecutive turns of the same role merged,
    so roles alternate (a new question after an unanswered one is joined to it)."""
    system = [m.content for m in messages if m.role == "system"]
    out: list[ChatMessage] = [ChatMessage("system", "\n\n".join(system))] if system else []
    for m in messages:
        if m.role == "system":
            continue
        if out and out[-1].role == m.role:
            out[-1] = ChatMessage(m.role, f"{out[-1].content}\n\n{m.content}")
        else:
            out.append(ChatMessage(m.role, m.content))
    return out
