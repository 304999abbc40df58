"""The Engine protocol every layer above the engine talks to."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from baton.core.types import ChatMessage, Chunk, GenerationRequest


@runtime_checkable
class Engine(Protocol):
    """What every layer above the engine sees of a model: ``model_id``, ``n_ctx`` (tokens of context per sequence),
    and ``load``, ``stream``, ``count_prompt_tokens``, ``close``. ``LlamaEngine`` runs llama.cpp; ``FakeEngine``
    is the test double."""

    model_id: str
    n_ctx: int
    # LlamaEngine and FakeEngine also carry ``notices: list[str]``: plain sentences about what was adapted
    # (n_ctx clamped to the trained context, a chat template without a system role), for receipts.

    def load(self) -> float:
        """Load the weights (idempotent). Returns the seconds it took (0 when already loaded)."""

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[Chunk]:
        """Yield text chunks; the last chunk carries the ``Completion``. Cancel is checked between tokens."""

    def count_prompt_tokens(self, messages: list[ChatMessage]) -> int:
        """Tokens the prompt takes after the chat template is applied."""

    def close(self) -> None:
        """Free the model."""
