"""Per-sequence sampling and stop strings for the batched engine. Pure numpy, no engine imports.

``Sampler.pick(logits)`` chooses the next token from one row of logits (``float32[n_vocab]``): the arg-max at
temperature 0 (greedy); above 0, llama.cpp's usual chain (top-k 40, top-p, min-p 0.05, then temperature) and a
draw from a ``numpy`` generator seeded per sequence, so the same seed repeats the same answer.
``StopText`` turns the token pieces (bytes) into text: whole UTF-8 characters only, and never text that might be
the start of a stop string until the next piece says it is not.
"""

from __future__ import annotations

import codecs

import numpy as np

TOP_K = 40  # llama-cpp-python's defaults for create_completion
MIN_P = 0.05


class Sampler:
    """Chooses tokens for one sequence. ``temperature`` >= 0 (0: greedy), ``top_p`` in (0, 1], ``seed``: None
    draws from fresh entropy (only used above temperature 0)."""

    __slots__ = ("temperature", "top_p", "_rng")

    def __init__(self, temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None) -> None:
        self.temperature = max(0.0, float(temperature))
        self.top_p = float(top_p) if 0.0 < float(top_p) <= 1.0 else 1.0
        self._rng = np.random.default_rng(seed) if self.temperature > 0 else None

    def pick(self, logits: np.ndarray) -> int:
        """The next token id for ``logits`` (one row, not modified)."""
        if self._rng is None:
            return int(logits.argmax())
        k = min(TOP_K, logits.shape[0])
        top = np.argpartition(logits, -k)[-k:]
        top = top[np.argsort(logits[top])[::-1]]  # best first
        x = logits[top].astype(np.float64)
        p = np.exp(x - x[0])
        p /= p.sum()
        keep = int(np.searchsorted(np.cumsum(p), self.top_p) + 1)  # the smallest prefix reaching top_p
        keep = min(keep, int(np.count_nonzero(p >= MIN_P * p[0])))
        keep = max(1, keep)
        x = x[:keep] / self.temperature
        q = np.exp(x - x[0])
        q /= q.sum()
        return int(top[int(self._rng.choice(keep, p=q))])


class StopText:
    """Decodes a sequence's pieces and cuts the text before the first stop string.

    ``feed(piece)`` returns ``(text to emit now, stopped)``; ``flush()`` returns what was held back (at the end of
    an answer that did not stop on a string). ``text`` is everything emitted so far."""

    __slots__ = ("stops", "_firsts", "_decoder", "_pending", "text")

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self._firsts = "".join(sorted({s[0] for s in self.stops}))  # a stop string starts with one of these
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        self._pending = ""  # decoded, not yet emitted (may be the start of a stop string)
        self.text = ""

    def feed(self, piece: bytes) -> tuple[str, bool]:
        """Add one token's bytes. Returns the text safe to show now and whether a stop string was reached."""
        new = self._decoder.decode(piece)
        if not new:
            return "", False
        pending = self._pending + new
        if not self.stops or not any(c in pending for c in self._firsts):  # nothing here can start a stop string
            self._pending = ""
            self.text += pending
            return pending, False
        # a stop string can only begin in ``pending``: any text that could start one was held back
        cut = min((i for i in (pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            out = pending[:cut]
            self._pending = ""
            self.text += out
            return out, True
        hold = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(pending)), hold, -1):
                if pending.endswith(s[:n]):
                    hold = n
                    break
        out = pending[: len(pending) - hold]
        self._pending = pending[len(pending) - hold:]
        self.text += out
        return out, False

    def flush(self) -> str:
        """The text held back (the answer ended without a stop string), with any incomplete character."""
        rest = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        self.text += rest
        return rest
