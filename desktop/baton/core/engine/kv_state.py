"""Saved sequence states: the KV cache of a thread that lost its slot, kept in RAM until it comes back.

When a slot is needed for another thread, the scheduler copies the slot's per-sequence state out of llama.cpp
(``llama_state_seq_get_data``) into a ``SavedState`` here, keyed by the tokens the cache holds. When a prompt
starts with those tokens again, the state is copied back into a free slot and only what is new is read. The store
is bounded in bytes and drops the least recently used state first. Pure Python: no llama.cpp here.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

MIN_SAVE_TOKENS = 64  # a shorter cache is cheaper to read again than to keep


@dataclass(frozen=True)
class SavedState:
    """One slot's cache as llama.cpp serialised it: ``tokens`` (ids in position order) and ``data`` (opaque bytes,
    ``size_bytes`` long)."""

    tokens: tuple[int, ...]
    data: bytes | bytearray

    @property
    def size_bytes(self) -> int:
        """Bytes held (Units: bytes)."""
        return len(self.data)


def common_prefix(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class StateStore:
    """Saved states under a RAM bound of ``limit_bytes`` (0: keep none), least recently used dropped first.

    Used from the engine's owner thread only (not locked). Counters: ``saved``, ``restored``, ``dropped``."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = max(0, int(limit_bytes))
        self._states: OrderedDict[int, SavedState] = OrderedDict()
        self._next = 0
        self.size_bytes = 0
        self.saved = 0
        self.restored = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._states)

    def put(self, state: SavedState) -> bool:
        """Keep ``state`` (dropping states it extends and the least recently used ones to stay under the bound).
        Returns False when it alone is over the bound (then nothing changes)."""
        if state.size_bytes > self.limit_bytes or not state.tokens:
            return False
        for key, old in list(self._states.items()):  # an older save of the same thread is now a prefix of this one
            if common_prefix(old.tokens, state.tokens) == len(old.tokens):
                self._remove(key)
        while self._states and self.size_bytes + state.size_bytes > self.limit_bytes:
            self._remove(next(iter(self._states)))
            self.dropped += 1
        self._states[self._next] = state
        self._next += 1
        self.size_bytes += state.size_bytes
        self.saved += 1
        return True

    def best(self, prompt: list[int]) -> tuple[int, int]:
        """``(key, shared)``: the saved state sharing the longest prefix with ``prompt`` and how many tokens it
        shares; ``(-1, 0)`` when none shares any."""
        best_key, best_n = -1, 0
        for key, st in self._states.items():
            n = common_prefix(st.tokens, prompt)
            if n > best_n:
                best_key, best_n = key, n
        return best_key, best_n

    def take(self, key: int) -> SavedState:
        """Remove and return the state under ``key`` (it goes back into a slot; saved again when evicted)."""
        st = self._states[key]
        self._remove(key)
        self.restored += 1
        return st

    def forget_covered(self, tokens: list[int]) -> None:
        """Drop the states whose tokens are a prefix of ``tokens`` (a slot holds all of them now)."""
        for key, st in list(self._states.items()):
            if len(st.tokens) <= len(tokens) and common_prefix(st.tokens, tokens) == len(st.tokens):
                self._remove(key)

    def clear(self) -> None:
        """Drop every state."""
        self._states.clear()
        self.size_bytes = 0

    def _remove(self, key: int) -> None:
        st = self._states.pop(key)
        self.size_bytes -= st.size_bytes
