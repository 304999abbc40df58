"""A scripted engine for testing the layers above the engine (router, service, UI). Never shipped as a tier."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from baton.core.types import ChatMessage, Chunk, Completion, GenerationRequest, Timing, TokenSignals, Usage


class FakeEngine:
    """A test double of ``Engine``: answers with the pieces queued by ``enqueue`` ("ok" when the queue is empty),
    honours ``max_tokens`` and cancel between pieces, waits ``token_delay_s`` (Units: s) per piece, and records
    every request in ``requests``. No model is loaded. Like ``LlamaEngine`` it reports the tokens it processed to
    ``on_work`` (the prompt's count, then 1 per piece)."""

    def __init__(self, model_id: str = "fake", n_ctx: int = 2048, token_delay_s: float = 0.0) -> None:
        self.model_id = model_id
        self.n_ctx = n_ctx
        self.token_delay_s = token_delay_s
        self.notices: list[str] = []  # as LlamaEngine: sentences said at load (tests may append their own)
        self._queue: deque[tuple[list[str], TokenSignals]] = deque()
        self.requests: list[GenerationRequest] = []
        self.loaded = False
        self.generated_tokens = 0  # pieces sent since the start, as LlamaEngine.cache_stats reports them

    def enqueue(self, pieces: list[str] | str, signals: TokenSignals | None = None) -> None:
        """Queue the next answer: a list of pieces, or a string split at spaces (the spaces kept), with these
        confidence ``signals`` (default: confident ones)."""
        if isinstance(pieces, str):
            pieces = [w + " " for w in pieces.split(" ")]
            pieces[-1] = pieces[-1].rstrip(" ")
        self._queue.append((pieces, signals or TokenSignals(n_tokens=len(pieces), mean_top1_logprob=-0.1,
                                                            min_top1_logprob=-0.5, first_top1_logprob=-0.1,
                                                            mean_entropy=0.2, max_entropy=0.8)))

    def load(self) -> float:
        """Mark the engine loaded; returns 0.0 (Units: s)."""
        self.loaded = True
        return 0.0

    def cache_stats(self) -> dict[str, int]:
        """As ``LlamaEngine.cache_stats``: only ``generated_tokens`` (pieces sent since the start)."""
        return {"generated_tokens": self.generated_tokens}

    def count_prompt_tokens(self, messages: list[ChatMessage]) -> int:
        """A stand-in count: the words of each message plus 4 per message."""
        return sum(len(m.content.split()) + 4 for m in messages)

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None,
               on_work: Callable[[int], None] | None = None) -> Iterator[Chunk]:
        """Yield the next queued answer piece by piece, then a chunk carrying the ``Completion`` (finish ``stop``,
        ``length`` at ``max_tokens`` pieces, or ``cancelled``; usage from ``count_prompt_tokens`` and the pieces
        sent; measured timing)."""
        self.requests.append(request)
        if on_work is not None:
            on_work(self.count_prompt_tokens(request.messages))
        pieces, signals = self._queue.popleft() if self._queue else (["ok"], TokenSignals(n_tokens=1))
        t0 = time.perf_counter()
        out: list[str] = []
        finish = "stop"
        ttft = 0.0
        for i, piece in enumerate(pieces):
            if cancel is not None and cancel.is_set():
                finish = "cancelled"
                break
            if i >= request.max_tokens:
                finish = "length"
                break
            if self.token_delay_s:
                time.sleep(self.token_delay_s)
            if i == 0:
                ttft = time.perf_counter() - t0
            out.append(piece)
            self.generated_tokens += 1
            if on_work is not None:
                on_work(1)
            yield Chunk(piece)
        total = time.perf_counter() - t0
        n = len(out)
        yield Chunk("", Completion(
            text="".join(out), model=self.model_id, finish_reason=finish,
            usage=Usage(self.count_prompt_tokens(request.messages), n),
            timing=Timing(0.0, ttft, total, n / max(total - ttft, 1e-9) if n > 1 else 0.0),
            signals=signals,
        ))

    def close(self) -> None:
        """Mark the engine unloaded."""
        self.loaded = False
