"""The local tier: a loaded engine and the energy meter.

The context limit is checked here and only here: the prompt (after the chat template) plus the room kept for
the answer must fit the engine's ``n_ctx``. The room kept is ``answer_reserve(n_ctx, max_tokens)``; the oldest
turns are dropped (and counted) until the prompt fits, and a prompt that does not fit even alone is an overflow.
"""

from __future__ import annotations

import inspect
import random
from dataclasses import dataclass
from typing import Any

from baton.core.engine.base import Engine
from baton.core.errors import BatonError, ContextOverflow
from baton.core.pipeline.turn import TextSink, Turn, TierRun
from baton.core.types import ChatMessage, Completion, GenerationRequest, LocalInfo, Measurement


def answer_reserve(n_ctx: int, max_tokens: int) -> int:
    """Tokens kept free for the answer in an ``n_ctx``-token context: ``max_tokens``, but never more than half
    the context (a long answer budget must not push every earlier turn out)."""
    return max(1, min(int(max_tokens), int(n_ctx) // 2))


@dataclass
class Fit:
    """The messages that fit the local context, their token count, and how many earlier turns were dropped."""

    messages: list[ChatMessage]
    prompt_tokens: int
    dropped_turns: int
    overflow: bool


class LocalTier:
    """Answers a turn on a loaded ``Engine`` and measures the window with the ``EnergyMeter``."""

    kind = "local"
    endpoint = None
    where = "this_computer"

    def __init__(self, engine: Engine, meter: Any, load_s: float = 0.0) -> None:
        self.engine = engine
        self.meter = meter
        self.load_s = load_s
        self.model = engine.model_id
        self._fit: Fit | None = None

    def fit(self, messages: list[ChatMessage], max_tokens: int) -> Fit:
        """Drop the oldest turns (never the system prompt or the question) until the prompt leaves
        ``answer_reserve`` tokens free. ``overflow`` is True when even the question alone does not fit."""
        n_ctx = self.engine.n_ctx
        budget = n_ctx - answer_reserve(n_ctx, max_tokens)
        kept = list(messages)
        head = 1 if kept and kept[0].role == "system" else 0
        tokens = self.engine.count_prompt_tokens(kept)
        dropped = 0
        while tokens > budget and len(kept) - head > 1:
            del kept[head]
            # keep the history starting with a user turn after a drop
            if len(kept) - head > 1 and kept[head].role == "assistant":
                del kept[head]
            dropped += 1
            tokens = self.engine.count_prompt_tokens(kept)
        self._fit = Fit(kept, tokens, dropped, tokens > budget)
        return self._fit

    def info(self, messages: list[ChatMessage], max_tokens: int) -> LocalInfo:
        """What stage one of the router needs (no model call beyond tokenizing)."""
        f = self._fit or self.fit(messages, max_tokens)
        return LocalInfo(n_ctx=self.engine.n_ctx, prompt_tokens=f.prompt_tokens, max_tokens=max_tokens,
                         fits=True, model_id=self.model, overflow=f.overflow)

    def run(self, turn: Turn, sink: TextSink) -> TierRun:
        """Generate on the engine. Raises ContextOverflow when the question does not fit the context."""
        max_tokens = int(turn.params.max_tokens or 1)
        f = self._fit or self.fit(turn.messages, max_tokens)
        if f.overflow:
            raise ContextOverflow(
                f"the prompt is {f.prompt_tokens} tokens but {self.model} has a {self.engine.n_ctx}-token context "
                f"and keeps {answer_reserve(self.engine.n_ctx, max_tokens)} for the answer; shorten it, start a new "
                "thread, lower --max-tokens or raise engine.n_ctx with `baton config set`")
        p = turn.params
        temperature = float(p.temperature or 0.0)
        # without a seed, sampling above temperature 0 differs from one answer to the next, as users expect
        seed = p.seed if p.seed is not None or temperature == 0.0 else random.randrange(2**31)
        request = GenerationRequest(f.messages, max_tokens=max_tokens, temperature=temperature,
                                    top_p=1.0 if p.top_p is None else float(p.top_p), seed=seed, stop=list(p.stop))
        completion, energy = self._stream(request, turn, sink)
        notices = list(getattr(self.engine, "notices", []) or [])  # read after streaming: template notes land then
        if f.dropped_turns:
            notices.append(f"{f.dropped_turns} earlier turn{'s' if f.dropped_turns != 1 else ''} of this thread "
                           f"did not fit the {self.engine.n_ctx}-token context and were left out")
        completion.timing.load_s = self.load_s
        if completion.finish_reason == "length":
            notices.append(f"the answer was cut at the {max_tokens}-token limit; raise max_tokens "
                           "(`--max-tokens` in the CLI) for more")
        if completion.finish_reason == "loop":
            notices.append("the local model fell into a loop; the answer was cut there")
        others = int(getattr(energy, "shared_with", 0) or 0)
        if others:
            notices.append(f"generated together with {others} other answer{'s' if others != 1 else ''} on this "
                           f"computer; its energy is its share of the time they overlapped, by tokens processed "
                           f"({100 * float(getattr(energy, 'share', 1.0)):.0f}% of its window)")
        return TierRun(completion, f.messages, energy, 0.0, self.load_s, notices, dropped_turns=f.dropped_turns)

    def _stream(self, request: GenerationRequest, turn: Turn, sink: TextSink) -> tuple[Completion, Measurement]:
        # answers generated at the same time (one batch) share the machine: the meter's shared windows split
        # the joules between them by the tokens each had processed, which the engine reports per step
        shared = getattr(self.meter, "shared", None)
        window = shared.begin() if shared is not None else self.meter.begin()
        work = getattr(window, "work", None)
        completion: Completion | None = None
        first = True
        try:
            chunks = (self.engine.stream(request, turn.cancel, on_work=work)
                      if work is not None and _takes_work(self.engine)
                      else self.engine.stream(request, turn.cancel))
            for chunk in chunks:
                if chunk.text:
                    if first:
                        window.first_token()
                        first = False
                    sink(chunk.text)
                if chunk.completion is not None:
                    completion = chunk.completion
        finally:
            energy = window.end()
        if completion is None:
            raise BatonError("the model stopped without finishing its answer; try again")
        return completion, energy


def _takes_work(engine: Engine) -> bool:
    """True when ``engine.stream`` accepts ``on_work`` (the engine reports the tokens it processed)."""
    try:
        return "on_work" in inspect.signature(engine.stream).parameters
    except (TypeError, ValueError):
        return False
