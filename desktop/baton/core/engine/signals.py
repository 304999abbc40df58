"""Per-token confidence and loop detection, computed from the logits of each step.

Fed by a logits processor (the engine reads each step's logits for free; asking llama.cpp for
``logprobs`` would need ``logits_all`` and costs about three times the CPU). Pure numpy, no engine imports.
"""

from __future__ import annotations

import math

import numpy as np

from baton.core.types import TokenSignals


class ConfidenceTracker:
    """Accumulates top-1 log-prob and entropy of each step's next-token distribution."""

    __slots__ = ("n", "_sum_lp", "_min_lp", "_first_lp", "_sum_h", "_max_h", "_shifted", "_exp")

    def __init__(self) -> None:
        self.n = 0
        self._sum_lp = 0.0
        self._min_lp = 0.0
        self._first_lp: float | None = None
        self._sum_h = 0.0
        self._max_h = 0.0
        self._shifted: np.ndarray | None = None  # scratch buffers reused every step (no allocation per token)
        self._exp: np.ndarray | None = None

    def observe(self, logits: np.ndarray) -> None:
        # log-softmax without materialising it: lse = m + log(sum(exp(x - m)))
        """Add one step's next-token distribution, given its raw logits (shape (n_vocab,)): the top-1 log-probability
        and the entropy (Units: nats). A step with non-finite logits is skipped."""
        if self._shifted is None or self._shifted.shape != logits.shape:
            self._shifted = np.empty(logits.shape, dtype=np.float32)
            self._exp = np.empty(logits.shape, dtype=np.float32)
        shifted, e = self._shifted, self._exp
        m = float(logits.max())
        np.subtract(logits, m, out=shifted, casting="unsafe")
        np.exp(shifted, out=e)
        s = float(e.sum(dtype=np.float64))
        log_s = math.log(s)
        top1_lp = -log_s  # log p(argmax) = (m - m) - log_s
        entropy = log_s - float(np.dot(e, shifted)) / s
        if not math.isfinite(top1_lp) or not math.isfinite(entropy):
            return
        if self._first_lp is None:
            self._first_lp = top1_lp
            self._min_lp = top1_lp
        self.n += 1
        self._sum_lp += top1_lp
        self._min_lp = min(self._min_lp, top1_lp)
        self._sum_h += entropy
        self._max_h = max(self._max_h, entropy)

    def signals(self, loop: "LoopDetector | None" = None) -> TokenSignals:
        """The ``TokenSignals`` so far (mean, minimum and first top-1 log-prob; mean and max entropy; token count),
        with the loop flag and span from ``loop``; empty signals when no step was observed."""
        if self.n == 0:
            return TokenSignals(loop_detected=bool(loop and loop.detected))
        return TokenSignals(
            n_tokens=self.n,
            mean_top1_logprob=self._sum_lp / self.n,
            min_top1_logprob=self._min_lp,
            first_top1_logprob=self._first_lp,
            mean_entropy=self._sum_h / self.n,
            max_entropy=self._max_h,
            loop_detected=bool(loop and loop.detected),
            loop_span_tokens=loop.span if loop and loop.detected else None,
        )


class LoopDetector:
    """Detects the generated tokens falling into a repeating span.

    For every candidate period ``p`` it keeps the length of the current run of tokens equal to the token
    ``p`` places earlier; a run of ``max(2 * p, min_run)`` means the last span of ``p`` tokens has been
    repeated at least three times (or, for very short spans, for ``min_run`` tokens). O(max_period) per token.
    """

    __slots__ = ("max_period", "min_run", "_ids", "_runs", "detected", "span")

    def __init__(self, max_period: int = 64, min_run: int = 64) -> None:
        self.max_period = max_period
        self.min_run = min_run
        self._ids: list[int] = []
        self._runs = [0] * (max_period + 1)
        self.detected = False
        self.span: int | None = None

    def push(self, token_id: int) -> bool:
        """Add the next generated token id; returns True once a loop has been detected (``span``: its period in
        tokens)."""
        ids = self._ids
        ids.append(token_id)
        n = len(ids)
        runs = self._runs
        for p in range(1, min(self.max_period, n - 1) + 1):
            if ids[n - 1 - p] == token_id:
                runs[p] += 1
                if runs[p] >= max(2 * p, self.min_run) and not self.detected:
                    self.detected = True
                    self.span = p
            else:
                runs[p] = 0
        return self.detected
