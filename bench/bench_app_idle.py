"""What the desktop app costs while it sits idle with a model loaded: CPU time per minute of the whole process.

Opens the real app on the real pipeline (the default model through llama.cpp, the meter's sampler running as the
app runs it, the power panel open), answers one question so the model is loaded, then lets the event loop run
idle for ``--seconds`` and reads the process's CPU time (all threads) before and after. Target: under 0.5% of one
core. Run: ``.venv/bin/python bench/bench_app_idle.py [--seconds 60] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gui_harness import ask_and_wait, open_app, pump_until  # noqa: E402

TARGET_SHARE = 0.005


def main() -> int:
    import psutil

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--power-panel", action="store_true", help="measure with the power panel open")
    args = ap.parse_args()
    aut = open_app("idle")
    try:
        ask_and_wait(aut, "Say hello.", tier="local")
        if args.power_panel:
            aut.window.toggle_power()
        pump_until(aut.app, lambda: False, 3.0)  # let the answer's aftermath settle
        from PySide6.QtCore import QEventLoop, QTimer

        proc = psutil.Process()
        loop = QEventLoop()  # a real event loop that sleeps until something happens, as app.exec() does
        QTimer.singleShot(int(args.seconds * 1000), loop.quit)
        t0, c0 = time.monotonic(), sum(proc.cpu_times()[:2])
        loop.exec()
        t1, c1 = time.monotonic(), sum(proc.cpu_times()[:2])
        resident = aut.service.resident_models()
    finally:
        aut.close()
    share = (c1 - c0) / (t1 - t0)
    doc = {"seconds": round(t1 - t0, 1), "cpu_s": round(c1 - c0, 3), "cpu_s_per_minute": round(60 * share, 3),
           "share_of_one_core": round(share, 5), "target": TARGET_SHARE, "within_target": share < TARGET_SHARE,
           "models_loaded": [r.get("model_id") for r in resident], "power_panel": args.power_panel}
    print(json.dumps(doc) if args.json else json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
