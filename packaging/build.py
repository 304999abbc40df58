"""Build Baton's one-folder bundle with PyInstaller, then smoke-run it.

    python packaging/build.py [--skip-build] [--dist DIR] [--json]

Smoke runs, each in a fresh BATON_HOME and an empty HOME: `baton --version`, `baton models --json`
(the bundled default model must be listed and readable), and `baton ask --json` on the default model
(a real answer through llama.cpp inside the bundle). Prints the bundle's size and start-up times;
exits 1 if anything fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "packaging" / "baton.spec"


def folder_bytes(root: Path) -> tuple[int, int]:
    total = files = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            if not p.is_symlink():
                total += p.stat().st_size
                files += 1
    return total, files


def build(dist: Path, work: Path) -> float:
    if shutil.which("pyinstaller") is None and not (Path(sys.executable).parent / "pyinstaller").exists():
        raise SystemExit("PyInstaller is missing: pip install -e '.[package]' (or `make package`)")
    t0 = time.perf_counter()
    env = dict(os.environ, BATON_BUILD_WORK=str(work))
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
           "--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    print("+ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, env=env, cwd=REPO)
    return time.perf_counter() - t0


def run(exe: Path, *args: str, home: Path, timeout: float = 300) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "BATON_"))}
    env.update(BATON_HOME=str(home / "baton"), HOME=str(home / "user"), QT_QPA_PLATFORM="offscreen")
    (home / "user").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=home)
    return proc, time.perf_counter() - t0


def gui_stays_up(exe: Path, home: Path, seconds: float = 10.0) -> tuple[bool, str]:
    """Open the window offscreen: it must still be running (no crash at start-up) after ``seconds``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "BATON_"))}
    env.update(BATON_HOME=str(home / "baton"), HOME=str(home / "user"), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([str(exe), "gui"], env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        _, err = proc.communicate(timeout=seconds)
        return False, f"exited with {proc.returncode}: {err.strip()[-300:]}"
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        return True, f"window up for {seconds:.0f}s (offscreen), then closed"


def smoke(bundle: Path) -> dict:
    exe = bundle / ("baton.exe" if os.name == "nt" else "baton")
    report: dict = {"bundle": str(bundle), "ok": True, "checks": []}

    def check(name: str, ok: bool, detail: str) -> None:
        report["checks"].append({"name": name, "ok": ok, "detail": detail})
        report["ok"] &= ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="baton-smoke-") as tmp:
        home = Path(tmp)
        times = []
        for _ in range(5):
            proc, dt = run(exe, "--version", home=home)
            times.append(dt)
        check("--version", proc.returncode == 0 and proc.stdout.startswith("baton "), proc.stdout.strip())
        report["startup_s"] = {"version_median": statistics.median(times), "version_first": times[0]}

        proc, dt = run(exe, "models", "--json", home=home)
        models = json.loads(proc.stdout) if proc.returncode == 0 else []
        default = [m for m in models if m.get("origin") == "package"]
        check("models --json", bool(default) and default[0]["arch"] == "llama",
              f"{len(models)} model(s) in {dt:.2f}s" if proc.returncode == 0 else proc.stderr.strip()[-300:])
        report["startup_s"]["models_json"] = dt

        proc, dt = run(exe, "ask", "--json", "--tier", "local", "--max-tokens", "24",
                       "What is the capital of France? Answer in one word.", home=home)
        answer = {}
        if proc.returncode == 0:
            try:
                answer = json.loads(proc.stdout)
            except ValueError:
                answer = {}
        text = (answer.get("text") or "").strip()
        check("ask --json on the default model", bool(text) and answer.get("route", {}).get("tier") == "local",
              f"{text[:60]!r} in {dt:.2f}s (load {answer.get('timing', {}).get('load_s', 0):.2f}s)"
              if text else proc.stderr.strip()[-400:])
        report["ask"] = {"wall_s": dt, "text": text, "timing": answer.get("timing"), "energy": answer.get("energy")}

        ok, detail = gui_stays_up(exe, home)
        check("gui (offscreen)", ok, detail)
    size, files = folder_bytes(bundle)
    report["size_bytes"], report["files"] = size, files
    model = next(bundle.rglob("SmolLM2-135M-Instruct.Q4_1.gguf"), None)
    report["model_bytes"] = model.stat().st_size if model else 0
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dist", type=Path, default=REPO / "build" / "dist")
    ap.add_argument("--work", type=Path, default=REPO / "build" / "work")
    ap.add_argument("--skip-build", action="store_true", help="only smoke-run an existing bundle")
    ap.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    args = ap.parse_args(argv)
    build_s = None if args.skip_build else build(args.dist, args.work)
    bundle = args.dist / "baton"
    if not bundle.is_dir():
        print(f"no bundle at {bundle}; build it first", file=sys.stderr)
        return 1
    report = smoke(bundle)
    report["build_s"] = build_s
    mb = report["size_bytes"] / 1e6
    print(f"bundle: {bundle} {mb:.0f} MB in {report['files']} files "
          f"({report['model_bytes'] / 1e6:.0f} MB of it the default model); "
          f"start-up (--version) {report['startup_s']['version_median'] * 1000:.0f} ms median "
          f"(first run {report['startup_s']['version_first'] * 1000:.0f} ms); "
          f"ask {report['ask']['wall_s']:.2f}s" + (f"; built in {build_s:.0f}s" if build_s else ""), file=sys.stderr)
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
