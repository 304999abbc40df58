"""Drive the orchestrator's cockpit of the real app in a real X display, with the keyboard and the mouse, and check
what each step did.

Xvfb on a free display, the app started as `baton gui` (through app_probe.py: a loopback catalog entry for the model
browser, and the widget rectangles so the mouse knows where to point) with HOME, XDG_* and BATON_HOME in a temp
folder and no OS keyring (the user's data is untouched), two OpenAI-style loopback servers as endpoints ``first``
and ``second``, a loopback HTTP Range server holding the catalog's GGUF, xdotool typing and clicking, xclip reading
the clipboard, ImageMagick's ``import`` taking a screenshot after each step.

Steps: a first local answer; the thread's system prompt and budgets (Thread settings, Ctrl+Shift+,); the route
changed to ``second`` in the composer before sending (the receipt and the servers say it was honoured, with the
system prompt); search from another thread and jump to the message (Ctrl+F); export the thread as Markdown (the
palette, the file dialog); compare the local model and ``first`` side by side and keep ``first`` (Ctrl+Shift+M);
download the served model in the model browser and use it (Ctrl+Shift+B); the API server toggle (Ctrl+Shift+A) and
the official ``openai`` client at the URL and token copied from its dialog; the totals; pin a thread and delete one
with Undo from the thread list's context menu; quit (no traceback in the logs).

Prints one ``PASS|FAIL step: detail`` line per step; exits 1 when one failed (2 when a tool is missing).
Needs: apt-get install -y xvfb xdotool xclip imagemagick.
Run: ``.venv/bin/python tests/ui/xdrive/drive_cockpit.py [--shots /tmp/shots/drive-cockpit]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from tests.helpers.dialect_server import DONE, DialectServer, Reply, chunk, usage  # noqa: E402
from tests.helpers.range_server import RangeServer  # noqa: E402

TOOLS = ("Xvfb", "xdotool", "xclip", "import")
PY = str(ROOT / ".venv" / "bin" / "python")
BATON = str(ROOT / ".venv" / "bin" / "baton")
PROBE = Path(__file__).resolve().parent / "app_probe.py"
W, H = 1280, 860
SYSTEM = "You are a ship's cook. Answer briefly."
Q1 = "Name the capital of France in one word."
Q2 = "Say hello to the crew."
Q3 = "List two colours."
Q4 = "What is 2+2? Answer with a number."
SERVED = "smollm2-served.gguf"


def reply(text: str) -> Reply:
    return Reply(events=[chunk(text), chunk(None, "stop"), usage(20, 8), DONE])


def chats(srv: DialectServer) -> list[Any]:
    return [r for r in srv.requests if r.path.endswith("/chat/completions")]


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


def write_catalog(path: Path, url: str, sha: str, size: int) -> None:
    """The shipped catalog with one entry in front: the default model's GGUF served on loopback."""
    from baton.core.engine.catalog import load_catalog

    real = load_catalog()
    small = next(m for m in real if m.id.startswith("smollm2-135m")).to_dict()
    small.update(id="smollm2-served", name="SmolLM2 135M (loopback)", url=url, sha256=sha, size_bytes=size)
    parts = []
    for entry in [small, *(m.to_dict() for m in real)]:
        parts.append("[[model]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in entry.items()))
    path.write_text("\n".join(parts), encoding="utf-8")


class StepFailed(AssertionError):
    pass


def ensure(cond: bool, what: str) -> None:
    if not cond:
        raise StepFailed(what)


class Drive:
    """The person at the keyboard: X input through xdotool, eyes through the probe, checks on the app's files."""

    def __init__(self, tmp: Path, shots: Path, display: str) -> None:
        self.tmp, self.shots = tmp, shots
        self.probe_dir = tmp / "probe"
        self.probe_dir.mkdir()
        home = tmp / "home"
        self.baton_home = tmp / "baton"
        self.env = {**os.environ, "DISPLAY": display, "HOME": str(home), "BATON_HOME": str(self.baton_home),
                    "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share"),
                    "XDG_CACHE_HOME": str(home / ".cache"), "XDG_RUNTIME_DIR": str(tmp / "run"),
                    "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "BATON_THEME": "light"}
        for k in ("QT_QPA_PLATFORM", "DBUS_SESSION_BUS_ADDRESS", "WAYLAND_DISPLAY"):
            self.env.pop(k, None)
        for d in (home, tmp / "run"):
            d.mkdir(mode=0o700)
        self.app: subprocess.Popen | None = None
        self.seq = 0
        self.results: list[tuple[str, bool, str]] = []

    # ---- plumbing ----------------------------------------------------------------------------------------
    def sh(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        out = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} {' '.join(args[1:3])} failed: {out.stderr.strip()[-300:]}")
        return out.stdout

    def key(self, *keys: str) -> None:
        for k in keys:
            self.sh("xdotool", "key", "--clearmodifiers", k)
            time.sleep(0.2)

    def type(self, text: str) -> None:
        self.sh("xdotool", "type", "--delay", "12", text)
        time.sleep(0.2)

    def focus(self, xid: int) -> None:
        self.sh("xdotool", "windowfocus", "--sync", str(xid), check=False, timeout=10)
        time.sleep(0.2)

    def shot(self, name: str) -> Path:
        time.sleep(0.6)
        path = self.shots / f"{name}.png"
        self.sh("import", "-window", "root", str(path))
        return path

    def look(self, timeout_s: float = 10) -> dict:
        """What the screen shows now (the probe's answer to a fresh request)."""
        self.seq += 1
        (self.probe_dir / "ask").write_text(str(self.seq))
        out = self.probe_dir / "widgets.json"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                doc = json.loads(out.read_text())
                if doc.get("seq") == self.seq:
                    return doc
            except (OSError, ValueError):
                pass
            if self.app is not None and self.app.poll() is not None:
                raise RuntimeError(f"the app exited ({self.app.returncode}); see {self.shots / 'app.log'}")
            time.sleep(0.1)
        raise TimeoutError("the app did not answer the probe (busy GUI thread?)")

    def window(self, title: str, screen: dict | None = None) -> dict | None:
        screen = screen or self.look()
        return next((w for w in screen["windows"] if w["title"].startswith(title)), None)

    def widgets(self, title: str = "Baton", name: str | None = None, text: str | None = None,
                cls: str | None = None, screen: dict | None = None) -> list[dict]:
        win = self.window(title, screen)
        if win is None:
            return []
        return [dict(w, xid=win["xid"]) for w in win["widgets"]
                if (name is None or w["name"] == name) and (text is None or w["text"].replace("&", "") == text)
                and (cls is None or w["cls"] == cls) and w["w"] > 0 and w["h"] > 0]

    def widget(self, title: str = "Baton", **how: Any) -> dict:
        found = self.widgets(title, **how)
        if not found:
            raise StepFailed(f"no widget {how} in window {title!r}")
        return found[0]

    def click(self, w: dict, double: bool = False) -> None:
        if w.get("xid"):
            self.focus(w["xid"])
        x, y = w["x"] + w["w"] // 2, w["y"] + w["h"] // 2
        self.sh("xdotool", "mousemove", "--sync", str(x), str(y))
        self.sh("xdotool", "click", *(["--repeat", "2"] if double else []), "1")
        time.sleep(0.3)

    def right_click(self, x: int, y: int) -> None:
        self.sh("xdotool", "mousemove", "--sync", str(x), str(y))
        self.sh("xdotool", "click", "3")
        time.sleep(0.5)

    def menu_entry(self, text: str) -> dict:
        """The entry ``text`` of the context menu open now (its rectangle)."""
        menus = [w for win in self.look()["windows"] for w in win["widgets"] if "actions" in w]
        found = [dict(a, xid=0) for m in menus for a in m["actions"] if a["text"] == text]
        if not found:
            raise StepFailed(f"no menu entry {text!r} in {[a['text'] for m in menus for a in m['actions']]}")
        return found[0]

    def wait(self, cond: Callable[[], Any], what: str, timeout_s: float = 60) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            got = cond()
            if got:
                return got
            if time.monotonic() > deadline:
                raise StepFailed(f"timed out waiting for {what}")
            time.sleep(0.3)

    def wait_window(self, title: str, timeout_s: float = 20) -> dict:
        return self.wait(lambda: self.window(title), f"the window {title!r}", timeout_s)

    def main_xid(self) -> int:
        return int(self.window("Baton")["xid"])

    def shortcut(self, *keys: str) -> None:
        """A window shortcut: the main window gets the X input focus first (no window manager hands it back)."""
        self.focus(self.main_xid())
        self.key(*keys)

    def palette(self, command: str) -> None:
        self.shortcut("ctrl+k")
        self.wait_window("Command palette")
        time.sleep(0.5)
        self.type(command)
        time.sleep(0.4)
        self.key("Return")

    def clipboard(self) -> str:
        return self.sh("xclip", "-selection", "clipboard", "-o", check=False, timeout=10)

    # ---- the app's data ----------------------------------------------------------------------------------
    def rows(self, sql: str, *args: object) -> list[tuple]:
        db = self.baton_home / "data" / "baton.sqlite3"
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def answers_done(self) -> int:
        try:
            live = self.rows("SELECT COUNT(*) FROM messages WHERE status = 'streaming'")[0][0]
            done = self.rows("SELECT COUNT(*) FROM messages WHERE role = 'assistant' AND status != 'streaming'")[0][0]
        except sqlite3.Error:
            return -1
        return -1 if live else done

    def wait_answers(self, count: int, timeout_s: float = 120) -> None:
        self.wait(lambda: self.answers_done() >= count, f"{count} stored answers", timeout_s)
        time.sleep(0.8)

    def receipt(self, message_id: str) -> dict:
        return json.loads(self.rows("SELECT json FROM receipts WHERE message_id = ?", message_id)[0][0])

    # ---- the app -----------------------------------------------------------------------------------------
    def start_app(self, catalog: Path) -> None:
        log = open(self.shots / "app.log", "a")  # noqa: SIM115 - closed with the process
        self.app = subprocess.Popen([PY, str(PROBE), "--probe", str(self.probe_dir), "--catalog", str(catalog)],
                                    env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(self.tmp))
        win = self.wait(lambda: (self.sh("xdotool", "search", "--onlyvisible", "--name", "^Baton$",
                                         check=False).split() or [""])[0], "the app's window", 90)
        self.sh("xdotool", "windowsize", win, str(W), str(H))
        self.sh("xdotool", "windowmove", win, "0", "0")
        self.focus(int(win))
        self.wait(lambda: self.widgets(name="composerEdit"), "the composer", 30)

    def step(self, name: str, fn: Callable[[], str]) -> None:
        try:
            detail = fn() or ""
            self.results.append((name, True, detail))
        except Exception as e:  # noqa: BLE001 - the line says what broke; the next steps still run
            self.results.append((name, False, f"{type(e).__name__}: {e}"))
            try:
                self.shot(f"{name}-FAILED")
                for _ in range(3):  # close whatever dialog was left open
                    if len([w for w in self.look()["windows"] if w["title"]]) <= 1:
                        break
                    self.key("Escape")
                    time.sleep(0.5)
            except Exception:  # noqa: BLE001
                pass
        ok, detail = self.results[-1][1:]
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)


def main() -> int:
    from tests.ui.xdrive.cockpit_steps import run_steps

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=Path, default=Path("/tmp/shots/drive-cockpit"))
    ap.add_argument("--keep", action="store_true", help="keep the temp HOME (printed at the end)")
    args = ap.parse_args()
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        print(f"FAIL setup: {', '.join(missing)} missing: apt-get install -y xvfb xdotool xclip imagemagick")
        return 2
    args.shots.mkdir(parents=True, exist_ok=True)
    for old in [*args.shots.glob("*.png"), args.shots / "app.log"]:
        old.unlink(missing_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="baton-cockpit-"))
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{W}x{H}x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        display = ":" + f.readline().strip()
    drive = Drive(tmp, args.shots, display)
    started = time.monotonic()
    try:
        from baton.core.engine.defaults import default_model_path

        gguf = default_model_path().read_bytes()
        with DialectServer() as first, DialectServer() as second, RangeServer({SERVED: gguf}) as files:
            first.enqueue(reply("From the first server: 4"))
            second.enqueue(reply("Ahoy, crew, from the second server!"))
            catalog = tmp / "catalog.toml"
            write_catalog(catalog, files.url(SERVED), hashlib.sha256(gguf).hexdigest(), len(gguf))
            run_steps(drive, first, second, files, catalog, hashlib.sha256(gguf).hexdigest())
    except Exception as e:  # noqa: BLE001 - setup failures are a failed step too
        drive.results.append(("setup", False, f"{type(e).__name__}: {e}"))
        print(f"FAIL setup: {type(e).__name__}: {e}", flush=True)
    finally:
        if drive.app is not None and drive.app.poll() is None:
            drive.app.terminate()
            try:
                drive.app.wait(timeout=20)
            except subprocess.TimeoutExpired:
                drive.app.kill()
        xvfb.terminate()
        xvfb.wait(timeout=10)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    failed = [r for r in drive.results if not r[1]]
    print(f"{len(drive.results) - len(failed)}/{len(drive.results)} steps passed in {time.monotonic() - started:.0f} s;"
          f" screenshots in {args.shots}" + (f"; home {tmp}" if args.keep else ""), flush=True)
    return 1 if failed or not drive.results else 0


if __name__ == "__main__":
    sys.exit(main())
