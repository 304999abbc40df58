"""The chat a solo engineer expects: copy buttons, edit and resend, regenerate and retry as versions in place that
can be browsed ("‹ 1/2 ›"), fork from any message, markdown while streaming, status outside the text."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication

from baton.core.engine.fake import FakeEngine
from baton.ui.bubble import Bubble, CodeBlock
from tests.ui.conftest import wait_idle

TWO_BLOCKS = ("Try this:\n\n```python\nprint('one')\n```\n\nor in a shell:\n\n```bash\necho two | tr a-z A-Z\n```\n"
              "Done.")


def _bubbles(w) -> list[Bubble]:
    return [b for b in w.chat.bubbles() if b.message_id]


def test_copy_buttons_copy_a_code_block_alone_or_the_whole_message(qtbot, make_window):
    engine = FakeEngine("fake-local")
    engine.enqueue(TWO_BLOCKS)
    h = make_window(engine=engine)
    w = h.window
    w.session.send("how do I print?", "local")
    wait_idle(qtbot, h)
    answer = _bubbles(w)[-1]
    blocks = answer.message_body.code_blocks()
    assert [b.block.lang for b in blocks] == ["python", "bash"]
    clipboard = QGuiApplication.clipboard()
    blocks[1].copy_button.click()
    assert clipboard.text() == "echo two | tr a-z A-Z"
    blocks[0].copy_button.click()
    assert clipboard.text() == "print('one')"
    assert blocks[0].copy_button.text() == "Copied ✓"
    answer.copy_button.click()
    assert clipboard.text() == TWO_BLOCKS
    _bubbles(w)[0].copy_button.click()
    assert clipboard.text() == "how do I print?"
    # the keyboard command copies the last answer's last code block
    w.actions_.copy_code.trigger()
    assert clipboard.text() == "echo two | tr a-z A-Z"


def test_edit_and_resend_is_a_new_version_of_the_question_in_place(qtbot, make_window):
    engine = FakeEngine("fake-local")
    engine.enqueue("Four.")
    engine.enqueue("Six.")
    h = make_window(engine=engine)
    w = h.window
    w.session.send("what is 2+2?", "local")
    wait_idle(qtbot, h)
    question = _bubbles(w)[0]
    question.edit_button.click()
    assert w.composer.editing and w.composer.text() == "what is 2+2?"
    w.composer.set_text("what is 3+3?")
    w.composer.send_button.click()
    wait_idle(qtbot, h)
    assert not w.composer.editing and w.composer.text() == ""
    bubbles = _bubbles(w)
    assert len(bubbles) == 2, "an edit is no new bubble"
    assert w.chat.settled_texts()[0] == "what is 3+3?" and "Six." in w.chat.settled_texts()[1]
    assert bubbles[0].version_label.text() == "2/2"
    tid = w.session.current_id
    qs = [m for m in h.service.store.history(tid) if m.role == "user"]
    assert [(m.content, m.status) for m in qs] == [("what is 2+2?", "replaced"), ("what is 3+3?", "done")]
    # browse back: the earlier question and the answer it had
    bubbles[0].prev_button.click()
    assert w.chat.settled_texts()[0] == "what is 2+2?" and "Four." in w.chat.settled_texts()[1]
    assert _bubbles(w)[0].version_label.text() == "1/2" and not _bubbles(w)[0].prev_button.isEnabled()
    _bubbles(w)[0].next_button.click()
    assert w.chat.settled_texts()[0] == "what is 3+3?"


def test_regenerate_and_retry_are_versions_at_the_same_point(qtbot, make_window):
    local = FakeEngine("fake-local")
    for text in ("first answer", "second answer"):
        local.enqueue(text)
    cloud = FakeEngine("big-model")
    cloud.enqueue("third answer, remote")
    h = make_window(engine=local, cloud=cloud, with_endpoint=True)
    w = h.window
    w.session.send("Which word rhymes with orange?", "local")
    wait_idle(qtbot, h)
    w.chat.receipt_bars()[-1].regenerate_button.click()
    wait_idle(qtbot, h)
    bar = w.chat.receipt_bars()[-1]
    next(a for a in bar.retry_button.menu().actions() if "lan-big" in a.text()).trigger()
    wait_idle(qtbot, h)
    assert len(_bubbles(w)) == 2, "never a new bubble"
    answer = _bubbles(w)[-1]
    assert answer.version_label.text() == "3/3" and "third answer, remote" in w.chat.settled_texts()[-1]
    answer.prev_button.click()
    assert "second answer" in w.chat.settled_texts()[-1] and _bubbles(w)[-1].version_label.text() == "2/3"
    # each version keeps its own receipt
    assert "fake-local" in w.chat.receipt_bars()[-1].badge.text()
    w.actions_.prev_version.trigger()
    assert "first answer" in w.chat.settled_texts()[-1]
    w.actions_.next_version.trigger()
    w.actions_.next_version.trigger()
    assert "third answer, remote" in w.chat.settled_texts()[-1] and "big-model" in w.chat.receipt_bars()[-1].badge.text()
    # a new question continues from the current version
    local.enqueue("fine")
    w.session.send("thanks", "local")
    wait_idle(qtbot, h)
    sent = [m.content for m in local.requests[-1].messages]
    assert "third answer, remote" in sent and "second answer" not in sent


def test_fork_from_any_message_starts_a_thread_with_the_history_so_far(qtbot, make_window):
    engine = FakeEngine("fake-local")
    for text in ("one", "two"):
        engine.enqueue(text)
    h = make_window(engine=engine)
    w = h.window
    w.session.send("first?", "local")
    wait_idle(qtbot, h)
    w.session.send("second?", "local")
    wait_idle(qtbot, h)
    source = w.session.current_id
    first_answer = _bubbles(w)[1]
    menu = first_answer.menu()
    next(a for a in menu.actions() if a.text().startswith("Fork")).trigger()
    fork = w.session.current_id
    assert fork != source and w.thread_model.rowCount() == 2
    assert [t.split("<")[0] for t in w.chat.settled_texts()][0] == "first?"
    assert len(_bubbles(w)) == 2 and "one" in w.chat.settled_texts()[1]
    assert [m.content for m in h.service.store.thread_path(source)] == ["first?", "one", "second?", "two"]
    engine.enqueue("three")
    w.session.send("third?", "local")
    wait_idle(qtbot, h)
    assert [m.content for m in engine.requests[-1].messages][1:] == ["first?", "one", "third?"]


def test_markdown_renders_while_streaming_throttled_never_per_token(qtbot, make_window):
    answer = "Intro with **bold**.\n\n```python\n" + "".join(f"x{i} = {i}\n" for i in range(60)) + "```\nEnd."
    engine = FakeEngine("fake-local", token_delay_s=0.01)
    engine.enqueue([answer[i:i + 2] for i in range(0, len(answer), 2)])
    h = make_window(engine=engine)
    w = h.window
    w.session.send("count", "local")
    qtbot.waitUntil(lambda: w.chat.live_text is not None and any(
        "x1 = 1" in c.block.text for c in w.chat.live_text.content.code_blocks()), timeout=8000)
    live = w.chat.live_text
    assert w.dispatcher.busy()
    code = live.content.code_blocks()[0]
    assert isinstance(code, CodeBlock)
    assert code.block.lang == "python" and not code.block.closed  # an open block keeps its line breaks
    assert "<strong>bold</strong>" in live.content.findChildren(type(code.code))[0].text()
    renders = live.renders
    wait_idle(qtbot, h)
    assert 1 <= renders < len(answer) // 2 // 4, "rendered per token"


def test_escalation_status_is_shown_beside_the_answer_never_inside_it(qtbot, make_window):
    local = FakeEngine("fake-local", token_delay_s=0.01)
    local.enqueue(["maybe ", "seven ", "or ", "so"])
    cloud = FakeEngine("big-model", token_delay_s=0.05)
    cloud.enqueue(["It ", "is ", "12", "."])
    h = make_window(engine=local, cloud=cloud, with_endpoint=True, escalate_after=True)
    w = h.window
    seen: list[tuple[str, str, str]] = []
    w.dispatcher.textRestarted.connect(lambda _job: seen.append(
        (w.chat.live_text.text(), w.chat.live_text.draft.text(), w.chat.live_status.text())))
    texts: list[str] = []
    w.dispatcher.textArrived.connect(lambda _job, _t: texts.append(w.chat.live_text.text()))
    w.session.send("Which word rhymes with twelve?", "auto")
    wait_idle(qtbot, h)
    assert len(seen) == 1
    live, draft, _status = seen[0]
    assert live == "" and "maybe seven or so" in draft and "escalation" in draft
    assert not any("[" in t or "scalat" in t for t in texts), texts
    assert texts[-1] == "It is 12."
    assert "It is 12." in w.chat.settled_texts()[-1]


def test_forking_at_a_question_puts_it_in_the_composer_after_the_history_before_it(qtbot, make_window):
    engine = FakeEngine("fake-local")
    for text in ("one", "two"):
        engine.enqueue(text)
    h = make_window(engine=engine)
    w = h.window
    for q in ("first?", "second?"):
        w.session.send(q, "local")
        wait_idle(qtbot, h)
    second_question = _bubbles(w)[2]
    next(a for a in second_question.menu().actions() if a.text().startswith("Fork")).trigger()
    fork = w.session.current_id
    assert [m.content for m in h.service.store.thread_path(fork)] == ["first?", "one"]
    assert w.composer.text() == "second?" and h.service.store.get_thread(fork).title.startswith("Fork: ")
    w.session.select(next(t.id for t in h.service.store.list_threads() if t.id != fork))
    first_question = _bubbles(w)[0]
    next(a for a in first_question.menu().actions() if a.text().startswith("Fork")).trigger()
    assert h.service.store.thread_path(w.session.current_id) == [] and w.composer.text() == "first?"
