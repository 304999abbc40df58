"""`baton bench speed`: Baton's whole pipeline against bare llama-cpp-python, interleaved in one run.

Both sides load the same GGUF with the same threads and context, get the same messages at temperature 0,
and reuse their KV-cache prefixes the same way (no reset on either side). Rounds alternate which side goes
first. Each round gives one paired ratio (Baton's decode tokens/s over bare llama-cpp-python's in the same
round); rounds continue past ``rounds`` until the 95% bootstrap interval of the median ratio is at most
``resolution`` wide (0.03: enough to tell 0.97 from 1.0), up to ``max_rounds``.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from baton.bench.stats import bootstrap_median_ci, resolved
from baton.config import Settings
from baton.paths import Paths

TOPICS = ("a lighthouse keeper", "a clockmaker", "a river pilot", "a beekeeper", "a night-shift baker",
          "a mapmaker", "a glassblower", "a radio operator", "a bridge engineer", "a tea farmer")


def _prompt(i: int) -> str:
    return f"Write a long, detailed story about {TOPICS[i % len(TOPICS)]}. Use many paragraphs."


def run_speed_bench(settings: Settings, model: str | None, tokens: int, rounds: int,
                    progress: Callable[[str], None] = lambda _s: None, resolution: float = 0.03,
                    max_rounds: int = 60) -> dict[str, Any]:
    """Baton's pipeline against bare llama-cpp-python on ``model``, ``tokens`` answer tokens per run, at least
    ``rounds`` interleaved rounds. Returns CONTRACT `bench speed`'s document (tokens/s, ratios, ``ratio_ci95``)."""
    from baton.core.engine.reference import raw_speed_run
    from baton.core.service import BATON_SYSTEM_PROMPT_FOR_BENCH, BatonService

    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmp:
        bench_settings = dataclasses.replace(settings, engine=dataclasses.replace(settings.engine, temperature=0.0),
                                             endpoints=[])
        bench_settings.routing = dataclasses.replace(settings.routing, mode="never")
        service = BatonService.build(Paths.from_env({"BATON_HOME": tmp}).ensure(), bench_settings)
        try:
            path, model_id = service.resolve_model(model)
            engine, load_s = service.engine(model)
            raw = raw_speed_run(path, BATON_SYSTEM_PROMPT_FOR_BENCH, n_ctx=engine.n_ctx,
                                n_threads=getattr(engine, "n_threads", 0))
            baton_runs: list[dict[str, float]] = []
            raw_runs: list[dict[str, float]] = []

            def run_baton(i: int) -> None:
                # time to first token as the user sees it: from the call to the first text callback,
                # so everything the pipeline does before generating (routing, store, meter) is counted
                first: list[float] = []
                t0 = time.perf_counter()
                r = service.ask(_prompt(i), model=model, tier="local", max_tokens=tokens,
                                on_text=lambda _t: first or first.append(time.perf_counter()))
                baton_runs.append({"ttft_s": (first[0] if first else time.perf_counter()) - t0,
                                   "engine_ttft_s": r.timing.ttft_s, "tokens": r.usage.completion_tokens,
                                   "decode_tokens_per_s": r.timing.decode_tokens_per_s})

            def run_raw(i: int) -> None:
                raw_runs.append(raw(_prompt(i), tokens))

            run_baton(-1), run_raw(-1)  # warm-up, not counted
            baton_runs.clear(), raw_runs.clear()
            i = 0
            while i < max(2, rounds) or (i < max_rounds and not resolved(_ratios(baton_runs, raw_runs), resolution)):
                progress(f"round {i + 1} (at least {rounds}, until the interval is {resolution:.0%} wide)")
                first, second = (run_baton, run_raw) if i % 2 == 0 else (run_raw, run_baton)
                first(i)
                second(i)
                i += 1
        finally:
            service.close()

    def med(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    b_tps, r_tps = med(baton_runs, "decode_tokens_per_s"), med(raw_runs, "decode_tokens_per_s")
    b_ttft, r_ttft = med(baton_runs, "ttft_s"), med(raw_runs, "ttft_s")
    ratios = _ratios(baton_runs, raw_runs)
    lo, hi = bootstrap_median_ci(ratios) if len(ratios) >= 2 else (None, None)
    return {
        "model": model_id, "path": str(path), "rounds": len(ratios), "tokens": tokens, "load_s": load_s,
        "n_ctx": engine.n_ctx, "n_threads": getattr(engine, "n_threads", None),
        "baton_tokens_per_s": round(b_tps, 2), "raw_tokens_per_s": round(r_tps, 2),
        "ratio": round(b_tps / r_tps, 4) if r_tps else None,
        "ratio_paired_median": round(statistics.median(ratios), 4) if ratios else None,
        "ratio_ci95": [round(lo, 4), round(hi, 4)] if lo is not None else None,
        "resolved": bool(lo is not None and hi - lo <= resolution),
        "baton_ttft_s": round(b_ttft, 4), "raw_ttft_s": round(r_ttft, 4),
        "ttft_overhead_s": round(b_ttft - r_ttft, 4),
        "baton_engine_ttft_s": round(med(baton_runs, "engine_ttft_s"), 4),
        "baton_completion_tokens": [r["tokens"] for r in baton_runs],
        "raw_completion_tokens": [r["tokens"] for r in raw_runs],
    }


def _ratios(baton_runs: list[dict[str, float]], raw_runs: list[dict[str, float]]) -> list[float]:
    return [b["decode_tokens_per_s"] / r["decode_tokens_per_s"] for b, r in zip(baton_runs, raw_runs)
            if r["decode_tokens_per_s"] > 0]
