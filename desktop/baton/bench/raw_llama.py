"""Bare llama-cpp-python, the baseline `baton bench speed` measures Baton's pipeline against.

The benchmark may import ``llama_cpp`` directly: it measures the library itself, not the product.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from baton.core.engine.llama import physical_cores


def raw_speed_run(llm_path: Path, system_prompt: str, n_ctx: int, n_threads: int) -> Callable[[str, int], dict]:
    """Load ``llm_path`` in one ``llama_cpp.Llama`` kept across calls, as the engine loads it (``n_threads`` 0:
    the physical cores; CPU only, mmap, seed 0), and return ``run(prompt, max_tokens)``, which times one
    streamed ``create_chat_completion`` at temperature 0 and returns ``{"ttft_s", "tokens",
    "decode_tokens_per_s"}`` (Units: s, streamed content deltas, deltas/s after the first).
    Raises whatever ``llama_cpp`` raises for a file it cannot load (``ValueError``)."""
    import llama_cpp

    threads = n_threads or physical_cores()
    llm = llama_cpp.Llama(model_path=str(llm_path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                          n_gpu_layers=0, use_mmap=True, seed=0, verbose=False)

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
