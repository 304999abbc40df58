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

from baton.core.engine.signals import ConfidenceTracker, LoopDetector
from baton.core.errors import ContextOverflow, ModelError
from baton.core.types import ChatMessage, Chunk, Completion, GenerationRequest, Timing, Usage

_END = object()
ANSWER_RESERVE_TOKENS = 16  # a prompt must leave at least this much room for the answer


def physical_cores() -> int:
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - psutil may be missing in odd bundles
        n = None
    return max(1, n or os.cpu_count() or 1)


class LlamaEngine:
    """A GGUF model loaded by llama.cpp, memory-mapped, driven from one owner thread."""

    def __init__(self, path: Path | str, n_ctx: int = 4096, n_threads: int = 0, n_gpu_layers: int = 0,
                 model_id: str | None = None, seed: int = 0) -> None:
        self.path = Path(path)
        self.model_id = model_id or self.path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads or physical_cores()
        self.n_gpu_layers = n_gpu_layers
        self.seed = seed
        self.load_s = 0.0
        self._llm: Any = None
        self._formatter: Any = None
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"llama:{self.model_id}", daemon=True)
        self._thread.start()

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
        return self._call(self._load)

    def _load(self) -> float:
        if self._llm is not None:
            return 0.0
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}; check the path or run `baton models`")
        import llama_cpp
        from llama_cpp import llama_chat_format

        t0 = time.perf_counter()
        try:
            llm = llama_cpp.Llama(
                model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                n_threads_batch=self.n_threads, n_gpu_layers=self.n_gpu_layers, use_mmap=True,
                seed=self.seed, verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelError(
                f"llama.cpp could not load {self.path.name} ({e}); the file may be truncated or corrupt: "
                "download it again or pick another model"
            ) from None
        self.load_s = time.perf_counter() - t0
        template = llm.metadata.get("tokenizer.chat_template")
        if template:
            eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "ignore")
            bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "ignore")
            self._formatter = llama_chat_format.Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._llm = llm
        return self.load_s

    def _format(self, messages: list[ChatMessage]) -> tuple[str, list[str]]:
        msgs = [{"role": m.role, "content": m.content} for m in messages]
        if self._formatter is None:  # a base model without a template: plain transcript
            text = "".join(f"{m['role']}: {m['content']}\n" for m in msgs) + "assistant:"
            return text, ["\nuser:"]
        res = self._formatter(messages=msgs)
        stop = res.stop if isinstance(res.stop, list) else [res.stop]
        return res.prompt, [s for s in stop if s]

    def count_prompt_tokens(self, messages: list[ChatMessage]) -> int:
        def run() -> int:
            self._load()
            prompt, _ = self._format(messages)
            return len(self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

        return self._call(run)

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[Chunk]:
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
        prompt, template_stops = self._format(request.messages)
        prompt_ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
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

        stream = llm.create_completion(
            prompt=prompt_ids, max_tokens=max_tokens, temperature=request.temperature, top_p=request.top_p,
            stop=[*template_stops, *request.stop] or None, stream=True,
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


def raw_speed_run(llm_path: Path, system_prompt: str, n_ctx: int, n_threads: int) -> Callable[[str, int], dict]:
    """Bare llama-cpp-python for the speed benchmark: returns ``run(prompt, max_tokens)`` that times one
    streamed ``create_chat_completion`` on one ``Llama`` kept across calls, loaded like the engine loads."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(llm_path), n_ctx=n_ctx, n_threads=n_threads or physical_cores(),
                          n_threads_batch=n_threads or physical_cores(), n_gpu_layers=0, use_mmap=True, seed=0,
                          verbose=False)

    def run(prompt: str, max_tokens: int) -> dict:
        messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": prompt}]
        t0 = time.perf_counter()
        t_first = 0.0
        n = 0
        for part in llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0,
                                               stream=True, seed=0):
            if part["choices"][0]["delta"].get("content"):
                n += 1
                if not t_first:
                    t_first = time.perf_counter()
        t_end = time.perf_counter()
        return {"ttft_s": t_first - t0, "tokens": n,
                "decode_tokens_per_s": (n - 1) / (t_end - t_first) if n > 1 else 0.0}

    return run
