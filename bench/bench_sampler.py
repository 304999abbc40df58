"""What the telemetry costs: decode speed of the default model with the GUI's sampler running vs
switched off, interleaved in one run (the order alternates every round), plus the CPU time the
sampler and the meter's poller threads spend.

Every generation runs inside a meter window, as a real request does, in both arms: the arms
differ only by the sampler thread. The ratio reported is the median of the per-round ratios
(sampler on / sampler off).

    .venv/bin/python bench/bench_sampler.py [--rounds 8] [--tokens 128] [--hz 4] [--json]
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

PROMPT = "Write a long, detailed story about a lighthouse keeper. Use many paragraphs."


def generate(engine: object, meter: EnergyMeter, tokens: int) -> dict[str, float]:
    request = GenerationRequest([ChatMessage("user", PROMPT)], max_tokens=tokens, temperature=0.0, seed=0)
    window = meter.begin()
    completion = None
    first = True
    for chunk in engine.stream(request):  # type: ignore[attr-defined]
        if chunk.text and first:
            window.first_token()
            first = False
        if chunk.completion is not None:
            completion = chunk.completion
    m = window.end()
    assert completion is not None
    return {"tokens_per_s": completion.timing.decode_tokens_per_s, "tokens": completion.usage.completion_tokens,
            "energy_j": m.total_j, "duration_s": m.duration_s}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--hz", type=float, default=4.0, help="sampler rate (the GUI polls at 2-4 Hz)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from baton.core.engine.defaults import default_model_path
    from baton.core.engine.llama import LlamaEngine

    engine = LlamaEngine(default_model_path(None), n_ctx=2048)
    engine.load()
    meter = EnergyMeter.for_machine(TelemetrySettings())
    on: list[dict[str, float]] = []
    off: list[dict[str, float]] = []
    sampler_cpu_s = sampler_wall_s = 0.0
    sampler_ticks = 0
    try:
        generate(engine, meter, args.tokens)  # warm-up, not counted

        def with_sampler() -> None:
            nonlocal sampler_cpu_s, sampler_wall_s, sampler_ticks
            sampler = Sampler(meter, hz=args.hz).start()
            t0 = time.monotonic()
            try:
                on.append(generate(engine, meter, args.tokens))
            finally:
                sampler.stop()
            sampler_wall_s += time.monotonic() - t0
            sampler_cpu_s += sampler.cpu_s
            sampler_ticks += sampler.ticks

        def without_sampler() -> None:
            off.append(generate(engine, meter, args.tokens))

        for i in range(args.rounds):
            for arm in (with_sampler, without_sampler) if i % 2 == 0 else (without_sampler, with_sampler):
                arm()
        window_s = sum(r["duration_s"] for r in on + off)
        poller_cpu_s = meter.poller_cpu_s
        sources = sorted({f"{c.sensor.scope}:{c.sensor.source}" for c in meter.channels})
    finally:
        meter.close()
        engine.close()

    ratios = [a["tokens_per_s"] / b["tokens_per_s"] for a, b in zip(on, off) if b["tokens_per_s"] > 0]
    result = {
        "model": "default (SmolLM2-135M-Instruct Q4_1)",
        "rounds": args.rounds,
        "tokens": args.tokens,
        "sampler_hz": args.hz,
        "sources": sources,
        "tokens_per_s_sampler_on": round(statistics.median(r["tokens_per_s"] for r in on), 2),
        "tokens_per_s_sampler_off": round(statistics.median(r["tokens_per_s"] for r in off), 2),
        "ratio_median": round(statistics.median(ratios), 4),
        "ratios": [round(r, 4) for r in ratios],
        "energy_j_per_answer": round(statistics.median(r["energy_j"] for r in on + off), 3),
        "sampler_cpu_share": round(sampler_cpu_s / sampler_wall_s, 6) if sampler_wall_s else None,
        "sampler_tick_us": round(1e6 * sampler_cpu_s / sampler_ticks, 1) if sampler_ticks else None,
        "poller_cpu_share": round(poller_cpu_s / window_s, 6) if window_s else None,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"decode with sampler on / off ({args.rounds} interleaved rounds, {args.tokens} tokens, "
              f"sampler at {args.hz:g} Hz, sources {', '.join(sources)}):")
        print(f"  {result['tokens_per_s_sampler_on']} vs {result['tokens_per_s_sampler_off']} tok/s, "
              f"median ratio {result['ratio_median']}  (per round: {result['ratios']})")
        print(f"  sampler thread: {100 * (result['sampler_cpu_share'] or 0):.3f}% of one CPU, "
              f"{result['sampler_tick_us']} us per tick; meter poller: "
              f"{100 * (result['poller_cpu_share'] or 0):.3f}% of one CPU while a window is open")
        print(f"  energy per answer (median): {result['energy_j_per_answer']} J")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
