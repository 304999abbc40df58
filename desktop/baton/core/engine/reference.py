"""Bare llama-cpp-python, as the baselines the benchmarks measure Baton against: no Baton code on the generation
path, only llama.cpp's own API (the high-level ``Llama`` for single-sequence speed, a plain greedy ``llama_batch``
loop for many sequences). They live here because only ``core/engine`` imports ``llama_cpp``; the product never
calls them, the benchmarks in ``baton.bench`` do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from baton.core.engine.machine import physical_cores


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


class ReferenceLoop:
    """A plain greedy batched loop over one llama.cpp context with ``n_seq`` sequences of ``n_ctx`` tokens each.
    ``run(prompts, counts)`` prefills every prompt (token ids) and decodes exactly ``counts[i]`` tokens for
    sequence ``i``; returns the wall seconds."""

    def __init__(self, path: Path, n_ctx: int, n_seq: int, n_threads: int, n_batch: int = 512) -> None:
        import llama_cpp

        self.lib = llama_cpp
        mp = llama_cpp.llama_model_default_params()
        mp.n_gpu_layers = 0
        self.model = llama_cpp.llama_model_load_from_file(str(path).encode(), mp)
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx, cp.n_seq_max, cp.kv_unified = n_ctx * n_seq, n_seq, False
        cp.n_batch = cp.n_ubatch = n_batch
        cp.n_threads = cp.n_threads_batch = n_threads
        cp.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as llama_cpp.Llama creates its contexts
        self.ctx = llama_cpp.llama_init_from_model(self.model, cp)
        self.mem = llama_cpp.llama_get_memory(self.ctx)
        self.n_batch = n_batch
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(self.model))

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        b = self.batch
        for i, (tok, pos, seq, logits) in enumerate(entries):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = tok, pos, 1, logits
            b.seq_id[i][0] = seq
        b.n_tokens = len(entries)
        if self.lib.llama_decode(self.ctx, b) != 0:
            raise RuntimeError("llama_decode failed in the reference loop")

    def _argmax(self, i: int) -> int:
        import numpy as np

        row = np.ctypeslib.as_array(self.lib.llama_get_logits_ith(self.ctx, i), shape=(self.n_vocab,))
        return int(row.argmax())

    def run(self, prompts: list[list[int]], counts: list[int]) -> float:
        """Prefill every prompt (token ids) and decode exactly ``counts[i]`` greedy tokens for sequence ``i``, all
        sequences in one batch per step. Returns the wall time (Units: s). Raises RuntimeError if a decode fails."""
        for s in range(len(prompts)):
            self.lib.llama_memory_seq_rm(self.mem, s, -1, -1)
        t0 = time.perf_counter()
        nxt: list[int] = [0] * len(prompts)
        entries: list[tuple[int, int, int, bool]] = []
        rows: list[int] = []
        for s, p in enumerate(prompts):  # prefill, in batches of n_batch tokens
            for j, tok in enumerate(p):
                entries.append((tok, j, s, j == len(p) - 1))
                if j == len(p) - 1:
                    rows.append(len(entries) - 1)
                if len(entries) == self.n_batch:
                    self._flush_prefill(entries, rows, nxt)
                    entries, rows = [], []
        if entries:
            self._flush_prefill(entries, rows, nxt)
        made = [1] * len(prompts)
        pos = [len(p) for p in prompts]
        while True:
            live = [s for s in range(len(prompts)) if made[s] < counts[s]]
            if not live:
                break
            self._decode([(nxt[s], pos[s], s, True) for s in live])
            for i, s in enumerate(live):
                nxt[s] = self._argmax(i)
                pos[s] += 1
                made[s] += 1
        return time.perf_counter() - t0

    def _flush_prefill(self, entries: list[tuple[int, int, int, bool]], rows: list[int], nxt: list[int]) -> None:
        self._decode(entries)
        for i in rows:
            nxt[entries[i][2]] = self._argmax(i)

    def close(self) -> None:
        """Free the batch, the context and the model."""
        self.lib.llama_batch_free(self.batch)
        self.lib.llama_free(self.ctx)
        self.lib.llama_model_free(self.model)
