"""Saved sequence states: the KV cache of a thread that lost its slot, kept until the thread comes back.

When a slot is needed for another thread, the scheduler copies the slot's per-sequence state out of llama.cpp
(``llama_state_seq_get_data``) into a ``SavedState`` here, keyed by the tokens the cache holds. When a prompt
starts with those tokens again, the state is copied back into a free slot and only what is new is read. The store
is bounded in bytes and drops the least recently used state first.

Where a state waits: with a ``spill_dir`` (the service gives ``<cache>/kv``), in a file of this process's own
folder there (0700, files 0600), not in RAM: a laptop's RAM is what the model needs, and reading a few tens of MB
back from disk takes milliseconds where reading the history again takes seconds. The folder goes when the store
closes; folders left by processes that are gone are removed when the next store opens. A state that cannot be
written (disk full) stays in RAM. Without a ``spill_dir`` every state stays in RAM. Pure Python: no llama.cpp here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import psutil

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


@dataclass
class _Held:
    tokens: tuple[int, ...]
    size_bytes: int
    data: bytes | bytearray | None  # in RAM, or None when it waits in ``path``
    path: Path | None = None


def common_prefix(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def open_spill_dir(root: Path) -> Path | None:
    """A fresh folder for this process's saved states under ``root`` (``<pid>-XXXX``, mode 0700), after removing
    the folders of processes that no longer run. None when ``root`` cannot be written (states then stay in RAM)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        for old in root.iterdir():
            pid = old.name.split("-", 1)[0]
            if old.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
    except OSError:
        return None


class StateStore:
    """Saved states under a bound of ``limit_bytes`` (0: keep none), least recently used dropped first; in files
    under ``spill_dir`` when given (see the module), else in RAM.

    Used from the engine's owner thread only (not locked). Counters: ``saved``, ``restored``, ``dropped``;
    ``size_bytes`` (all states), ``ram_bytes`` (the part held in RAM). Call ``close`` when done (removes the files)."""

    def __init__(self, limit_bytes: int, spill_dir: Path | None = None) -> None:
        self.limit_bytes = max(0, int(limit_bytes))
        self.spill_dir = spill_dir
        self._states: OrderedDict[int, _Held] = OrderedDict()
        self._next = 0
        self.size_bytes = 0
        self.ram_bytes = 0
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
        key = self._next
        self._next += 1
        path = self._write(key, state.data)
        held = _Held(state.tokens, state.size_bytes, None if path else state.data, path)
        self._states[key] = held
        self.size_bytes += held.size_bytes
        self.ram_bytes += 0 if path else held.size_bytes
        self.saved += 1
        return True

    def _write(self, key: int, data: bytes | bytearray) -> Path | None:
        if self.spill_dir is None:
            return None
        path = self.spill_dir / f"{key}.kv"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except OSError:  # disk full, folder gone: keep it in RAM
            path.unlink(missing_ok=True)
            return None
        return path

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
        """Remove and return the state under ``key`` (it goes back into a slot; saved again when evicted). A state
        whose file cannot be read comes back with empty ``data`` (llama.cpp then refuses it and the thread's history
        is read again)."""
        held = self._states[key]
        data = held.data if held.path is None else self._read(held)
        self._remove(key)
        self.restored += 1
        return SavedState(held.tokens, data or bytearray())

    @staticmethod
    def _read(held: _Held) -> bytearray:
        data = bytearray(held.size_bytes)
        try:
            with open(held.path, "rb") as f:  # type: ignore[arg-type]
                return data if f.readinto(data) == held.size_bytes else bytearray()
        except OSError:
            return bytearray()

    def forget_covered(self, tokens: list[int]) -> None:
        """Drop the states whose tokens are a prefix of ``tokens`` (a slot holds all of them now)."""
        for key, st in list(self._states.items()):
            if len(st.tokens) <= len(tokens) and common_prefix(st.tokens, tokens) == len(st.tokens):
                self._remove(key)

    def clear(self) -> None:
        """Drop every state (their files too)."""
        for key in list(self._states):
            self._remove(key)

    def close(self) -> None:
        """Drop every state and remove the spill folder."""
        self.clear()
        if self.spill_dir is not None:
            shutil.rmtree(self.spill_dir, ignore_errors=True)

    def _remove(self, key: int) -> None:
        held = self._states.pop(key)
        self.size_bytes -= held.size_bytes
        if held.path is not None:
            held.path.unlink(missing_ok=True)
        else:
            self.ram_bytes -= held.size_bytes
