"""LlamaEngine: llama.cpp through llama-cpp-python. The ONLY module that imports ``llama_cpp``.

One owner thread holds the ``Llama`` object (it is not thread-safe) and runs every call on it; callers on
any thread submit work and iterate the chunks it produces. Cancel is a ``threading.Event`` checked
between tokens. Per-token confidence comes from a logits processor, never ``logits_all``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from baton.core.engine.chat_format import ChatFormat, RenderedPrompt
from baton.core.errors import ModelSettingError
from baton.core.engine.gguf import printable, read_gguf_info
from baton.core.engine.model_file import llama_path, load_failure
from baton.core.engine.signals import ConfidenceTracker, LoopDetector
from baton.core.errors import ContextOverflow, ModelError
from baton.core.types import ChatMessage, Chunk, Completion, GenerationRequest, Timing, Usage

_END = object()
ANSWER_RESERVE_TOKENS = 16  # a prompt must leave at least this much room for the answer
MAX_CTX_UNKNOWN_MODEL = 1 << 20  # the largest n_ctx accepted when the file does not say its trained context
_SPECIAL_ATTRS = (1 << 0) | (1 << 3) | (1 << 4)  # UNKNOWN | CONTROL | USER_DEFINED: what parse_special matches


def physical_cores() -> int:
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - psutil may be missing in odd bundles
        n = None
    return max(1, n or os.cpu_count() or 1)


def _total_ram_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001
        return None


class LlamaEngine:
    """A GGUF model loaded by llama.cpp, memory-mapped, driven from one owner thread.

    ``n_ctx`` (tokens) is clamped to the model's trained context and ``n_threads`` to the CPU count, each
    with a sentence in ``notices``; values no machine can honour (negative, a context whose cache would not
    fit in RAM) raise ``ModelSettingError`` at ``load()``. ``notices`` also collects what the chat format had
    to adapt (a template without a system role, one that failed). All failures are ``ModelError``s.
    ``chat_template`` (Jinja) replaces the file's own template when given.
    """

    def __init__(self, path: Path | str, n_ctx: int = 4096, n_threads: int = 0, n_gpu_layers: int = 0,
                 model_id: str | None = None, seed: int = 0, chat_template: str | None = None) -> None:
        self.path = Path(path)
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
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"llama:{self.model_id}", daemon=True)
        self._thread.start()

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
        ram = _total_ram_bytes()
        if info is not None and ram and info.kv_bytes_per_token and info.kv_cache_bytes(n_ctx) > ram:
            fits = max(256, ram // 2 // info.kv_bytes_per_token)
            self._setting_error = ModelSettingError(
                f"engine.n_ctx {n_ctx} needs a {info.kv_cache_bytes(n_ctx) / 1e9:.1f} GB cache, more than this "
                f"machine's {ram / 1e9:.1f} GB of RAM; set engine.n_ctx to {fits} or less")
        return n_ctx

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
    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            fn, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                fut.set_exception(e)
        self._llm = None

    def _submit(self, fn: Callable[[], Any]) -> Future:
        if not self._thread.is_alive():
            raise ModelError(f"the engine for {self.model_id} was closed; load the model again")
        fut: Future = Future()
        self._jobs.put((fn, fut))
        return fut

    def _call(self, fn: Callable[[], Any]) -> Any:
        return self._submit(fn).result()

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
                llm = llama_cpp.Llama(
                    model_path=model_path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                    n_threads_batch=self.n_threads, n_gpu_layers=self.n_gpu_layers, use_mmap=True,
                    seed=self.seed, verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as e:
                raise load_failure(self.path, self.n_ctx, str(e), logs) from None
        self.load_s = time.perf_counter() - t0
        self._setup_vocab(llm)
        self._llm = llm
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

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[Chunk]:
        """Yield text chunks; the last carries the ``Completion``. Honours max_tokens, temperature, top_p, seed
        (repeatable sampling) and stop (the answer ends before the first stop string)."""
        out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        stop_flag = threading.Event()
        fut = self._submit(lambda: self._generate(request, cancel, stop_flag, out))
        try:
            while True:
                item = out.get()
                if item is _END:
                    break
                yield item
            fut.result()  # re-raise an error from the owner thread
        finally:
            stop_flag.set()  # the consumer went away: stop generating at the next token

    def _generate(self, request: GenerationRequest, cancel: threading.Event | None,
                  stop_flag: threading.Event, out: queue.SimpleQueue) -> None:
        try:
            self._generate_into(request, cancel, stop_flag, out)
        finally:
            out.put(_END)

    def _generate_into(self, request: GenerationRequest, cancel: threading.Event | None,
                       stop_flag: threading.Event, out: queue.SimpleQueue) -> None:
        self._load()
        llm = self._llm
        t0 = time.perf_counter()
        prompt_ids, template_stops = self._prompt(request.messages)
        n_prompt = len(prompt_ids)
        room = self.n_ctx - n_prompt
        if room < ANSWER_RESERVE_TOKENS:
            raise ContextOverflow(
                f"the prompt is {n_prompt} tokens but {self.model_id} has a {self.n_ctx}-token context; "
                "shorten the prompt, start a new thread, or raise engine.n_ctx with `baton config set`"
            )
        max_tokens = max(1, min(request.max_tokens, room))
        tracker = ConfidenceTracker()
        loop = LoopDetector()
        state = {"calls": 0}

        def observe(input_ids: Any, scores: Any) -> Any:
            if state["calls"]:
                loop.push(int(input_ids[-1]))
            state["calls"] += 1
            tracker.observe(scores)
            return scores

        import llama_cpp

        stops = [s for s in [*template_stops, *(request.stop or [])] if s]
        stream = llm.create_completion(
            prompt=prompt_ids, max_tokens=max_tokens, temperature=request.temperature, top_p=request.top_p,
            stop=stops or None, stream=True,
            seed=request.seed if request.seed is not None else self.seed,
            logits_processor=llama_cpp.LogitsProcessorList([observe]),
        )
        pieces: list[str] = []
        finish = "stop"
        t_first = 0.0
        try:
            for part in stream:
                choice = part["choices"][0]
                text = choice.get("text") or ""
                if text:
                    if not t_first:
                        t_first = time.perf_counter()
                    pieces.append(text)
                    out.put(Chunk(text))
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                if loop.detected:
                    finish = "loop"
                    break
                if stop_flag.is_set() or (cancel is not None and cancel.is_set()):
                    finish = "cancelled"
                    break
        except ValueError as e:  # llama-cpp-python reports context problems as ValueError
            raise ContextOverflow(f"{e}; shorten the prompt or raise engine.n_ctx") from None
        finally:
            with contextlib.suppress(Exception):
                stream.close()
        t_end = time.perf_counter()
        n_gen = max(0, state["calls"] - (1 if finish == "stop" else 0))
        ttft = (t_first or t_end) - t0
        decode_s = t_end - (t_first or t_end)
        timing = Timing(
            load_s=0.0, ttft_s=ttft, total_s=t_end - t0,
            decode_tokens_per_s=(n_gen - 1) / decode_s if n_gen > 1 and decode_s > 0 else 0.0,
            prefill_tokens_per_s=n_prompt / ttft if ttft > 0 else 0.0,
        )
        out.put(Chunk("", Completion(
            text="".join(pieces), model=self.model_id, finish_reason=finish,
            usage=Usage(prompt_tokens=n_prompt, completion_tokens=n_gen), timing=timing,
            signals=tracker.signals(loop),
        )))

    def close(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(timeout=10)
