"""LlamaEngine: llama.cpp through llama-cpp-python. The ONLY module that imports ``llama_cpp``.

One owner thread (``batch.Scheduler``) holds the model and its context (neither is thread-safe) and runs every
call on it; callers on any thread submit work and iterate the chunks it produces. The context has
``parallel`` sequence slots, each with the full ``n_ctx``: up to ``parallel`` answers are decoded together in one
``llama_batch`` per step (continuous batching, low-level API). Cancel is a ``threading.Event`` checked between
steps. Per-token confidence is read from each step's logits row (never ``logits_all``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from baton.core.engine.batch import Scheduler, Sequence, WorkCallback, drain
from baton.core.engine.chat_format import ChatFormat, RenderedPrompt
from baton.core.engine.gguf import read_gguf_info
from baton.core.engine.machine import physical_cores, total_ram_bytes
from baton.core.engine.names import printable
from baton.core.engine.model_file import llama_path, load_failure
from baton.core.engine.sampling import Sampler
from baton.core.errors import ContextOverflow, ModelError, ModelSettingError
from baton.core.types import ChatMessage, Chunk, GenerationRequest

DEFAULT_PARALLEL = 4  # threads one loaded model answers at once (engine.parallel)
DEFAULT_STATE_BYTES = 1 << 30  # RAM for saved thread states (engine.warm_state_mb)
N_BATCH = 512  # tokens per decode call (llama.cpp's default): decode tokens first, then prompt chunks
HELPER_CTX = 16  # the Llama object's own context (unused for generation: the batched context serves)
MAX_CTX_UNKNOWN_MODEL = 1 << 20  # the largest n_ctx accepted when the file does not say its trained context
_SPECIAL_ATTRS = (1 << 0) | (1 << 3) | (1 << 4)  # UNKNOWN | CONTROL | USER_DEFINED: what parse_special matches


class LlamaEngine:
    """A GGUF model loaded by llama.cpp, memory-mapped, driven from one owner thread.

    ``n_ctx`` (tokens) is clamped to the model's trained context and ``n_threads`` to the CPU count, each
    with a sentence in ``notices``; values no machine can honour (negative, a context whose cache would not
    fit in RAM) raise ``ModelSettingError`` at ``load()``. ``notices`` also collects what the chat format had
    to adapt (a template without a system role, one that failed). All failures are ``ModelError``s.
    ``chat_template`` (Jinja) replaces the file's own template when given. ``state_limit_bytes``: room for the
    saved states of threads that lost their slot (0 keeps none), ``state_dir`` where they wait (see ``kv_state``).
    """

    def __init__(self, path: Path | str, n_ctx: int = 4096, n_threads: int = 0, n_gpu_layers: int = 0,
                 model_id: str | None = None, seed: int = 0, chat_template: str | None = None,
                 parallel: int = DEFAULT_PARALLEL, state_limit_bytes: int = DEFAULT_STATE_BYTES,
                 state_dir: Path | None = None) -> None:
        self.path = Path(path)
        self.parallel = self._check_parallel(int(parallel))
        self.model_id = printable(model_id or self.path.stem)
        self.chat_template = chat_template  # overrides the file's tokenizer.chat_template when set
        self.notices: list[str] = []
        self._setting_error: ModelError | None = None
        self.n_ctx = self._check_n_ctx(int(n_ctx))
        self.n_threads = self._check_n_threads(int(n_threads))
        self.n_gpu_layers = n_gpu_layers
        self.seed = seed
        self.load_s = 0.0
        self._llm: Any = None
        self._format: ChatFormat | None = None
        self._add_bos = False
        self._bos = -1
        self._special_cache: dict[str, list[int | str]] = {}
        self._log_callbacks: list[Any] = []  # kept alive while llama.cpp may call them
        self._sched = Scheduler(self.parallel, name=f"llama:{self.model_id}", state_limit_bytes=state_limit_bytes,
                                state_dir=state_dir)

    # ---- settings ------------------------------------------------------------------------------
    def _note(self, text: str) -> None:
        if text not in self.notices:
            self.notices.append(text)

    def _check_n_ctx(self, n_ctx: int) -> int:
        if n_ctx < 0:
            self._setting_error = ModelSettingError(
                f"engine.n_ctx is {n_ctx}; set a positive number of tokens, e.g. `baton config set engine.n_ctx 4096`")
            return 0
        try:
            info = read_gguf_info(self.path, read_tensors=False)
        except ModelError:
            info = None  # load() reports the file's problem
        trained = info.context_length if info is not None else 0
        if n_ctx == 0:
            n_ctx = trained or 4096
            what = "the model's trained context" if trained else "the default context"
            self._note(f"engine.n_ctx is 0: using {what} of {n_ctx} tokens")
        elif trained and n_ctx > trained:
            self._note(f"n_ctx clamped to the model's trained context {trained} (engine.n_ctx is {n_ctx})")
            n_ctx = trained
        elif not trained and n_ctx > MAX_CTX_UNKNOWN_MODEL:
            self._setting_error = ModelSettingError(
                f"engine.n_ctx is {n_ctx}, more than {MAX_CTX_UNKNOWN_MODEL} tokens and the model does not say its "
                "trained context; set a smaller engine.n_ctx (e.g. 4096)")
        ram = total_ram_bytes()
        slots = self.parallel
        if info is not None and ram and info.kv_bytes_per_token and info.kv_cache_bytes(n_ctx) * slots > ram:
            fits = max(256, ram // 2 // info.kv_bytes_per_token // slots)
            self._setting_error = ModelSettingError(
                f"engine.n_ctx {n_ctx} for {slots} thread{'s' if slots != 1 else ''} at once needs a "
                f"{info.kv_cache_bytes(n_ctx) * slots / 1e9:.1f} GB cache, more than this machine's "
                f"{ram / 1e9:.1f} GB of RAM; set engine.n_ctx to {fits} or less, or lower engine.parallel")
        return n_ctx

    def _check_parallel(self, parallel: int) -> int:
        if parallel < 1:
            self._setting_error = ModelSettingError(
                f"engine.parallel is {parallel}; set how many threads one model answers at once, 1 or more (e.g. 4)")
            return 1
        return parallel

    def _check_n_threads(self, n_threads: int) -> int:
        cpus = os.cpu_count() or 1
        if n_threads < 0:
            self._setting_error = ModelSettingError(
                f"engine.n_threads is {n_threads}; set 0 (one per physical core) or a count up to {cpus}")
            return 1
        if n_threads == 0:
            return physical_cores()
        if n_threads > cpus:
            self._note(f"n_threads clamped to this machine's {cpus} CPUs (engine.n_threads is {n_threads})")
            return cpus
        return n_threads

    # ---- owner thread ------------------------------------------------------------------------
    def _submit(self, fn: Callable[[], Any]) -> Future:
        if not self._sched.alive:
            raise ModelError(f"the engine for {self.model_id} was closed; load the model again")
        return self._sched.submit(fn)

    def _call(self, fn: Callable[[], Any]) -> Any:
        return self._submit(fn).result()

    def slots(self) -> dict[str, int]:
        """``{"parallel", "active", "waiting"}``: slots, answers being generated now, answers waiting for a slot."""
        return self._sched.status()

    @property
    def limit(self) -> int:
        """The most answers generated at once now (``parallel``, lower on battery; see ``set_limit``)."""
        return self._sched.limit

    @property
    def loaded(self) -> bool:
        """True once the weights are loaded and until ``close``."""
        return self._llm is not None and self._sched.alive

    @property
    def busy(self) -> bool:
        """True while an answer is being generated or waits for a slot."""
        return self._sched.busy

    def idle_s(self) -> float:
        """Seconds since an answer last started or finished; 0 while one is generating (Units: s)."""
        return 0.0 if self._sched.busy else max(0.0, time.monotonic() - self._sched.last_busy)

    def set_limit(self, n: int) -> int:
        """Answer at most ``n`` (clamped to 1..``parallel``) at once from now on; more wait. Returns the limit."""
        self._sched.limit = max(1, min(self.parallel, int(n)))
        return self._sched.limit

    def cache_stats(self) -> dict[str, int]:
        """Warm-cache counters (``batch.Scheduler.cache_stats``): prompt tokens reused and decoded, warm slots,
        saved states and their bytes."""
        return self._sched.cache_stats()

    def forget_cache(self) -> None:
        """Empty every idle slot and drop the saved states: the next answer of every thread is read cold."""
        if self._llm is not None:
            self._call(self._sched.forget)

    def held_bytes(self) -> dict[str, int]:
        """What the loaded model holds (Units: bytes): ``weights_bytes`` (the file, memory-mapped), ``kv_bytes``
        (the cache of every slot, f16), ``saved_bytes`` (saved thread states in RAM; on disk they hold none)."""
        try:
            info = read_gguf_info(self.path, read_tensors=False)
            weights = int(info.tensor_data_bytes or info.size_bytes)
            kv = int(info.kv_cache_bytes(self.n_ctx)) * self.parallel if info.kv_bytes_per_token else 0
        except (ModelError, OSError):
            weights, kv = 0, 0
        return {"weights_bytes": weights, "kv_bytes": kv, "saved_bytes": int(self._sched.states.ram_bytes)}

    # ---- public API ----------------------------------------------------------------------------
    def load(self) -> float:
        """Load the weights (idempotent). Returns seconds (0 when loaded already). Raises a ``ModelError``."""
        return self._call(self._load)

    def _load(self) -> float:
        if self._llm is not None:
            return 0.0
        if self._setting_error is not None:
            raise self._setting_error
        if not self.path.is_file():
            raise ModelError(f"model file not found: {printable(self.path)}; check the path or run `baton models`")
        import llama_cpp

        t0 = time.perf_counter()
        logs: list[str] = []
        with llama_path(self.path) as model_path, self._capture_log(logs):
            try:
                # the Llama object holds the weights and the vocabulary; its own context is the smallest there is,
                # and the sequences run in the batched context below (every slot with the full n_ctx)
                llm = llama_cpp.Llama(
                    model_path=model_path, n_ctx=HELPER_CTX, n_batch=HELPER_CTX, n_threads=self.n_threads,
                    n_threads_batch=self.n_threads, n_gpu_layers=self.n_gpu_layers, use_mmap=True,
                    seed=self.seed, verbose=False,
                )
                backend = LlamaBatchBackend(llm, self.n_ctx, self.parallel)
            except (ValueError, RuntimeError, OSError) as e:
                raise load_failure(self.path, self.n_ctx * self.parallel, str(e), logs) from None
        self.load_s = time.perf_counter() - t0
        self._setup_vocab(llm)
        self._llm = llm
        self._sched.backend = backend
        return self.load_s

    def _capture_log(self, logs: list[str]) -> Any:
        """llama.cpp's log lines during the load (its reason for refusing a file), then its usual logger again."""
        import ctypes

        import llama_cpp
        from llama_cpp import _logger

        @llama_cpp.llama_log_callback
        def collect(level: int, text: bytes, user_data: Any) -> None:
            if len(logs) < 2000:
                logs.append(text.decode("utf-8", "replace"))

        self._log_callbacks = [collect]

        @contextlib.contextmanager
        def scope() -> Iterator[None]:
            llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
            try:
                yield
            finally:
                llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))

        return scope()

    def _setup_vocab(self, llm: Any) -> None:
        import llama_cpp

        vocab = llm._model.vocab
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        self._bos = llm.token_bos()
        self._attr = llm._model.token_get_attr

        def text_of(tok: int) -> str:
            return llm.detokenize([tok], special=True).decode("utf-8", "ignore") if tok >= 0 else ""

        chatml = [self._attr(t) & _SPECIAL_ATTRS for t in llm.tokenize(b"<|im_start|><|im_end|>", False, True)]
        template = self.chat_template if self.chat_template is not None else llm.metadata.get("tokenizer.chat_template")
        self._format = ChatFormat(template, bos_token=text_of(self._bos),
                                  eos_token=text_of(llm.token_eos()), chatml=len(chatml) == 2 and all(chatml))
        for note in self._format.notes:
            self._note(note)

    # ---- prompts -------------------------------------------------------------------------------
    def _split_special(self, text: str) -> list[int | str]:
        """``text`` as llama.cpp partitions it with special tokens on: token ids and raw text runs."""
        hit = self._special_cache.get(text)
        if hit is not None:
            return hit
        llm = self._llm
        specials = {t for t in llm.tokenize(text.encode("utf-8"), False, True) if self._attr(t) & _SPECIAL_ATTRS}
        parts: list[int | str] = [text]
        pieces = sorted(((llm.detokenize([t], special=True).decode("utf-8", "ignore"), t) for t in specials),
                        key=lambda p: -len(p[0]))
        for piece, tok in pieces:
            if not piece:
                continue
            out: list[int | str] = []
            for part in parts:
                if not isinstance(part, str):
                    out.append(part)
                    continue
                chunks = part.split(piece)
                for i, chunk in enumerate(chunks):
                    if i:
                        out.append(tok)
                    if chunk:
                        out.append(chunk)
            parts = out
        if len(self._special_cache) < 4096:
            self._special_cache[text] = parts
        return parts

    def _tokens(self, rendered: RenderedPrompt) -> list[int]:
        """Markup with special tokens parsed, contents as plain text, adjacent text tokenized together (as
        llama.cpp would for a prompt without special strings in its contents); one BOS when the model wants it."""
        llm = self._llm
        ids: list[int] = []
        text = ""
        for piece in rendered.pieces:
            for part in self._split_special(piece.text) if piece.special else [piece.text]:
                if isinstance(part, str):
                    text += part
                    continue
                if text:
                    ids += llm.tokenize(text.encode("utf-8"), False, False)
                    text = ""
                ids.append(part)
        if text:
            ids += llm.tokenize(text.encode("utf-8"), False, False)
        bos = self._bos
        if bos >= 0:
            if self._add_bos and (not ids or ids[0] != bos):
                ids.insert(0, bos)
            while len(ids) > 1 and ids[0] == bos and ids[1] == bos:
                del ids[0]  # never two BOS: the template wrote one and the model adds one
        return ids

    def _prompt(self, messages: list[ChatMessage]) -> tuple[list[int], list[str]]:
        assert self._format is not None
        rendered = self._format.render(messages)
        for note in rendered.notes:
            self._note(note)
        return self._tokens(rendered), rendered.stops

    def count_prompt_tokens(self, messages: list[ChatMessage]) -> int:
        """Tokens the prompt takes after the chat template is applied (the exact ids ``stream`` sends)."""
        def run() -> int:
            self._load()
            return len(self._prompt(messages)[0])

        return self._call(run)

    def tokenize_text(self, text: str) -> int:
        """Tokens ``text`` takes as plain text (special-token strings count as characters)."""
        def run() -> int:
            self._load()
            return len(self._llm.tokenize(text.encode("utf-8"), False, False))

        return self._call(run)

    def prompt_tokens(self, messages: list[ChatMessage]) -> list[int]:
        """The token ids ``stream`` would send for ``messages`` (for tests and diagnostics)."""
        def run() -> list[int]:
            self._load()
            return self._prompt(messages)[0]

        return self._call(run)

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None,
               on_work: WorkCallback | None = None) -> Iterator[Chunk]:
        """Yield text chunks; the last carries the ``Completion``. Honours max_tokens, temperature, top_p, seed
        (repeatable sampling) and stop (the answer ends before the first stop string). Up to ``parallel`` calls
        from any threads generate together in one batch; more wait for a slot in arrival order.
        ``on_work(n)`` is called (on the engine's thread) with the tokens this answer had processed in each
        decode step, prompt and answer tokens alike (the energy meter splits a shared window by them).
        Raises ``ContextOverflow`` when the prompt leaves no room for the answer, ``ModelError`` on failure."""
        seq = self._call(lambda: self._admit(request, cancel, on_work))
        return drain(seq)

    def _admit(self, request: GenerationRequest, cancel: threading.Event | None,
               on_work: WorkCallback | None) -> Sequence:
        self._load()
        prompt_ids, template_stops = self._prompt(request.messages)
        n_prompt = len(prompt_ids)
        room = self.n_ctx - n_prompt
        if room < 1:  # the pipeline keeps room for the answer (pipeline.local.answer_reserve); this is the floor
            raise ContextOverflow(
                f"the prompt is {n_prompt} tokens but {self.model_id} has a {self.n_ctx}-token context; "
                "shorten the prompt, start a new thread, or raise engine.n_ctx with `baton config set`"
            )
        temperature = float(request.temperature or 0.0)
        seed = request.seed if request.seed is not None else self.seed
        seq = Sequence(prompt_ids, max(1, min(int(request.max_tokens), room)),
                       Sampler(temperature, float(request.top_p), seed),
                       [*template_stops, *(request.stop or [])], self.model_id, cancel, on_work)
        self._sched.enqueue(seq)
        return seq

    def close(self) -> None:
        """Cancel what is generating, free the model and stop its thread."""
        self._sched.close()
        self._llm = None


class LlamaBatchBackend:
    """The batched context of one loaded ``Llama``: ``parallel`` sequence slots of ``n_ctx`` tokens each
    (``n_seq_max = parallel``, one KV stream per slot, so a slot never shrinks another's context), one
    ``llama_batch`` of ``N_BATCH`` tokens reused every step. Raises ``RuntimeError`` when llama.cpp refuses the
    context (too little memory). Used only on the engine's owner thread."""

    def __init__(self, llm: Any, n_ctx: int, parallel: int, n_batch: int = N_BATCH) -> None:
        import llama_cpp

        self._lib = llama_cpp
        params = type(llm.context_params).from_buffer_copy(llm.context_params)  # the threads, types, flags
        params.n_ctx = n_ctx * parallel
        params.n_seq_max = parallel
        params.kv_unified = False
        params.n_batch = params.n_ubatch = n_batch
        self.n_batch = n_batch
        self._ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not self._ctx:
            raise RuntimeError(f"llama.cpp could not create a context of {parallel} x {n_ctx} tokens")
        self.n_ctx_slot = int(llama_cpp.llama_n_ctx_seq(self._ctx))
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        b = self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._vocab = llm._model.vocab
        self.n_vocab = int(llm.n_vocab())
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        # the batch's arrays as numpy views (filled by slices each step); every entry belongs to one sequence
        self._tok = np.ctypeslib.as_array(b.token, shape=(n_batch,))
        self._pos = np.ctypeslib.as_array(b.pos, shape=(n_batch,))
        self._want = np.ctypeslib.as_array(b.logits, shape=(n_batch,))
        np.ctypeslib.as_array(b.n_seq_id, shape=(n_batch,))[:] = 1
        self._seq_ids = [b.seq_id[i] for i in range(n_batch)]
        self._slot_of = [-1] * n_batch  # what seq_id[i][0] holds now (written only when it changes)

    def decode(self, tokens: list[int], pos: list[int], slots: list[int], want: list[bool]) -> None:
        """One ``llama_decode`` of ``len(tokens)`` (<= ``n_batch``) entries. Raises ``ModelError``."""
        n = len(tokens)
        self._tok[:n] = tokens
        self._pos[:n] = pos
        self._want[:n] = want
        seq_ids, slot_of = self._seq_ids, self._slot_of
        for i, slot in enumerate(slots):
            if slot_of[i] != slot:
                seq_ids[i][0] = slot_of[i] = slot
        self._batch.n_tokens = n
        rc = self._lib.llama_decode(self._ctx, self._batch)
        if rc != 0:
            raise ModelError(f"llama.cpp could not decode a batch of {n} tokens (code {rc}); "
                             "try again, or lower engine.parallel or engine.n_ctx")

    def outputs(self, n: int) -> np.ndarray:
        """The logits of the last decode's ``n`` output rows (``float32[n, n_vocab]``, row ``j``: the ``j``-th batch
        entry that asked for logits), without a copy; valid until the next decode."""
        ptr = self._lib.llama_get_logits(self._ctx)
        buf = (ctypes.c_float * (n * self.n_vocab)).from_address(ctypes.addressof(ptr.contents))
        return np.frombuffer(buf, dtype=np.float32).reshape(n, self.n_vocab)

    def trim(self, slot: int, keep: int) -> bool:
        """Drop slot ``slot``'s KV cache from position ``keep`` on; False when this cache cannot drop a tail."""
        return bool(self._lib.llama_memory_seq_rm(self._mem, slot, max(0, keep) if keep > 0 else -1, -1))

    def save(self, slot: int) -> bytearray:
        """Slot ``slot``'s cache serialised by ``llama_state_seq_get_data`` (empty when it holds nothing). llama.cpp
        writes straight into the returned buffer: no second copy, so saving a large cache never holds it twice."""
        lib = self._lib
        size = int(lib.llama_state_seq_get_size(self._ctx, slot))
        if size <= 0:
            return bytearray()
        data = bytearray(size)
        written = int(lib.llama_state_seq_get_data(self._ctx, (ctypes.c_uint8 * size).from_buffer(data), size, slot))
        if written <= 0:
            return bytearray()
        del data[written:]  # in place; normally nothing to cut
        return data

    def restore(self, slot: int, data: bytes | bytearray) -> bool:
        """Load ``data`` from ``save`` into the empty slot ``slot`` (``llama_state_seq_set_data``; a bytearray is
        read in place, bytes are copied once)."""
        c_array = ctypes.c_uint8 * len(data)
        buf = c_array.from_buffer(data) if isinstance(data, bytearray) else c_array.from_buffer_copy(data)
        if int(self._lib.llama_state_seq_set_data(self._ctx, buf, len(data), slot)) > 0:
            return True
        self.trim(slot, 0)
        return False

    def is_eog(self, token: int) -> bool:
        """True for end-of-generation tokens (EOS, EOT, the template's end marker)."""
        hit = self._eog.get(token)
        if hit is None:
            hit = self._eog[token] = bool(self._lib.llama_vocab_is_eog(self._vocab, token))
        return hit

    def piece(self, token: int) -> bytes:
        """The bytes of ``token`` (special tokens render as nothing, as in llama-cpp-python's completions)."""
        hit = self._pieces.get(token)
        if hit is None:
            buf = ctypes.create_string_buffer(64)
            n = self._lib.llama_token_to_piece(self._vocab, token, buf, 64, 0, False)
            if n < 0:  # a longer piece: its size is -n
                buf = ctypes.create_string_buffer(-n)
                n = self._lib.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
            hit = self._pieces[token] = buf.raw[:max(0, n)]
        return hit

    def close(self) -> None:
        """Free the batch and the context (idempotent)."""
        if self._ctx:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            self._ctx = None
