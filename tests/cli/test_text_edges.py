"""Text at the CLI's edges: prompts that are not UTF-8 are refused in one line; escape sequences in
stored answers and titles are shown, never obeyed, in human output, and kept verbatim in --json."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from baton.commands.textio import check_argv, read_prompt, safe_for_terminal
from baton.core.errors import UsageError
from baton.core.store import Store
from baton.paths import Paths
from tests.helpers.proc import baton_env

# (name, hostile text, what must show instead of the raw control)
HOSTILE = [
    ("osc52_clipboard", "ok\x1b]52;c;cm0gLXJmIH4=\x07done", "^[]52;c;cm0gLXJmIH4=^Gdone"),
    ("osc0_title_st", "\x1b]0;pwned\x1b\\text", "^[]0;pwned^[\\text"),
    ("osc2_title", "\x1b]2;owned\x07", "^[]2;owned^G"),
    ("csi_clear_screen", "\x1b[2J\x1b[H", "^[[2J^[[H"),
    ("cursor_up_and_erase", "safe\x1b[1A\x1b[2K", "^[[1A^[[2K"),
    ("c1_csi", "a\x9b31mred", "a\\x9b31mred"),
    ("c1_osc", "\x9d0;title\x9c", "\\x9d0;title\\x9c"),
    ("bell", "ding\x07", "ding^G"),
    ("backspace_trick", "rm -rf /\x08\x08\x08\x08\x08\x08\x08\x08ls   ", "rm -rf /^H^H^H^H^H^H^H^Hls"),
    ("carriage_return_overwrite", "evil\rgood", "evil^Mgood"),
    ("bidi_override", "if x \u202e} {\u2066", "<U+202E>} {<U+2066>"),
    ("delete", "a\x7fb", "a^?b"),
    ("lone_surrogate", "bad\udcff", "<U+DCFF>"),
]


@pytest.mark.parametrize("name,text,visible", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_safe_for_terminal_makes_controls_visible(name: str, text: str, visible: str) -> None:
    out = safe_for_terminal(text)
    assert visible in out
    assert not any(ord(c) < 0x20 and c not in "\n\t" or 0x7F <= ord(c) <= 0x9F for c in out)
    assert safe_for_terminal(out) == out
    out.encode("utf-8")  # printable on a strict UTF-8 stdout


def test_safe_for_terminal_keeps_ordinary_text() -> None:
    text = "def f(x):\n\treturn x  # ok\r\nCafé 😀 naïve — ∑ 中文 עברית\n"
    assert safe_for_terminal(text) == text


@pytest.fixture
def stored(baton_home: Path) -> dict[str, str]:
    store = Store(Paths.from_env({"BATON_HOME": str(baton_home)}).db_file)
    t = store.create_thread("title \x1b]0;owned\x07 \x1b[2J")
    store.add_message(t.id, "user", "print the escapes")
    answer = store.begin_answer(t.id, "model\x1b[31m", "local")
    store.finish_answer(answer.id, "".join(h[1] for h in HOSTILE[:-1]), "done", {"energy": {"total_j": 1.0}})
    store.close()
    return {"thread": t.id}


def baton(home: Path, *args: str | bytes, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "baton", *args], capture_output=True, env=baton_env(home),
                          input=stdin, timeout=120)


def _no_raw_controls(data: bytes) -> None:
    text = data.decode("utf-8")
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "\u202e" not in text
    assert "\x08" not in text and "\x7f" not in text


def test_threads_show_and_list_neutralise_escapes(baton_home: Path, stored: dict[str, str]) -> None:
    show = baton(baton_home, "threads", "show", stored["thread"])
    assert show.returncode == 0, show.stderr
    _no_raw_controls(show.stdout)
    out = show.stdout.decode()
    assert "^[]52;c;" in out and "^[[2J" in out and "title ^[]0;owned^G" in out and "model^[[31m" in out
    listing = baton(baton_home, "threads")
    assert listing.returncode == 0
    _no_raw_controls(listing.stdout)
    assert "^[]0;owned^G" in listing.stdout.decode()


def test_threads_json_keeps_text_verbatim(baton_home: Path, stored: dict[str, str]) -> None:
    doc = json.loads(baton(baton_home, "threads", "show", stored["thread"], "--json").stdout)
    assert doc["thread"]["title"] == "title \x1b]0;owned\x07 \x1b[2J"
    assert doc["messages"][-1]["content"] == "".join(h[1] for h in HOSTILE[:-1])
    listing = json.loads(baton(baton_home, "threads", "--json").stdout)
    assert listing[0]["title"] == "title \x1b]0;owned\x07 \x1b[2J"


@pytest.mark.parametrize("raw", [b"caf\xe9", b"\xff\xfe", b"ok \xc3\x28 broken", b"\xed\xa0\x80", b"\xc0\xaf"])
def test_prompt_argument_that_is_not_utf8_is_one_line(baton_home: Path, raw: bytes) -> None:
    proc = baton(baton_home, "ask", raw)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and "the prompt is not valid UTF-8 text" in err and "Traceback" not in err


def test_other_arguments_that_are_not_utf8_are_one_line(baton_home: Path) -> None:
    proc = baton(baton_home, "threads", "rename", "abcdef", b"t\xe9")
    assert proc.returncode == 2 and proc.stderr.decode().count("\n") == 1
    assert "argument 4 is not valid UTF-8" in proc.stderr.decode()


@pytest.mark.parametrize("raw", [b"caf\xe9\n", b"\x80abc", b"ok\xf5\x80\x80\x80", b"half \xe2\x82"])
def test_read_prompt_refuses_stdin_that_is_not_utf8(raw: bytes) -> None:
    with pytest.raises(UsageError) as info:
        read_prompt("-", stdin=io.BytesIO(raw))
    assert "the prompt on stdin" in str(info.value) and "not valid UTF-8" in str(info.value)


def test_read_prompt_reads_utf8_from_argument_and_stdin() -> None:
    assert read_prompt("naïve 😀") == "naïve 😀"
    assert read_prompt(None, stdin=io.BytesIO("\ufeffQ: 2+2?\n".encode())) == "Q: 2+2?\n"
    surrogate = os.fsdecode(b"caf\xe9")  # what argv holds for Latin-1 bytes
    with pytest.raises(UsageError):
        read_prompt(surrogate)
    with pytest.raises(UsageError):
        read_prompt("   ")
    with pytest.raises(UsageError):
        check_argv(["ask", surrogate])
    check_argv(["ask", "fine ✓"])


def test_a_model_path_that_is_not_utf8_is_not_blamed_on_the_prompt(baton_home):
    import os
    import subprocess
    import sys

    from tests.helpers.proc import baton_env

    bad = os.fsdecode(b"/nonexistent/mod\xe8le.gguf")
    proc = subprocess.run([sys.executable, "-m", "baton", "ask", "--model", bad, "hi"], capture_output=True,
                          env=baton_env(baton_home), timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1 and "not valid UTF-8" not in err and "model file not found" in err, err
    proc = subprocess.run([sys.executable, "-m", "baton", "ask", "--thread", os.fsdecode(b"\xff\xfe"), "hi"],
                          capture_output=True, env=baton_env(baton_home), timeout=120)
    assert proc.returncode == 2 and b"the value of --thread" in proc.stderr
