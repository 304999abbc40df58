"""Drive the real app in a real X display, as a user would, and check what it did.

Xvfb :99, the app started as ``.venv/bin/baton`` with a fresh BATON_HOME, two OpenAI-style servers on loopback
(tests/helpers/dialect_server.py) as endpoints ``first`` and ``second``, xdotool typing and clicking, xclip reading
the clipboard, ImageMagick's ``import`` taking screenshots into ``tests/ui/xdrive/results/`` (git-ignored).

Steps: the first question (answered by the local model), copy its code block (the clipboard must hold exactly the
code), edit the question and resend (a new version in place), retry the answer on ``first`` then on ``second`` (new
versions in place; only the named server is asked, with the question and no replaced answer), browse the versions,
fork, quit, start again and find everything as it was. Prints one JSON document of checks; exit 1 if one failed.

Needs: apt-get install -y xvfb xdotool xclip imagemagick. Run: ``.venv/bin/python tests/ui/xdrive/drive_app.py``
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from tests.helpers.dialect_server import DialectServer, Reply, chunk, usage  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DISPLAY = ":99"
BATON = str(ROOT / ".venv" / "bin" / "baton")
Q1 = "Write a Python function add(a, b) that returns the sum. Answer with one code block."
Q2 = "Write a Python function mul(a, b) that returns the product. Answer with one code block."


def reply(text: str) -> Reply:
    return Reply(events=[chunk(text), chunk(None, "stop"), usage(20, 12), "data: [DONE]\n\n"])


class Drive:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "DISPLAY": DISPLAY, "BATON_HOME": str(home), "BATON_THEME": "light"}
        self.env.pop("QT_QPA_PLATFORM", None)
        self.app: subprocess.Popen | None = None
        self.checks: dict[str, bool] = {}
        self.notes: dict[str, str] = {}

    # ---- plumbing ------------------------------------------------------------------------------------------
    def sh(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=120)
        if check and out.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {out.stderr.strip()[:300]}")
        return out.stdout

    def key(self, *keys: str) -> None:
        for k in keys:
            self.sh("xdotool", "key", "--clearmodifiers", k)
            time.sleep(0.25)

    def shortcut(self, *keys: str) -> None:
        """A window shortcut: give the main window the X input focus first (there is no window manager to hand it
        back after a dialog closes), then press the keys."""
        self.sh("xdotool", "windowfocus", "--sync", self.win, check=False)
        time.sleep(0.3)
        self.key(*keys)

    def type(self, text: str) -> None:
        self.sh("xdotool", "type", "--delay", "15", text)

    def click(self, x: int, y: int) -> None:
        self.sh("xdotool", "mousemove", str(x), str(y), "click", "1")
        time.sleep(0.3)

    def shot(self, name: str) -> None:
        time.sleep(0.8)
        self.sh("import", "-window", "root", str(RESULTS / f"{name}.png"))

    def start_app(self) -> None:
        self.app = subprocess.Popen([BATON], env=self.env, stdout=open(RESULTS / "app.log", "a"),
                                    stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        win = ""
        while not win:
            if self.app.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not open a window; see {RESULTS / 'app.log'}")
            win = (self.sh("xdotool", "search", "--onlyvisible", "--name", "^Baton$", check=False).split() or [""])[0]
            time.sleep(0.5)
        self.sh("xdotool", "windowsize", win, "1100", "760")
        self.sh("xdotool", "windowmove", win, "0", "0")
        self.sh("xdotool", "windowactivate", "--sync", win, check=False)
        self.sh("xdotool", "windowfocus", "--sync", win, check=False)
        time.sleep(1.5)
        self.win = win

    def quit_app(self) -> None:
        self.shortcut("ctrl+q")
        assert self.app is not None
        self.app.wait(timeout=30)

    def db_path(self) -> Path:
        os.environ["BATON_HOME"] = str(self.home)
        from baton.paths import Paths

        return Paths.from_env().db_file

    def rows(self, sql: str, *args: object) -> list[tuple]:
        conn = sqlite3.connect(f"file:{self.db_path()}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def wait_answers(self, count: int, timeout_s: float = 180) -> None:
        """Until ``count`` answers are stored and none is streaming."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                done = self.rows("SELECT COUNT(*) FROM messages WHERE role = 'assistant' AND status != 'streaming'")[0][0]
                live = self.rows("SELECT COUNT(*) FROM messages WHERE status = 'streaming'")[0][0]
                if done >= count and live == 0:
                    time.sleep(1.0)
                    return
            except (sqlite3.Error, IndexError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{count} answers were not stored in {timeout_s:.0f} s")

    def cli_json(self, *args: str) -> object:
        return json.loads(self.sh(BATON, *args))

    # ---- the user's steps ------------------------------------------------------------------------------------
    def run(self, first: DialectServer, second: DialectServer) -> None:
        for name, srv in (("first", first), ("second", second)):
            self.sh(BATON, "endpoints", "add", name, "--base-url", srv.base_url, "--model", f"{name}-model")
        self.sh(BATON, "config", "set", "routing.threshold", "0")  # no automatic escalation: the user picks
        self.sh(BATON, "config", "set", "engine.max_tokens", "160")
        self.start_app()
        self.shot("00-first-run")
        # the composer is the big box at the bottom: click it, type, Ctrl+Enter
        self.click(550, 760 - 120)
        self.type(Q1)
        self.shortcut("ctrl+Return")
        self.wait_answers(1)
        self.shot("01-first-answer")
        answer = self.rows("SELECT content FROM messages WHERE role = 'assistant'")[0][0]
        from baton.ui.blocks import code_blocks

        blocks = code_blocks(answer)
        self.shortcut("ctrl+alt+c")
        clip = self.sh("xclip", "-selection", "clipboard", "-o", check=False)
        self.checks["copy_code_block"] = bool(blocks) and clip == blocks[-1]
        self.notes["clipboard"] = clip[:200]
        # edit the question and resend: a new version of the question in place
        self.shortcut("ctrl+shift+e")
        time.sleep(0.5)
        self.key("ctrl+a")
        self.type(Q2)
        self.shortcut("ctrl+Return")
        self.wait_answers(2)
        self.shot("02-edited-question-2of2")
        qs = self.rows("SELECT content, status FROM messages WHERE role = 'user' ORDER BY seq")
        self.checks["edit_is_a_version"] = qs == [(Q1, "replaced"), (Q2, "done")]
        # retry on first, then on second, through the command palette (the Retry on… menu's entries)
        for n, (name, srv) in enumerate((("first", first), ("second", second)), start=3):
            self.shortcut("ctrl+k")
            time.sleep(1.5)  # the palette opens before anything is typed into it
            self.type(f"Cloud: {name}")
            time.sleep(0.5)
            self.key("Return")
            self.wait_answers(n)
            deadline = time.monotonic() + 30
            while not srv.requests and time.monotonic() < deadline:
                time.sleep(0.2)
        self.shot("03-retried-on-second-3of3")
        sent = second.requests[0].json["messages"] if second.requests else []
        self.checks["retry_second_in_place"] = (len(first.requests) == 1 and len(second.requests) == 1
                                                and [m["role"] for m in sent] == ["system", "user"]
                                                and sent[-1]["content"] == Q2)
        answers = self.rows("SELECT status FROM messages WHERE role = 'assistant' ORDER BY seq")
        self.checks["one_current_answer"] = [a[0] for a in answers] == ["done", "replaced", "replaced", "done"]
        # browse: back to the first answer of the edited question, then forward again
        self.shortcut("alt+Left", "alt+Left")
        self.shot("04-browsed-to-version-1of3")
        self.shortcut("alt+Right", "alt+Right")
        # fork a thread from here
        self.shortcut("ctrl+shift+f")
        time.sleep(1)
        self.shot("05-forked")
        threads = self.cli_json("threads", "--json")
        self.checks["fork_made_a_thread"] = len(threads) == 2
        # quit and start again: everything as it was
        self.quit_app()
        self.start_app()
        self.shot("06-after-restart-fork")
        self.shortcut("ctrl+2")
        self.shot("07-after-restart-original")
        after = self.cli_json("threads", "--json")
        original = next(t for t in after if not t["title"].startswith("Fork: "))
        shown = self.sh(BATON, "threads", "show", original["id"])
        self.checks["after_restart"] = (len(after) == 2 and Q2 in shown and "from the second server" in shown
                                        and Q1 not in shown)
        self.notes["threads_show"] = shown[-600:]
        self.quit_app()


def main() -> int:
    for tool in ("Xvfb", "xdotool", "xclip", "import"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install -y xvfb xdotool xclip imagemagick", file=sys.stderr)
            return 2
    RESULTS.mkdir(exist_ok=True)
    for old in RESULTS.glob("*.png"):
        old.unlink()
    xvfb = subprocess.Popen(["Xvfb", DISPLAY, "-screen", "0", "1100x760x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    home = Path(tempfile.mkdtemp(prefix="baton-xdrive-"))
    drive = Drive(home)
    error = ""
    try:
        with DialectServer() as first, DialectServer() as second:
            first.enqueue(reply("From the first server:\n\n```python\ndef mul(a, b):\n    return a * b\n```"))
            second.enqueue(reply("from the second server:\n\n```python\ndef mul(a, b):\n    return b * a\n```"))
            drive.run(first, second)
    except Exception as e:  # noqa: BLE001 - the report says what broke
        error = f"{type(e).__name__}: {e}"
        try:
            drive.shot("99-error")
        except Exception:  # noqa: BLE001
            pass
    finally:
        if drive.app is not None and drive.app.poll() is None:
            drive.app.terminate()
            drive.app.wait(timeout=20)
        xvfb.terminate()
        xvfb.wait(timeout=10)
    report = {"checks": drive.checks, "ok": bool(drive.checks) and all(drive.checks.values()) and not error,
              "error": error, "notes": drive.notes, "screenshots": sorted(p.name for p in RESULTS.glob("*.png")),
              "home": str(home)}
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
