"""`baton bench threads`: many threads on one machine, side by side in one run on the same model.

Each round answers the same N questions three ways: one after another through Baton's pipeline (the queue),
all at once through Baton's pipeline (the batched engine), and through a reference loop, a plain greedy
``llama_batch`` loop written here with no Baton code, over the same model, context parameters, prompt tokens and
answer token counts (decode steps included), threads, context and batch size. Every side reads its prompts cold
(Baton's warm slots are emptied before each of its runs) and each is warmed up once before the rounds.
Aggregate tokens/s = answer tokens of all threads / wall time from the first question to the last answer. Ratios
are paired per round and reported with a 95% bootstrap interval of their median; ``fairness`` says what the sides
shared, ``load_average`` the machine's 1-minute load at the start and the end.

It also answers a thread whose history holds H tokens, lets N other threads run at once (they take every slot,
so the thread's cache is saved aside), and asks it again (warm: its state restored, only the new tokens read); then
answers that same question cold (every cache forgotten) to compare the time to first token and the text. The bare
loops it compares against live in ``baton.core.engine.reference``: it measures the library itself, not the product.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from baton.bench.stats import bootstrap_median_ci
from baton.config import Settings
from baton.core.engine.llama import N_BATCH
from baton.core.engine.reference import ReferenceLoop
from baton.core.types import ChatMessage, SamplingParams
from baton.paths import Paths

QUESTIONS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how a bicycle stays upright.",
    "Describe the water cycle for a child.",
    "List ideas for a rainy weekend and explain each.",
    "Write a letter to a friend about a trip to the mountains.",
    "Explain what a hash table is and when to use one.",
    "Describe a busy market in the morning.",
    "Write a poem about autumn leaves.",
]
ESTIMATE_NOTE = ("only the CPU estimate exists on this machine: joules follow time here and prove nothing about "
                 "energy by themselves")


def question(i: int) -> str:
    """The i-th thread's question (distinct per thread, repeated per round)."""
    return QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" (variant {i // len(QUESTIONS)})")


def _ask_all(service: Any, model: str | None, tokens: int, n: int, at_once: bool) -> dict[str, Any]:
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            results[i] = service.ask(question(i), model=model, tier="local", max_tokens=tokens)
        except BaseException as e:  # noqa: BLE001 - reported after the round
            errors.append(e)

    t0 = time.perf_counter()
    if at_once:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for i in range(n):
            one(i)
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    n_tokens = sum(r.usage.completion_tokens for r in results)
    energy = sum(r.energy.total_j for r in results)
    union = service.meter.shared.last_union if at_once else None
    return {"wall_s": wall, "tokens": n_tokens, "tokens_per_s": n_tokens / wall, "energy_j": energy,
            "counts": [r.usage.completion_tokens for r in results], "texts": [r.text for r in results],
            "prompt_tokens": [r.usage.prompt_tokens for r in results],
            "finish": [r.finish_reason for r in results],
            "union_j": union.total_j if union is not None else None,
            "sources": sorted({p.source for r in results for p in r.energy.parts}),
            "shared_with": [int(getattr(r.energy, "shared_with", 0)) for r in results]}


def _history_ttft(service: Any, model: str | None, history_tokens: int, others: int) -> dict[str, Any]:
    """A thread with ``history_tokens`` of history, answered after ``others`` other threads ran at once in between
    (they take every slot, so its cache is saved and must be restored), then the same question answered cold
    (every cache forgotten, a retry of the same answer): time to first token of both, the prompt tokens the warm
    answer read, and whether both answers are the same (greedy)."""
    def timed(fn: Callable[[Callable[[str], None]], Any]) -> tuple[float, Any]:
        first: list[float] = []
        t0 = time.perf_counter()
        result = fn(lambda _t: first or first.append(time.perf_counter()))
        return (first[0] if first else time.perf_counter()) - t0, result

    engine, _ = service.engine(model)
    filler = "The committee reviewed the quarterly figures and noted steady progress on every project. "
    per = max(1, engine.tokenize_text(filler))
    long_q = filler * max(1, history_tokens // per) + "\nSummarise the notes above in one sentence."
    first_s, first = timed(lambda cb: service.ask(long_q, model=model, tier="local", max_tokens=16, on_text=cb))
    _ask_all(service, model, 16, max(1, others), at_once=True)  # other threads in between, in every slot
    stats = getattr(engine, "cache_stats", dict)
    before = stats()
    warm_s, warm = timed(lambda cb: service.ask("And in three words?", thread_id=first.thread_id, model=model,
                                                tier="local", params=SamplingParams(max_tokens=8, temperature=0.0),
                                                on_text=cb))
    after = stats()
    forget = getattr(engine, "forget_cache", None)
    if forget is not None:
        forget()
    cold_before = stats()
    cold_s, cold = timed(lambda cb: service.retry(warm.message_id, tier="local", model=model, on_text=cb,
                                                  params=SamplingParams(max_tokens=8, temperature=0.0)))
    cold_after = stats()

    def delta(a: dict[str, int], b: dict[str, int], key: str) -> int | None:
        return b[key] - a[key] if key in a and key in b else None

    return {"cold_ttft_s": cold_s, "warm_ttft_s": warm_s, "first_ttft_s": first_s,
            "history_prompt_tokens": warm.usage.prompt_tokens,
            "warm_prompt_tokens_read": delta(before, after, "prefilled_tokens"),
            "cold_prompt_tokens_read": delta(cold_before, cold_after, "prefilled_tokens"),
            "warm_state_restored": bool(delta(before, after, "states_restored")),
            "warm_matches_cold": warm.text == cold.text and warm.usage.prompt_tokens == cold.usage.prompt_tokens}


def run_threads_bench(settings: Settings, model: str | None, threads: int, tokens: int, history_tokens: int,
                      rounds: int, progress: Callable[[str], None] = lambda _s: None) -> dict[str, Any]:
    """CONTRACT `bench threads`: sequential vs concurrent through Baton vs the reference loop, ``rounds`` rounds of
    ``threads`` questions with ``tokens`` answer tokens each (greedy). Raises BatonError for a bad model."""
    from baton.core.service import BatonService

    load_start = os.getloadavg()[0]
    eng = dataclasses.replace(settings.engine, temperature=0.0, parallel=max(threads, 1))
    bench_settings = dataclasses.replace(settings, engine=eng, endpoints=[])
    bench_settings.routing = dataclasses.replace(settings.routing, mode="never")
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmp:
        service = BatonService.build(Paths.from_env({"BATON_HOME": tmp}).ensure(), bench_settings)
        try:
            path, model_id = service.resolve_model(model)
            engine, load_s = service.engine(model)
            prompts = [engine.prompt_tokens([ChatMessage("system", _system()), ChatMessage("user", question(i))])
                       for i in range(threads)]
            ref = ReferenceLoop(path, engine.n_ctx, threads, engine.n_threads, n_batch=N_BATCH)
            ref1 = ReferenceLoop(path, engine.n_ctx, 1, engine.n_threads, n_batch=N_BATCH)
            try:
                warm = _ask_all(service, model, tokens, threads, at_once=True)  # warm-up, not counted
                ref.run(prompts, _decoded(warm))  # the reference's warm-up, not counted
                seq_runs, conc_runs, ref_runs, ref1_runs = [], [], [], []
                for r in range(max(1, rounds)):
                    progress(f"round {r + 1} of {rounds}")
                    order = ["seq", "conc", "ref", "ref1"]
                    for kind in order[r % 4:] + order[:r % 4]:
                        if kind in ("seq", "conc"):
                            # every side reads its prompts cold, as the reference loop does
                            engine.forget_cache()
                            runs = seq_runs if kind == "seq" else conc_runs
                            runs.append(_ask_all(service, model, tokens, threads, at_once=kind == "conc"))
                        else:
                            # the same answer tokens as Baton's batched answers of this round (or the warm-up's)
                            basis = conc_runs[-1] if conc_runs else warm
                            counts = _decoded(basis)
                            if kind == "ref":
                                wall = ref.run(prompts, counts)
                            else:  # the same loop, one sequence at a time: the machine's own batching gain
                                wall = sum(ref1.run([p], [c]) for p, c in zip(prompts, counts))
                            (ref_runs if kind == "ref" else ref1_runs).append(
                                {"wall_s": wall, "tokens": basis["tokens"], "tokens_per_s": basis["tokens"] / wall})
            finally:
                ref.close()
                ref1.close()
            fairness = _fairness(prompts, engine, seq_runs, conc_runs)
            history = _history_ttft(service, model, history_tokens, threads) if history_tokens > 0 else {}
        finally:
            service.close()
    doc = _document(model_id, str(path), threads, tokens, load_s, seq_runs, conc_runs, ref_runs, history,
                    history_tokens, ref1_runs)
    doc["fairness"] = fairness
    doc["load_average"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    return doc


def _decoded(run: dict[str, Any]) -> list[int]:
    """Tokens each answer of ``run`` had the model produce: its answer tokens, plus the end-of-generation token
    when it stopped (so the reference loop decodes as many steps as Baton did; an answer cut by a stop string
    would count one token more, and the bench's prompts set none)."""
    return [n + (1 if reason == "stop" else 0) for n, reason in zip(run["counts"], run["finish"])]


def _fairness(prompts: list[list[int]], engine: Any, seq: list[dict[str, Any]],
              conc: list[dict[str, Any]]) -> dict[str, Any]:
    """What the three sides shared: prompt tokens (the reference's against the ones Baton sent), answer token
    counts (one after another against at once), context and threads."""
    sent = [list(r["prompt_tokens"]) for r in [*seq, *conc]]
    return {"same_prompt_tokens": all(p == [len(x) for x in prompts] for p in sent),
            "same_answer_tokens": all(s["counts"] == c["counts"] for s, c in zip(seq, conc)),
            "n_ctx_per_thread": int(engine.n_ctx), "n_threads": int(engine.n_threads), "n_batch": N_BATCH,
            "prefill": "cold on every side (Baton's warm slots emptied before each run)",
            "warmup": "one batched round through Baton and one reference run, not counted"}


def _system() -> str:
    from baton.core.service import SYSTEM_PROMPT

    return SYSTEM_PROMPT


def _ratio(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> tuple[float, list[float] | None]:
    ratios = [x["tokens_per_s"] / y["tokens_per_s"] for x, y in zip(a, b) if y["tokens_per_s"] > 0]
    med = statistics.median(ratios) if ratios else 0.0
    ci = list(bootstrap_median_ci(ratios)) if len(ratios) >= 2 else None
    return round(med, 4), [round(v, 4) for v in ci] if ci else None


def _document(model_id: str, path: str, threads: int, tokens: int, load_s: float, seq: list[dict[str, Any]],
              conc: list[dict[str, Any]], ref: list[dict[str, Any]], history: dict[str, Any],
              history_tokens: int, ref1: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    def med(runs: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    ratio, ratio_ci = _ratio(conc, seq)
    to_raw, to_raw_ci = _ratio(conc, ref)
    errors = [abs(r["energy_j"] - r["union_j"]) / r["union_j"] for r in conc if r.get("union_j")]
    sources = sorted({s for r in [*seq, *conc] for s in r["sources"]})
    solo_match = _matches(conc)
    doc: dict[str, Any] = {
        "model": model_id, "path": path, "threads": threads, "tokens": tokens, "rounds": len(conc),
        "load_s": round(load_s, 4),
        "sequential_tokens_per_s": round(med(seq, "tokens_per_s"), 2),
        "concurrent_tokens_per_s": round(med(conc, "tokens_per_s"), 2),
        "ratio": ratio, "ratio_ci95": ratio_ci,
        "raw_batched_tokens_per_s": round(med(ref, "tokens_per_s"), 2),
        "ratio_to_raw": to_raw, "ratio_to_raw_ci95": to_raw_ci,
        **_raw_gain(ref, ref1 or []),
        "j_per_token_sequential": round(sum(r["energy_j"] for r in seq) / max(1, sum(r["tokens"] for r in seq)), 5),
        "j_per_token_concurrent": round(sum(r["energy_j"] for r in conc) / max(1, sum(r["tokens"] for r in conc)), 5),
        "energy_split_error": round(max(errors), 6) if errors else None,
        "energy_sources": sources,
        "energy_note": ESTIMATE_NOTE if sources == ["estimated"] else "",
        "shared_with": conc[-1]["shared_with"] if conc else [],
        "answers_repeat_across_rounds": solo_match,
        **_solo_agreement(seq, conc),
        "history_tokens": history_tokens,
    }
    if history:
        cold, warm = history["cold_ttft_s"], history["warm_ttft_s"]
        doc.update(cold_ttft_s=round(cold, 4), warm_ttft_s=round(warm, 4),
                   warm_ratio=round(cold / warm, 2) if warm > 0 else None,
                   warm_to_cold=round(warm / cold, 4) if cold > 0 else None,
                   first_ttft_s=round(history["first_ttft_s"], 4),
                   **{k: history[k] for k in ("history_prompt_tokens", "warm_prompt_tokens_read",
                                              "cold_prompt_tokens_read", "warm_state_restored", "warm_matches_cold")})
    return doc


def _raw_gain(ref: list[dict[str, Any]], ref1: list[dict[str, Any]]) -> dict[str, Any]:
    """The reference loop's own gain from batching on this machine: the same prompts and token counts decoded in one
    batch against one sequence at a time (``raw_sequential_tokens_per_s``, ``raw_batching_gain`` with its 95%
    interval). Baton's ``ratio`` cannot exceed it by much: it is what llama.cpp's kernels give here."""
    if not ref1:
        return {}
    gain, gain_ci = _ratio(ref, ref1)
    return {"raw_sequential_tokens_per_s": round(statistics.median(r["tokens_per_s"] for r in ref1), 2),
            "raw_batching_gain": gain, "raw_batching_gain_ci95": gain_ci}


def _solo_agreement(seq: list[dict[str, Any]], conc: list[dict[str, Any]]) -> dict[str, Any]:
    """How often a batched answer equals the same thread's answer alone in the same round (greedy): the share of
    answers identical (``solo_identical_share``) and, for the others, the shortest common prefix in characters
    (``solo_common_prefix_min_chars``; None when all are identical). Batched arithmetic may round differently
    from one sequence alone, so a long answer can part from its solo twin after a while."""
    pairs = [(a, b) for s, c in zip(seq, conc) for a, b in zip(s["texts"], c["texts"])]
    if not pairs:
        return {}
    differ = [len(os.path.commonprefix([a, b])) for a, b in pairs if a != b]
    return {"solo_identical_share": round(1 - len(differ) / len(pairs), 4),
            "solo_common_prefix_min_chars": min(differ) if differ else None}


def _matches(conc: list[dict[str, Any]]) -> bool:
    """True when every concurrent round gave the same texts (greedy: batching must not change the answers)."""
    return all(r["texts"] == conc[0]["texts"] for r in conc)
