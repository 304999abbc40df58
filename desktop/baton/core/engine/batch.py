"""Continuous batching: one owner thread decodes every running sequence of one loaded model in one batch.

The ``Scheduler`` owns the model's context on its thread. Callers on any thread hand it work: plain calls
(load, tokenize) run between steps; a ``Sequence`` (one answer being generated) waits in arrival order for one of
``parallel`` slots, joins the running batch at the next step, and leaves it when it finishes or is cancelled
without stopping the others. Each step puts one token per decoding sequence and as much of the joining sequences'
prompts as fits ``n_batch`` into one batch (prompts are prefilled in chunks, so a long prompt never stalls the
others for its whole prefill), decodes it once, and samples each sequence from its own row of logits.

Warm threads: a finished answer's tokens stay in its slot. When a slot is taken by a prompt that shares little
with what it holds, the slot's state is first saved into a RAM-bounded ``StateStore`` (``kv_state``); a prompt that
starts with a saved state's tokens gets that state copied back into a free slot and decodes only the rest.

The backend (``Backend``) is the only part that talks to llama.cpp; this module is pure Python and numpy.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from baton.core.engine.kv_state import MIN_SAVE_TOKENS, SavedState, StateStore, common_prefix, open_spill_dir
from baton.core.engine.sampling import Sampler, StopText
from baton.core.engine.signals import ConfidenceTracker, LoopDetector
from baton.core.errors import ModelError
from baton.core.types import Chunk, Completion, Timing, Usage

END = object()  # the last item on a sequence's queue
WorkCallback = Callable[[int], None]  # tokens this sequence had processed in the step that just ended


class Backend(Protocol):
    """One llama.cpp context with ``parallel`` sequence slots (each with the full per-thread context)."""

    n_batch: int  # the most tokens one decode call takes

    def decode(self, tokens: list[int], pos: list[int], slots: list[int], want: list[bool]) -> None:
        """Decode one batch: token ``i`` at position ``pos[i]`` of slot ``slots[i]``; logits kept where ``want``.
        Raises ``ModelError``."""

    def outputs(self, n: int) -> np.ndarray:
        """The logits (``float32[n, n_vocab]``) of the last decode's ``n`` output rows, in batch order (row ``j``:
        the ``j``-th entry decoded with ``want``); valid until the next decode."""

    def trim(self, slot: int, keep: int) -> bool:
        """Forget slot ``slot``'s cache from position ``keep`` on (0: all of it). False when the model's cache
        cannot drop a tail (then only ``keep=0`` works)."""

    def save(self, slot: int) -> bytes | bytearray:
        """Slot ``slot``'s cache as opaque bytes (``llama_state_seq_get_data``); empty when it cannot be saved."""

    def restore(self, slot: int, data: bytes | bytearray) -> bool:
        """Load bytes from ``save`` into the empty slot ``slot``. False when llama.cpp refused them (the slot is
        then empty again)."""

    def is_eog(self, token: int) -> bool:
        """True for end-of-generation tokens."""

    def piece(self, token: int) -> bytes:
        """The bytes ``token`` stands for (special tokens as nothing)."""

    def close(self) -> None:
        """Free the context."""


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Sequence:
    """One answer being generated: its prompt ids, limits, sampler, and the queue its chunks go to.

    ``out`` receives ``Chunk``s (text, then one with the ``Completion``), a failure, and ``END``.
    ``abandon`` is set by the consumer when it stops reading; ``cancel`` is the caller's event."""

    def __init__(self, prompt: list[int], max_tokens: int, sampler: Sampler, stops: list[str], model_id: str,
                 cancel: threading.Event | None = None, on_work: WorkCallback | None = None) -> None:
        self.prompt = prompt
        self.max_tokens = max(1, int(max_tokens))
        self.sampler = sampler
        self.text = StopText(stops)
        self.model_id = model_id
        self.cancel = cancel
        self.on_work = on_work
        self.out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.abandon = threading.Event()
        self.tracker = ConfidenceTracker()
        self.loop = LoopDetector()
        self.slot = -1
        self.reused = 0  # prompt tokens found in the slot's cache (warm), not decoded again
        self.fed = 0  # prompt tokens decoded so far
        self.pos = 0  # the next position in the slot
        self.next_token = -1  # the sampled token to decode next (-1 while prefilling)
        self.decoded: list[int] = []  # the tokens in the slot's cache, in position order
        self.n_gen = 0
        self.pieces: list[str] = []
        self.t0 = time.perf_counter()
        self.t_first = 0.0
        self.done = False

    def stopped(self) -> bool:
        """True when the caller cancelled this sequence or abandoned its stream."""
        return self.abandon.is_set() or (self.cancel is not None and self.cancel.is_set())

    def emit(self, text: str) -> None:
        """Queue one piece of answer text for the caller (empty text is dropped); the first piece stamps the time to
        first token."""
        if text:
            if not self.t_first:
                self.t_first = time.perf_counter()
            self.pieces.append(text)
            self.out.put(Chunk(text))


class Scheduler:
    """The owner thread of one loaded model (see the module docstring).

    ``parallel``: slots (sequences decoded together). ``backend`` is set by a call run on this thread (the load);
    until then sequences cannot be enqueued. ``status()`` says how many sequences run and wait.

    A finished sequence leaves its tokens in its slot's cache: a later prompt that starts with them (the same
    thread coming back) takes the free slot sharing the longest prefix and decodes only the rest. A slot about
    to be overwritten is saved first when it holds at least ``MIN_SAVE_TOKENS`` that the new prompt does not share
    (``state_limit_bytes``: the bound of the saved states; 0 saves none; ``state_dir``: where they wait on disk,
    see ``kv_state``; None keeps them in RAM). ``limit`` (at most ``parallel``) caps the sequences decoded at once;
    the power policy lowers it on battery."""

    def __init__(self, parallel: int, name: str, state_limit_bytes: int = 0, state_dir: Path | None = None) -> None:
        self.parallel = max(1, int(parallel))
        self.limit = self.parallel
        spill = open_spill_dir(state_dir) if state_dir is not None and state_limit_bytes > 0 else None
        self.states = StateStore(state_limit_bytes, spill)
        self.prefilled_tokens = 0  # prompt tokens decoded (what a warm slot or a restored state spared is not)
        self.last_busy = time.monotonic()  # when a sequence last finished or was admitted (monotonic s)
        self.backend: Backend | None = None
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future] | None] = queue.SimpleQueue()
        self._waiting: deque[Sequence] = deque()
        self._active: list[Sequence] = []
        self._free = list(range(self.parallel))
        self._resident: dict[int, list[int]] = {}  # slot -> the tokens its cache holds (free slots only)
        self.reused_tokens = 0  # prompt tokens not decoded again thanks to a warm slot
        self.generated_tokens = 0  # answer tokens sampled since the start, every thread and caller together
        self.steps = 0  # decode calls made, for benchmarks
        self.batched_steps = 0  # of which with two or more sequences
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ---- from any thread -----------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        """True while the owner thread runs (False after ``close``)."""
        return self._thread.is_alive()

    def submit(self, fn: Callable[[], Any]) -> Future:
        """Run ``fn`` on the owner thread between steps. Raises ModelError after ``close``."""
        if not self._thread.is_alive():
            raise ModelError("the engine was closed; load the model again")
        fut: Future = Future()
        self._jobs.put((fn, fut))
        return fut

    def call(self, fn: Callable[[], Any]) -> Any:
        """``submit`` and wait for the result (re-raising its error)."""
        return self.submit(fn).result()

    def status(self) -> dict[str, int]:
        """``{"parallel", "active", "waiting"}``: slots, sequences in the batch, sequences waiting for a slot
        (``limit`` says how many may decode at once now)."""
        return {"parallel": self.parallel, "active": len(self._active), "waiting": len(self._waiting)}

    @property
    def busy(self) -> bool:
        """True while a sequence is decoding or waiting."""
        return bool(self._active or self._waiting)

    def cache_stats(self) -> dict[str, int]:
        """Warm-cache counters: ``reused_tokens`` and ``prefilled_tokens`` (prompt tokens spared and decoded since
        the start), ``warm_slots`` and ``warm_tokens`` (free slots holding a finished thread's cache),
        ``saved_states``, ``saved_bytes`` (bytes of saved states, on disk or in RAM), ``saved_ram_bytes`` (the part
        in RAM), ``states_saved``, ``states_restored``,
        ``states_dropped`` (by the RAM bound), ``generated_tokens`` (answer tokens sampled since the start, for every
        caller: the app, `baton serve`, the API server). Read from any thread; figures may be one step old."""
        resident = dict(self._resident)
        st = self.states
        return {"reused_tokens": self.reused_tokens, "prefilled_tokens": self.prefilled_tokens,
                "warm_slots": len(resident), "warm_tokens": sum(len(t) for t in resident.values()),
                "saved_states": len(st), "saved_bytes": st.size_bytes, "saved_ram_bytes": st.ram_bytes,
                "states_saved": st.saved,
                "states_restored": st.restored, "states_dropped": st.dropped,
                "generated_tokens": self.generated_tokens}

    def forget(self) -> None:
        """Empty every free slot's cache and drop the saved states (call on the owner thread, e.g. via ``call``)."""
        be = self.backend
        for slot in list(self._resident):
            if be is not None:
                be.trim(slot, 0)
        self._resident.clear()
        self.states.clear()

    def close(self, timeout_s: float = 10.0) -> None:
        """Finish every sequence as cancelled, free the backend and stop the thread."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(timeout=timeout_s)
        self.states.close()  # the saved states' files go with the model

    # ---- on the owner thread ----------------------------------------------------------------------
    def enqueue(self, seq: Sequence) -> None:
        """Queue ``seq`` for a slot (call on the owner thread, from a submitted call)."""
        self._waiting.append(seq)

    def _run(self) -> None:
        try:
            while True:
                if not self._active and not self._waiting:
                    if not self._do(self._jobs.get()):
                        return
                while True:
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if not self._do(job):
                        return
                self._step()
        finally:
            for seq in [*self._active, *self._waiting]:
                self._finish(seq, "cancelled")
            if self.backend is not None:
                self.backend.close()
                self.backend = None

    @staticmethod
    def _do(job: tuple[Callable[[], Any], Future] | None) -> bool:
        if job is None:
            return False
        fn, fut = job
        if fut.set_running_or_notify_cancel():
            try:
                fut.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                fut.set_exception(e)
        return True

    def _admit(self) -> None:
        for seq in [s for s in self._waiting if s.stopped()]:
            self._waiting.remove(seq)
            self._finish(seq, "cancelled")
        for seq in [s for s in self._active if s.stopped()]:
            self._finish(seq, "cancelled")
        while self._waiting and self._free and len(self._active) < self.limit:
            seq = self._waiting.popleft()
            self._take_slot(seq)
            self._active.append(seq)
            self.last_busy = time.monotonic()

    def _take_slot(self, seq: Sequence) -> None:
        """Give ``seq`` the free slot whose cache shares the longest prefix with its prompt (or a slot with the saved
        state that shares more); keep that prefix, saving what the slot held when most of it is overwritten."""
        def shared(slot: int) -> int:
            n = _common_prefix(self._resident.get(slot, []), seq.prompt)
            return n if n >= MIN_SAVE_TOKENS else 0  # a few shared tokens (a system prompt) never evict a thread

        # the longest shared prefix wins; among equals, the slot holding the least (keeps other threads warm)
        best = min(self._free, key=lambda s: (-shared(s), len(self._resident.get(s, [])), s))
        common = _common_prefix(self._resident.get(best, []), seq.prompt)
        be = self.backend
        key, saved = self.states.best(seq.prompt) if len(self.states) else (-1, 0)
        if be is not None and saved > max(common, MIN_SAVE_TOKENS - 1):
            self._save(best, seq.prompt)
            be.trim(best, 0)
            self._resident.pop(best, None)
            state = self.states.take(key)
            if be.restore(best, state.data):
                self._resident[best] = list(state.tokens)
                common = saved
            else:
                be.trim(best, 0)
                common = 0
        else:
            self._save(best, seq.prompt)
        self._free.remove(best)
        resident = self._resident.pop(best, [])
        common = min(common, len(seq.prompt) - 1, len(resident))  # the last prompt token is decoded again (logits)
        if be is not None and len(resident) > common and not be.trim(best, common):
            be.trim(best, 0)
            common = 0
        seq.slot = best
        seq.fed = seq.pos = seq.reused = common
        seq.decoded = list(seq.prompt[:common])
        self.reused_tokens += common

    def _save(self, slot: int, prompt: list[int]) -> None:
        """Save slot ``slot``'s cache when ``prompt`` would overwrite ``MIN_SAVE_TOKENS`` or more of it and most
        of it (a thread coming back to its own slot drops only a short tail)."""
        held = self._resident.get(slot)
        be = self.backend
        if not held or be is None or self.states.limit_bytes <= 0:
            return
        keep = _common_prefix(held, prompt)
        if len(held) - keep < MIN_SAVE_TOKENS or keep * 2 > len(held):
            return
        try:
            data = be.save(slot)
        except Exception:  # noqa: BLE001 - a state that cannot be saved is read again when its thread returns
            return
        if data:
            self.states.put(SavedState(tuple(held), data))

    def _step(self) -> None:
        self._admit()
        be = self.backend
        if not self._active or be is None:
            return
        tokens: list[int] = []
        pos: list[int] = []
        slots: list[int] = []
        want: list[bool] = []
        rows: list[Sequence] = []  # the sequences sampled after this step, in the order of their output rows
        work: list[tuple[Sequence, int]] = []
        for seq in self._active:
            if seq.next_token >= 0:
                rows.append(seq)
                tokens.append(seq.next_token)
                seq.decoded.append(seq.next_token)
                pos.append(seq.pos)
                slots.append(seq.slot)
                seq.pos += 1
                work.append((seq, 1))
        want = [True] * len(tokens)
        budget = be.n_batch - len(tokens)
        for seq in self._active:
            if budget <= 0:
                break
            if seq.next_token >= 0:
                continue
            n = min(budget, len(seq.prompt) - seq.fed)
            last = seq.fed + n == len(seq.prompt)
            tokens.extend(seq.prompt[seq.fed:seq.fed + n])
            seq.decoded.extend(seq.prompt[seq.fed:seq.fed + n])
            pos.extend(range(seq.fed, seq.fed + n))
            slots.extend([seq.slot] * n)
            want.extend([False] * n)
            if last:
                want[-1] = True
                rows.append(seq)
            seq.fed += n
            seq.pos = seq.fed
            budget -= n
            self.prefilled_tokens += n
            work.append((seq, n))
        try:
            be.decode(tokens, pos, slots, want)
        except BaseException as e:  # noqa: BLE001 - every sequence in the batch fails with it
            for seq in list(self._active):
                seq.decoded = []  # what the cache holds is unknown now
                self._fail(seq, e if isinstance(e, ModelError) else ModelError(f"the model failed to decode: {e}"))
            return
        self.steps += 1
        if len(self._active) > 1:
            self.batched_steps += 1
        for seq, n in work:
            if seq.on_work is not None:
                try:
                    seq.on_work(n)
                except Exception:  # noqa: BLE001 - accounting must never stop generation
                    seq.on_work = None
        if not rows:
            return
        try:
            out = be.outputs(len(rows))
        except BaseException as e:  # noqa: BLE001
            for seq in rows:
                self._fail(seq, ModelError(f"sampling failed: {e}"))
            return
        for seq, row in zip(rows, out):
            try:
                self._sample(seq, row)
            except BaseException as e:  # noqa: BLE001
                self._fail(seq, ModelError(f"sampling failed: {e}"))

    def _sample(self, seq: Sequence, row: np.ndarray) -> None:
        be = self.backend
        assert be is not None
        seq.tracker.observe(row)
        tok = seq.sampler.pick(row)
        if be.is_eog(tok):
            self._finish(seq, "stop")
            return
        seq.n_gen += 1
        self.generated_tokens += 1
        seq.loop.push(tok)
        text, hit_stop = seq.text.feed(be.piece(tok))
        seq.emit(text)
        if hit_stop:
            self._finish(seq, "stop", flush=False)
        elif seq.loop.detected:
            self._finish(seq, "loop")
        elif seq.n_gen >= seq.max_tokens:
            self._finish(seq, "length")
        else:
            seq.next_token = tok

    def _release(self, seq: Sequence) -> None:
        if seq in self._active:
            self._active.remove(seq)
        if seq.slot >= 0:
            if seq.decoded:
                self._resident[seq.slot] = seq.decoded  # kept warm for a prompt that starts the same way
                self.states.forget_covered(seq.decoded)
            elif self.backend is not None:
                try:
                    self.backend.trim(seq.slot, 0)
                except Exception:  # noqa: BLE001 - a slot that cannot be cleared is not reused
                    seq.slot = -1
                    return
            self._free.append(seq.slot)
            self._free.sort()
            seq.slot = -1

    def _fail(self, seq: Sequence, error: BaseException) -> None:
        if seq.done:
            return
        seq.done = True
        self._release(seq)
        seq.out.put(_Failure(error))
        seq.out.put(END)

    def _finish(self, seq: Sequence, reason: str, flush: bool = True) -> None:
        if seq.done:
            return
        seq.done = True
        self.last_busy = time.monotonic()
        self._release(seq)
        if flush:
            seq.emit(seq.text.flush())
        t_end = time.perf_counter()
        t_first = seq.t_first or t_end
        ttft = t_first - seq.t0
        decode_s = t_end - t_first
        n = seq.n_gen
        timing = Timing(load_s=0.0, ttft_s=ttft, total_s=t_end - seq.t0,
                        decode_tokens_per_s=(n - 1) / decode_s if n > 1 and decode_s > 0 else 0.0,
                        prefill_tokens_per_s=len(seq.prompt) / ttft if ttft > 0 and seq.fed else 0.0)
        seq.out.put(Chunk("", Completion(
            text="".join(seq.pieces), model=seq.model_id, finish_reason=reason,
            usage=Usage(prompt_tokens=len(seq.prompt), completion_tokens=n), timing=timing,
            signals=seq.tracker.signals(seq.loop),
        )))
        seq.out.put(END)


_common_prefix = common_prefix


def drain(seq: Sequence) -> Any:
    """Yield ``seq``'s chunks as they arrive (on the caller's thread); re-raise a failure; when the caller stops
    reading, mark the sequence abandoned so its slot is freed at the next step."""
    try:
        while True:
            item = seq.out.get()
            if item is END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        seq.abandon.set()
