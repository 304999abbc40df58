"""What the telemetry costs: decode speed of the default model with the GUI's sampler running vs
switched off, interleaved in one run, plus the CPU time the sampler and the meter's poller spend.

The machine this runs on is often shared, so the arms are interleaved finely: inside each
generation the sampler is switched on and off every ``--segment-tokens`` decoded tokens, and each
"on" segment is compared with the "off" segment next to it (same generation, a second apart, same
background load). The ratio reported is the median of those paired ratios; which arm opens a
generation alternates. Every generation runs inside a meter window, as a real request does, so the
arms differ only by the sampler thread.

    .venv/bin/python bench/bench_sampler.py [--generations 20] [--tokens 480] [--segment-tokens 24] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "desktop"))

from baton.config import TelemetrySettings  # noqa: E402
from baton.core.telemetry.meter import EnergyMeter  # noqa: E402
from baton.core.telemetry.sampler import Sampler  # noqa: E402
from baton.core.types import ChatMessage, GenerationRequest  # noqa: E402

PROMPTS = (
    "Write a long, detailed story about a lighthouse keeper. Use many paragraphs.",
    "Write a long, detailed story about a clockmaker. Use many paragraphs.",
    "Write a long, detailed story about a river pilot. Use many paragraphs.",
)


def generation(engine: object, meter: EnergyMeter, sampler: Sampler, prompt: str, tokens: int,
               segment_tokens: int, start_on: bool) -> tuple[list[tuple[bool, int, float]], float]:
    """One answer with the sampler toggled every ``segment_tokens``: [(sampler_on, tokens, seconds)]."""
    request = GenerationRequest([ChatMessage("user", prompt)], max_tokens=tokens, temperature=0.0, seed=0)
    segments: list[tuple[bool, int, float]] = []
    on = start_on
    window = meter.begin()
    t_seg: float | None = None
    count = 0
    try:
        for chunk in engine.stream(request):  # type: ignore[attr-defined]
            if not chunk.text:
                continue
            now = time.perf_counter()
            if t_seg is None:  # first token: prefill ends, decode segments start
                window.first_token()
                if on:
                    sampler.start()
                t_seg = now
                continue
            count += 1
            if count == segment_tokens:
                segments.append((on, count, now - t_seg))
                on = not on
                if on:
                    sampler.start()
                else:
                    sampler.stop()
                t_seg, count = time.perf_counter(), 0
    finally:
        sampler.stop()
        energy_j = window.end().total_j
    return segments, energy_j


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--generations", type=int, default=20)
    ap.add_argument("--tokens", type=int, default=480, help="max tokens per generation")
    ap.add_argument("--segment-tokens", type=int, default=24)
    ap.add_argument("--hz", type=float, default=4.0, help="sampler rate (the GUI polls at 2-4 Hz)")
    ap.add_argument("--threads", type=int, default=0, help="llama.cpp threads (default: physical cores)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from baton.core.engine.defaults import default_model_path
    from baton.core.engine.llama import LlamaEngine

    engine = LlamaEngine(default_model_path(None), n_ctx=2048, n_threads=args.threads)
    engine.load()
    meter = EnergyMeter.for_machine(TelemetrySettings())
    sampler = Sampler(meter, hz=args.hz)
    pairs: list[float] = []
    on_tps: list[float] = []
    off_tps: list[float] = []
    energies: list[float] = []
    try:
        generation(engine, meter, sampler, PROMPTS[0], 64, 1000, False)  # warm-up, not counted
        sampler.cpu_s, sampler.ticks = 0.0, 0
        on_wall_s = 0.0
        for g in range(args.generations):
            segs, energy_j = generation(engine, meter, sampler, PROMPTS[g % len(PROMPTS)], args.tokens,
                                        args.segment_tokens, start_on=g % 2 == 0)
            energies.append(energy_j)
            for (a_on, a_n, a_s), (_, b_n, b_s) in zip(segs[0::2], segs[1::2], strict=False):
                tps_a, tps_b = a_n / a_s, b_n / b_s
                on_t, off_t = (tps_a, tps_b) if a_on else (tps_b, tps_a)
                pairs.append(on_t / off_t)
                on_tps.append(on_t)
                off_tps.append(off_t)
            on_wall_s += sum(s for on, _, s in segs if on)
        poller_cpu_s = meter.poller_cpu_s
        sources = sorted({f"{c.sensor.scope}:{c.sensor.source}" for c in meter.channels})
    finally:
        sampler.stop()
        meter.close()
        engine.close()

    result = {
        "model": "default (SmolLM2-135M-Instruct Q4_1)",
        "generations": args.generations,
        "threads": engine.n_threads,
        "segment_tokens": args.segment_tokens,
        "pairs": len(pairs),
        "sampler_hz": args.hz,
        "sources": sources,
        "tokens_per_s_sampler_on": round(statistics.median(on_tps), 2) if on_tps else None,
        "tokens_per_s_sampler_off": round(statistics.median(off_tps), 2) if off_tps else None,
        "ratio_median": round(statistics.median(pairs), 4) if pairs else None,
        "ratio_quartiles": [round(q, 4) for q in statistics.quantiles(pairs, n=4)] if len(pairs) >= 4 else None,
        "sampler_cpu_share": round(sampler.cpu_s / on_wall_s, 6) if on_wall_s else None,
        "sampler_tick_us": round(1e6 * sampler.cpu_s / sampler.ticks, 1) if sampler.ticks else None,
        "poller_cpu_s": round(poller_cpu_s, 4),
        "energy_j_per_answer": round(statistics.median(energies), 3) if energies else None,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"decode with the sampler on / off, {len(pairs)} adjacent segment pairs of {args.segment_tokens} "
              f"tokens in {args.generations} generations, {engine.n_threads} threads (sampler at {args.hz:g} Hz; sources {', '.join(sources)}):")
        print(f"  {result['tokens_per_s_sampler_on']} vs {result['tokens_per_s_sampler_off']} tok/s; "
              f"median paired ratio {result['ratio_median']} (quartiles {result['ratio_quartiles']})")
        print(f"  sampler thread: {100 * (result['sampler_cpu_share'] or 0):.3f}% of one CPU while on, "
              f"{result['sampler_tick_us']} us per tick; meter poller: {result['poller_cpu_s']} s CPU in total")
        print(f"  energy per answer (median, {sources[0] if len(sources) == 1 else 'all sources'}): "
              f"{result['energy_j_per_answer']} J")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
