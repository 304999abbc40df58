"""Resident memory of the desktop app against `baton ask` on the same model, idle and after 50 answers
in 5 threads, and its growth per answer (a leak shows as a slope).

`baton ask` runs as a child process (the real CLI); its peak RSS comes from the kernel
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``). The same answers also run headless in a child process (the
service without any window) to separate what the core grows by from what the window adds. The app runs
in this process (offscreen unless a display is set) on the same default model; its RSS is read with
psutil. Budget: the app stays within 150 MB of `baton ask`, idle and after the 50 answers.

Run: ``.venv/bin/python bench/bench_gui_memory.py [--answers 50] [--threads 5] [--tokens 48] [--json]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gui_harness import REPO, ask_and_wait, open_app, private_home, pump_until  # noqa: E402

BUDGET_MB = 150.0
PROMPTS = ["Name three rivers in Europe.", "Give me a short tip for writing tests.",
           "What does a lighthouse do?", "Describe the color blue to a child.", "Write a two-line poem about tea."]


def mb(n_bytes: float) -> float:
    return round(n_bytes / (1024 * 1024), 1)


def baton_ask_peak_rss(tokens: int) -> tuple[int, dict]:
    """Peak RSS (bytes) of a real `baton ask --json` run, and its receipt."""
    baton = Path(sys.executable).with_name("baton")
    cmd = [str(baton)] if baton.exists() else [sys.executable, "-m", "baton"]
    env = dict(os.environ)
    proc = subprocess.run([*cmd, "ask", "--json", "--tier", "local", "--max-tokens", str(tokens), PROMPTS[0]],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"baton ask failed: {proc.stderr.strip()[-300:]}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return peak_kb * 1024, json.loads(proc.stdout)


def headless_rss(answers: int, threads: int, tokens: int) -> dict:
    """The same answers without any window, in a child process: what the core itself grows by."""
    proc = subprocess.run([sys.executable, __file__, "--role", "headless", "--answers", str(answers),
                           "--threads", str(threads), "--tokens", str(tokens)],
                          capture_output=True, text=True, cwd=REPO, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"headless run failed: {proc.stderr.strip()[-300:]}")
    return json.loads(proc.stdout)


def run_headless(answers: int, threads: int, tokens: int) -> int:
    import psutil

    from baton.config import Settings
    from baton.core.service import BatonService
    from baton.paths import Paths

    private_home("memory-headless")
    paths = Paths.from_env().ensure()
    settings = Settings.load(paths.config_file)
    settings.engine.max_tokens = tokens
    service = BatonService.build(paths, settings)
    try:
        service.ask(PROMPTS[0], tier="local", on_text=lambda _t: None)
        gc.collect()
        first = psutil.Process().memory_info().rss
        ids = [service.store.create_thread("").id for _ in range(threads)]
        for i in range(answers):
            service.ask(PROMPTS[i % len(PROMPTS)], thread_id=ids[i % threads], tier="local", on_text=lambda _t: None)
        gc.collect()
        print(json.dumps({"after_one_rss": first, "after_answers_rss": psutil.Process().memory_info().rss}))
    finally:
        service.close()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--answers", type=int, default=50)
    ap.add_argument("--threads", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--role", choices=("gui", "headless"), default="gui")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.role == "headless":
        return run_headless(args.answers, args.threads, args.tokens)
    private_home("memory")
    import psutil

    ask_peak, ask_receipt = baton_ask_peak_rss(args.tokens)
    headless = headless_rss(args.answers, args.threads, args.tokens)
    me = psutil.Process()
    aut = open_app("memory")
    aut.settings.engine.max_tokens = args.tokens
    w = aut.window
    try:
        ask_and_wait(aut, PROMPTS[0], tier="local")  # the model is loaded, as in `baton ask`
        pump_until(aut.app, lambda: False, 2.0)
        gc.collect()
        idle_rss = me.memory_info().rss
        w.power_dock.show()  # the plots are part of the app's cost
        threads = [w.session.new_thread() for _ in range(args.threads)]
        samples: list[tuple[int, int]] = []
        for i in range(args.answers):
            w.session.select(threads[i % len(threads)])
            ask_and_wait(aut, PROMPTS[i % len(PROMPTS)], tier="local")
            if (i + 1) % 5 == 0:
                samples.append((i + 1, me.memory_info().rss))
        pump_until(aut.app, lambda: False, 2.0)
        gc.collect()
        after_rss = me.memory_info().rss
        # Growth per answer: least squares over the second half (after warm-up of caches and pools).
        tail = samples[len(samples) // 2:]
        n = len(tail)
        if n >= 2:
            mx = sum(a for a, _ in tail) / n
            my = sum(r for _, r in tail) / n
            slope = sum((a - mx) * (r - my) for a, r in tail) / max(sum((a - mx) ** 2 for a, _ in tail), 1e-9)
        else:
            slope = 0.0
        result = {
            "model": ask_receipt["route"]["model"],
            "baton_ask_peak_rss_mb": mb(ask_peak),
            "gui_idle_rss_mb": mb(idle_rss),
            "gui_after_answers_rss_mb": mb(after_rss),
            "gui_peak_rss_mb": mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024),
            "answers": args.answers, "threads": args.threads, "max_tokens": args.tokens,
            "gui_over_ask_idle_mb": mb(idle_rss - ask_peak),
            "gui_over_ask_after_answers_mb": mb(after_rss - ask_peak),
            "headless_after_one_rss_mb": mb(headless["after_one_rss"]),
            "headless_after_answers_rss_mb": mb(headless["after_answers_rss"]),
            "core_growth_mb": mb(headless["after_answers_rss"] - headless["after_one_rss"]),
            "gui_over_headless_after_answers_mb": mb(after_rss - headless["after_answers_rss"]),
            "growth_per_answer_kb": round(slope / 1024, 1),
            "rss_every_5_answers_mb": [mb(r) for _, r in samples],
            "budget_mb": BUDGET_MB,
            "within_budget": max(idle_rss, after_rss) - ask_peak <= BUDGET_MB * 1024 * 1024,
        }
    finally:
        aut.close()
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
