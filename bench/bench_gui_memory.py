"""Resident memory of the desktop app against `baton ask` on the same model, idle and after 50 answers
in 5 threads, and its growth per answer (a leak shows as a slope).

`baton ask` runs as a child process (the real CLI); its peak RSS comes from the kernel
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``). The same answers also run headless in a child process (the
service without any window) to separate what the core grows by from what the window adds. The app runs
in this process (offscreen unless a display is set) on the same default model; its RSS is read with
psutil. Budget: the app stays within 150 MB of `baton ask`, idle and after the 50 answers.

The window carries the orchestrator's cockpit as a user has it: each thread has its own system prompt and budgets,
every question is typed into the composer first (the route preview runs), every tenth answer a full-text search
runs and the thread settings, the totals and the model browser open and close, and the API server toggle is on
(`baton serve` inside the app) for the whole run.

Run: ``.venv/bin/python bench/bench_gui_memory.py [--answers 50] [--threads 5] [--tokens 48] [--json]
[--out bench/results/gui_memory.json]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gui_harness import REPO, AppUnderTest, ask_and_wait, build_service, private_home, pump_until  # noqa: E402

BUDGET_MB = 150.0
PROMPTS = ["Name three rivers in Europe.", "Give me a short tip for writing tests.",
           "What does a lighthouse do?", "Describe the color blue to a child.", "Write a two-line poem about tea."]


def mb(n_bytes: float) -> float:
    return round(n_bytes / (1024 * 1024), 1)


def open_cockpit_app(tag: str) -> AppUnderTest:
    """The window as `baton gui` builds it, the API server toggle included (``gui_harness.open_app`` leaves the
    server out)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    private_home(tag)
    from baton.commands.serve_thread import ApiServer
    from baton.config import Settings
    from baton.paths import Paths
    from baton.ui.app import build_context, make_application
    from baton.ui.main_window import MainWindow

    from baton.ui.heap import limit_arenas

    limit_arenas()  # as `baton gui` does, before the service starts any thread
    paths = Paths.from_env().ensure()
    settings = Settings.load(paths.config_file)
    service = build_service(paths, settings)
    app = make_application([sys.argv[0]])
    window = MainWindow(build_context(app, service, paths, settings, api_server=ApiServer))
    window.show()
    app.processEvents()
    return AppUnderTest(app, window, service, paths, settings)


def use_cockpit(aut: AppUnderTest, query: str) -> None:
    """What a person does between answers: search every thread, look at the thread's settings, the totals and the
    model browser, and close them again."""
    from baton.ui.cockpit import open_totals

    w = aut.window
    w.search_panel.focus(query)
    pump_until(aut.app, lambda: False, 0.3)
    w.search_panel.box.clear()
    w.search_panel.run()
    for dlg in (w.thread_actions.open_settings(), open_totals(w), w.open_model_browser()):
        pump_until(aut.app, lambda: False, 0.2)
        dlg.reject()
    pump_until(aut.app, lambda: False, 0.3)


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
    ap.add_argument("--out", type=Path, help="also write the result JSON to this file")
    args = ap.parse_args()
    if args.role == "headless":
        return run_headless(args.answers, args.threads, args.tokens)
    private_home("memory")
    import psutil

    ask_peak, ask_receipt = baton_ask_peak_rss(args.tokens)
    headless = headless_rss(args.answers, args.threads, args.tokens)
    me = psutil.Process()
    load_before = os.getloadavg()
    aut = open_cockpit_app("memory")
    aut.settings.engine.max_tokens = args.tokens
    w = aut.window
    try:
        ask_and_wait(aut, PROMPTS[0], tier="local")  # the model is loaded, as in `baton ask`
        pump_until(aut.app, lambda: False, 2.0)
        gc.collect()
        steps = {"window_and_model": me.memory_info().rss}
        w.api_server.start()  # the API server toggle, on
        pump_until(aut.app, lambda: False, 1.0)
        gc.collect()
        idle_rss = steps["api_server_on"] = me.memory_info().rss
        w.power_dock.show()  # the plots are part of the app's cost
        pump_until(aut.app, lambda: False, 1.0)
        steps["power_panel_shown"] = me.memory_info().rss
        threads = [w.session.new_thread() for _ in range(args.threads)]
        for n, tid in enumerate(threads):
            w.backend.set_thread_settings(tid, system_prompt=f"You are assistant number {n}. Answer briefly.",
                                          budget_j=50_000.0, budget_usd=1.0)
        samples: list[tuple[int, int]] = []
        for i in range(args.answers):
            w.session.select(threads[i % len(threads)])
            prompt = PROMPTS[i % len(PROMPTS)]
            w.composer.set_text(prompt)  # typed: the route preview runs off the GUI thread
            pump_until(aut.app, lambda: w.route_preview.last is not None and w.route_preview._call is None, 5.0)
            w.composer.set_text("")
            ask_and_wait(aut, prompt, tier="local")
            if (i + 1) % 10 == 0:
                use_cockpit(aut, prompt.split()[-1].strip("."))
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
            "rss_after_each_part_mb": {k: mb(v) for k, v in steps.items()},
            "budget_mb": BUDGET_MB,
            "within_budget": max(idle_rss, after_rss) - ask_peak <= BUDGET_MB * 1024 * 1024,
            "cockpit": ["per-thread system prompt and budgets", "route preview on every question",
                        "search, thread settings, totals, model browser every 10 answers", "API server on"],
            "api_server_url": w.api_server.url,
            "load_avg_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "cpu_count": os.cpu_count(),
            "measured_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    finally:
        if getattr(w, "api_server", None) is not None:
            w.api_server.stop()
        aut.close()
    text = json.dumps(result, indent=None if args.json else 2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
