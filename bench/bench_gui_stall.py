"""How long the GUI event loop stalls while an answer streams at the default model's full speed.

A 1 ms precise QTimer (the heartbeat) records when the event loop gets to run it. The gap between
two beats is what a user would feel as the window's latency. Gaps are measured with the window idle
and while the real app streams answers from the default model (llama.cpp), interleaved in one run,
and reported against the budget: worst gap <= 50 ms, 99th percentile <= 16 ms (one frame at 60 Hz).
The same answers are also generated headless (the service called directly on a thread, as `baton ask`
does) to show what the window costs in decode speed.

With ``--threads N`` each round sends N questions in N threads at once (the engine answers them in one batch) and
the headless side asks the same N at once from N threads, so the two speeds stay comparable.

Run: ``.venv/bin/python bench/bench_gui_stall.py [--answers 4] [--tokens 256] [--threads 2] [--json]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gui_harness import ask_and_wait, open_app, pump_until  # noqa: E402

WORST_BUDGET_MS = 50.0
P99_BUDGET_MS = 16.0
PROMPTS = [
    "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle.",
    "Explain in detail how a refrigerator works, step by step, with examples.",
    "Describe a walk through a busy market in a city you imagine, with many details.",
    "Write a long letter to a friend about learning to cook, with recipes and mistakes.",
]


class Heartbeat:
    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.beats: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1)
        self.timer.timeout.connect(lambda: self.beats.append(time.perf_counter()))

    def start(self) -> None:
        self.beats.clear()
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return [(b - a) * 1000.0 for a, b in zip(self.beats, self.beats[1:])]


def summary(gaps_ms: list[float]) -> dict:
    if not gaps_ms:
        return {"beats": 0}
    ordered = sorted(gaps_ms)
    return {"beats": len(ordered), "worst_ms": round(ordered[-1], 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
            "p50_ms": round(statistics.median(ordered), 2)}


def headless_answers(service, prompts: list[str], max_tokens: int) -> list[dict]:
    """The same questions through the service directly, all at once, each on its own thread."""
    out: dict[int, dict] = {}

    def run(i: int, prompt: str) -> None:
        out[i] = service.ask(prompt, tier="local", max_tokens=max_tokens, on_text=lambda _t: None).receipt()

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(prompts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [out[i] for i in range(len(prompts))]


def ask_many_and_wait(aut, prompts: list[str], timeout_s: float = 300.0) -> list:
    """Send each prompt in a new thread of the window at once; wait for every answer."""
    jobs = []
    for prompt in prompts:
        aut.window.session.new_thread()
        job = aut.window.session.send(prompt, "auto")
        if job is None:
            raise RuntimeError(f"the window refused to send {prompt!r}")
        jobs.append(job)
    if not pump_until(aut.app, lambda: all(j.state in ("done", "failed", "cancelled") for j in jobs), timeout_s):
        raise RuntimeError("the answers did not finish in time")
    return jobs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--answers", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--idle-s", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1, help="questions streaming at once in each round")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    aut = open_app("stall")
    aut.settings.engine.max_tokens = args.tokens
    aut.settings.routing.mode = "never"  # measure the local stream, never a cloud call
    beat = Heartbeat()
    try:
        ask_and_wait(aut, "Say hello.")  # loads the model; not measured
        idle: list[float] = []
        streaming: list[float] = []
        gui_speed: list[float] = []
        headless_speed: list[float] = []
        tokens = 0
        for i in range(args.answers):
            prompts = [PROMPTS[(i * args.threads + k) % len(PROMPTS)] for k in range(args.threads)]
            beat.start()
            pump_until(aut.app, lambda: False, args.idle_s / args.answers)
            idle += beat.stop()
            beat.start()
            jobs = ask_many_and_wait(aut, prompts)
            streaming += beat.stop()
            for job in jobs:
                receipt = job.receipt or {}
                tokens += int((receipt.get("usage") or {}).get("completion_tokens") or 0)
                gui_speed.append(float((receipt.get("timing") or {}).get("decode_tokens_per_s") or 0))
            for r in headless_answers(aut.service, prompts, args.tokens):
                headless_speed.append(float(r["timing"]["decode_tokens_per_s"]))
        s_idle, s_stream = summary(idle), summary(streaming)
        result = {
            "model": aut.window.backend.default_model_label(),
            "answers": args.answers * args.threads,
            "threads_at_once": args.threads,
            "completion_tokens": tokens,
            "idle": s_idle,
            "streaming": s_stream,
            "budget": {"worst_ms": WORST_BUDGET_MS, "p99_ms": P99_BUDGET_MS},
            "worst_over_budget": round(s_stream["worst_ms"] / WORST_BUDGET_MS, 3),
            "p99_over_budget": round(s_stream["p99_ms"] / P99_BUDGET_MS, 3),
            "decode_tokens_per_s_gui": round(statistics.median(gui_speed), 1),
            "decode_tokens_per_s_headless": round(statistics.median(headless_speed), 1),
            "gui_over_headless_speed": round(statistics.median(gui_speed) / max(statistics.median(headless_speed),
                                                                              1e-9), 3),
            "within_budget": s_stream["worst_ms"] <= WORST_BUDGET_MS and s_stream["p99_ms"] <= P99_BUDGET_MS,
        }
    finally:
        aut.close()
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
