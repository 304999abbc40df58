"""The steps of tests/ui/xdrive/drive_cockpit.py: what the person does in the app, and what each step checks in the
app's database, the files it wrote and the loopback servers' logs. Each returns a short detail for its PASS line and
raises on a failed check."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.ui.xdrive.drive_cockpit import BATON, Q1, Q2, Q3, Q4, SERVED, SYSTEM, Drive, chats, ensure


def _last_answer(d: Drive) -> tuple[str, str, str]:
    """(id, content, status) of the newest answer."""
    return d.rows("SELECT id, content, status FROM messages WHERE role = 'assistant' ORDER BY created_at DESC, "
                  "seq DESC LIMIT 1")[0]


def _thread_of(d: Drive, text: str) -> str:
    return d.rows("SELECT thread_id FROM messages WHERE role = 'user' AND content = ?", text)[0][0]


def _ask(d: Drive, text: str) -> None:
    d.click(d.widget(name="composerEdit"))
    d.type(text)
    d.shortcut("ctrl+Return")


def run_steps(d: Drive, first: Any, second: Any, files: Any, catalog: Path, sha: str) -> None:
    """Every step in order (a failed one is reported and the next still runs)."""
    prices = ("--usd-per-mtok-in", "3", "--usd-per-mtok-out", "15")  # so the totals have an all-cloud figure
    for args in (("endpoints", "add", "first", "--base-url", first.base_url, "--model", "first-model", *prices),
                 ("endpoints", "add", "second", "--base-url", second.base_url, "--model", "second-model", *prices),
                 ("config", "set", "routing.threshold", "0"),  # no automatic escalation: the person picks
                 ("config", "set", "engine.max_tokens", "24"),
                 ("config", "set", "engine.temperature", "0")):
        d.sh(BATON, *args)
    d.start_app(catalog)
    d.shot("00-started")
    state: dict[str, Any] = {}

    def first_answer() -> str:
        _ask(d, Q1)
        d.wait_answers(1)
        mid, text, status = _last_answer(d)
        ensure(status == "done" and text.strip() != "", f"the first answer is {status}: {text!r}")
        route = d.receipt(mid)["route"]
        ensure(route["tier"] == "local", f"answered by {route}")
        state["thread"] = _thread_of(d, Q1)
        d.shot("01-first-answer")
        return f"local {route['model']}: {text.strip()[:40]!r}"

    def thread_settings() -> str:
        d.shortcut("ctrl+shift+comma")
        try:
            d.wait_window("Thread settings", 5)
            how = "Ctrl+Shift+,"
        except AssertionError:  # a failed wait (StepFailed)
            d.key("Escape")
            d.palette("Thread settings")
            d.wait_window("Thread settings")
            how = "the palette (Ctrl+Shift+, did nothing)"
        title = "Thread settings"
        d.click(d.widget(title, name="threadSystemPrompt"))
        d.type(SYSTEM)
        d.click(d.widget(title, name="threadBudgetJ"))
        d.key("ctrl+a")
        d.type("5000")
        d.click(d.widget(title, name="threadBudgetUsd"))
        d.key("ctrl+a")
        d.type("0.50")
        bar = d.wait(lambda: [w for w in d.widgets(title, name="spentJ") if "left" in w["text"]],
                     "the energy budget's bar", 10)[0]
        d.shot("02-thread-settings")
        d.click(d.widget(title, text="OK"))
        d.wait(lambda: d.window(title) is None, "the dialog to close", 10)
        row = d.rows("SELECT system_prompt, budget_j, budget_usd FROM threads WHERE id = ?", state["thread"])[0]
        ensure(row == (SYSTEM, 5000.0, 0.5), f"stored settings {row}")
        return f"saved via {how}; bar says {bar['text']!r}"

    def route_before_sending() -> str:
        d.click(d.widget(name="composerEdit"))
        d.type(Q2)
        d.click(d.widget(name="tierCombo"))  # the route control's list opens
        time.sleep(0.6)
        d.key("End", "Return")  # the last entry: Cloud: second
        line = d.wait(lambda: [w for w in d.widgets(name="routePreview") if w["text"].startswith("→ second")],
                      "the route line to name second", 15)[0]["text"]
        ensure(d.widget(name="tierCombo")["text"] == "Cloud: second", "the route control shows Cloud: second")
        d.shot("03-route-changed-before-sending")
        d.shortcut("ctrl+Return")
        d.wait_answers(2)
        mid, text, status = _last_answer(d)
        route = d.receipt(mid)["route"]
        ensure(route["tier"] == "cloud" and route.get("endpoint") == "second", f"receipt route {route}")
        ensure(len(chats(second)) == 1 and not chats(first), f"first got {len(chats(first))}, second "
               f"{len(chats(second))} questions")
        sent = chats(second)[0].json["messages"]
        ensure(sent[0] == {"role": "system", "content": SYSTEM} and sent[-1]["content"] == Q2,
               f"second was sent {sent}")
        d.shot("04-answered-by-second")
        return f"preview {line!r}; receipt endpoint=second; the thread's system prompt went with it"

    def search_and_jump() -> str:
        d.click(d.widget(name="tierCombo"))  # back to Auto for what follows
        time.sleep(0.6)
        d.key("Home", "Return")
        d.shortcut("ctrl+n")
        _ask(d, Q3)
        d.wait_answers(3)
        other = _thread_of(d, Q3)
        ensure(other != state["thread"], "Ctrl+N started a new thread")
        d.shortcut("ctrl+f")
        time.sleep(0.4)
        d.type("capital")
        hits = d.wait(lambda: [w for w in d.widgets(name="searchHit")], "search results", 10)
        d.shot("05-search-results")
        d.key("Return")  # opens the first result
        found = d.wait(lambda: [w for w in d.widgets() if w.get("found")], "a message outlined", 10)
        row = d.rows("SELECT thread_id, content FROM messages WHERE id = ?", found[0].get("message_id"))
        ensure(bool(row) and row[0][0] == state["thread"] and "capital" in row[0][1].lower(),
               f"outlined {row}, not a message of the first thread with the word")
        d.shot("06-jumped-to-message")
        d.palette("colours")  # no command has the word: Enter searches every thread from the palette
        again = d.wait(lambda: [w for w in d.widgets(name="searchHit") if "colours" in w["text"]],
                       "the palette's search results", 10)
        ensure(d.widget(name="threadSearch")["text"] == "colours", "the palette filled the sidebar's search box")
        d.shot("06b-palette-search")
        d.click(d.widget(name="threadSearch"))
        d.key("ctrl+a", "BackSpace")
        d.wait(lambda: d.widgets(name="threadList"), "the thread list back", 10)
        return (f"{len(hits)} hit(s) for 'capital'; Enter opened the first thread at the message; the palette found "
                f"'colours' in {len(again)} message(s)")

    def export_markdown() -> str:
        out = d.tmp / "export" / "thread.md"
        out.parent.mkdir()
        d.palette("Export thread as Markdown")
        d.wait_window("Export thread as Markdown")
        time.sleep(0.8)
        d.key("ctrl+a")
        d.type(str(out))
        d.shot("07-export-dialog")
        d.key("Return")
        d.wait(out.is_file, "the exported file", 15)
        text = out.read_text(encoding="utf-8")
        ensure(text.startswith("# ") and Q1 in text and Q2 in text and "Receipt" in text,
               f"the Markdown lacks the questions or receipts: {text[:200]!r}")
        d.shot("08-exported")
        return f"{out.name}: {len(text)} chars, {text.count('Receipt')} receipts"

    def compare() -> str:
        d.click(d.widget(name="composerEdit"))
        d.type(Q4)
        d.shortcut("ctrl+shift+m")
        title = "Compare two answers"
        d.wait_window(title)
        boxes = sorted(d.widgets(title, cls="QComboBox"), key=lambda w: w["x"])
        ensure(len(boxes) == 2, f"{len(boxes)} pickers")
        ensure(boxes[0]["text"].startswith("Local") and boxes[1]["text"] == "Endpoint: first",
               f"A={boxes[0]['text']!r} B={boxes[1]['text']!r}")
        d.click(d.widget(title, name="compareButton"))
        keeps = d.wait(lambda: [w for w in d.widgets(title, name="keepButton") if w["enabled"]][1:] and
                       sorted(d.widgets(title, name="keepButton"), key=lambda w: w["x"]), "both answers", 120)
        texts = [w["text"] for w in sorted(d.widgets(title, name="compareText"), key=lambda w: w["x"])]
        ensure(all(t.strip() for t in texts) and "first server" in texts[1], f"the panes show {texts}")
        d.shot("09-compare-side-by-side")
        d.click(keeps[1])  # keep B, the first server's answer
        d.wait(lambda: d.window(title) is None, "the compare dialog to close", 10)
        q = d.rows("SELECT id FROM messages WHERE role = 'user' AND content = ?", Q4)[0][0]
        answers = d.rows("SELECT content, status, tier FROM messages WHERE parent_id = ? ORDER BY seq", q)
        kept = [a for a in answers if a[1] == "done"]
        ensure(len(kept) == 1 and "first server" in kept[0][0] and any(a[1] == "replaced" for a in answers),
               f"answers after keep: {answers}")
        ensure(len(chats(first)) == 1, f"first was asked {len(chats(first))} times")
        from baton.ui.format import fmt_usd

        usd = d.rows("SELECT SUM(r.usd) FROM receipts r JOIN messages m ON m.id = r.message_id "
                     "WHERE r.counted = 1 AND m.thread_id = ?", state["thread"])[0][0] or 0.0
        d.wait(lambda: [r for w in d.widgets(name="threadList") for r in w["rows"]
                        if r.startswith(Q1[:20]) and r.endswith(fmt_usd(usd))],
               f"the thread list to show the thread's spend {fmt_usd(usd)} after the compare", 10)
        d.shot("10-compare-kept")
        return f"A local and B first side by side; kept B, A stays as a version ({[a[1] for a in answers]})"

    def model_download() -> str:
        d.shortcut("ctrl+shift+b")
        title = "Model browser"
        d.wait_window(title)
        d.wait(lambda: d.widgets(title, name="catalogTable"), "the catalog", 10)
        files.hold_after_bytes = 40 << 20  # the server stalls mid-way: the progress is seen, then paused
        d.click(d.widget(title, text="Download"))
        ensure(files.held.wait(30), "the download did not start")
        progress = d.wait(lambda: [w["text"] for w in d.widgets(title, name="downloadStatus") if "MB/s" in w["text"]],
                          "the progress line", 15)[0]
        d.shot("11-model-downloading")
        d.click(d.widget(title, text="Pause"))
        files.release.set()
        d.wait(lambda: [w for w in d.widgets(title, name="downloadStatus") if "Paused" in w["text"]], "paused", 30)
        part = d.baton_home / "data" / "models" / (SERVED + ".part")
        ensure(part.is_file() and not (d.baton_home / "data" / "models" / SERVED).exists(), "a part file only")
        paused_at = part.stat().st_size
        files.hold_after_bytes = None
        d.click(d.widget(title, text="Resume"))
        status = d.wait(lambda: [w["text"] for w in d.widgets(title, name="downloadStatus")
                                 if "verified" in w["text"] or "failed" in w["text"]], "the download's end", 90)[0]
        ensure("verified" in status, status)
        d.shot("12-model-downloaded")
        path = d.baton_home / "data" / "models" / SERVED
        ensure(path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha, "the file hashes right")
        ranges = [r["range"] for r in files.requests]
        ensure(ranges[-1] == f"bytes={paused_at}-", f"the resume asked {ranges}")
        d.click(d.widget(title, text="Use for new answers"))
        d.wait(lambda: d.window(title) is None, "the browser to close", 10)
        label = d.wait(lambda: [w["text"] for w in d.widgets(name="modelButton") if "served" in w["text"]],
                       "the model button to name the new model", 10)[0]
        d.shot("13-model-in-use")
        return (f"{progress!r}, paused at {paused_at} bytes, resumed with Range, {path.stat().st_size} bytes "
                f"sha256 ok; model button {label!r}")

    def api_server() -> str:
        d.shortcut("ctrl+shift+a")
        title = "API server"
        d.wait_window(title)
        d.click(d.widget(title, name="serveToggle"))
        url_box = d.wait(lambda: [w for w in d.widgets(title, name="serveUrl") if w["text"].startswith("http")],
                         "the server's URL", 20)[0]
        copies = sorted(d.widgets(title, text="Copy"), key=lambda w: w["y"])
        d.click(copies[0])
        url = d.wait(lambda: d.clipboard().strip(), "the URL on the clipboard", 5)
        d.click(d.widget(title, text="Show"))
        d.click(copies[1])
        token = d.wait(lambda: (lambda c: c if c != url else "")(d.clipboard().strip()), "the token", 5)
        ensure(url == url_box["text"] and url.startswith("http://127.0.0.1:"), f"copied {url!r}")
        shown = d.widget(title, name="serveToken")["text"]
        ensure(shown == token, "the token shown is the token copied")
        d.shot("14-api-server-on")
        with httpx.Client(trust_env=False, timeout=120) as http:
            client = openai.OpenAI(base_url=url, api_key=token, http_client=http, max_retries=0)
            r = client.chat.completions.create(model="baton", max_tokens=12, temperature=0,
                                               messages=[{"role": "user", "content": "Say hello."}])
            names = [m.id for m in client.models.list().data]
        text = r.choices[0].message.content or ""
        baton = (r.model_extra or {}).get("baton") or {}
        ensure(text.strip() != "" and baton.get("route"), f"reply {text!r}, baton field {baton}")
        badge = d.widget(name="serveBadge")["text"]
        ensure(badge.startswith("API on :"), f"status bar badge {badge!r}")
        d.click(d.widget(title, text="Close"))
        d.wait(lambda: d.widget(name="threadList")["rows"][0].startswith("Say hello."),
               "the API request's thread on top of the sidebar", 10)
        return (f"{url} answered {text.strip()[:30]!r} via {baton['route'].get('tier')}; models {names[:3]}; "
                "its thread joined the sidebar")

    def totals() -> str:
        d.palette("Totals by day")
        d.wait_window("Totals")
        d.wait(lambda: d.widgets("Totals", name="totalsTable"), "the totals table", 10)
        note = d.widget("Totals", name="totalsNote")["text"]
        d.shot("15-totals")
        d.key("Escape")
        d.wait(lambda: d.window("Totals") is None, "the totals to close", 10)
        return note[:80]

    def pin_and_delete_with_undo() -> str:
        def rows() -> tuple[list[str], list[list[int]]]:
            lst = d.widget(name="threadList")
            return lst["rows"], lst["row_rects"]

        def row_of(prefix: str) -> list[int]:
            texts, rects = rows()
            i = next(i for i, t in enumerate(texts) if t.lstrip("★ ").startswith(prefix))
            return rects[i]

        texts, _ = rows()
        ensure(texts[0].startswith("Say hello.") and texts[1].startswith(Q3[:12]),
               f"the newest threads first before pinning (the API's, then the last asked here): {texts}")
        x, y, w, h = row_of(Q1[:20])
        d.right_click(x + w // 2, y + h // 2)
        d.click(d.menu_entry("Pin to top"))
        d.wait(lambda: rows()[0][0].startswith("★ " + Q1[:20]), "the pinned thread on top", 10)
        ensure(d.rows("SELECT pinned FROM threads WHERE id = ?", state["thread"])[0][0] == 1, "pinned in the store")
        x, y, w, h = row_of(Q3[:12])
        d.right_click(x + w // 2, y + h // 2)
        d.click(d.menu_entry("Delete"))
        undo = d.wait(lambda: d.widgets(name="undoDelete"), "the Undo button", 5)[0]
        ensure(not any(t.startswith(Q3[:12]) for t in rows()[0]), "the deleted thread left the list")
        d.shot("16-deleted-with-undo")
        d.click(undo)
        d.wait(lambda: any(t.startswith(Q3[:12]) for t in rows()[0]), "the thread back after Undo", 5)
        left = d.rows("SELECT deleted_at FROM threads WHERE id = ?", _thread_of(d, Q3))
        ensure(left == [(None,)], f"the store after Undo: {left}")
        d.shot("17-undone")
        return f"pinned on top ({rows()[0][0].splitlines()[0]!r}); deleted, then back with Undo"

    def quit_app() -> str:
        d.shortcut("ctrl+q")
        assert d.app is not None
        d.app.wait(timeout=30)
        ensure(d.app.returncode == 0, f"exit code {d.app.returncode}")
        logs = [d.shots / "app.log", *sorted((d.baton_home / "logs").glob("*.log"))]
        bad = [p.name for p in logs if p.is_file() and "Traceback" in p.read_text(errors="replace")]
        ensure(not bad, f"a traceback in {bad}")
        return "exit 0, no traceback in the logs"

    for name, fn in (("first_answer", first_answer), ("thread_settings", thread_settings),
                     ("route_before_sending", route_before_sending), ("search_and_jump", search_and_jump),
                     ("export_markdown", export_markdown), ("compare", compare), ("model_download", model_download),
                     ("api_server", api_server), ("totals", totals),
                     ("pin_and_delete_with_undo", pin_and_delete_with_undo), ("quit", quit_app)):
        d.step(name, fn)

