"""Local answers run in the engine's slots: as many at once as the loaded engine decodes together, the rest queued
in order and visibly; each one stops alone."""

from __future__ import annotations

from collections.abc import Iterator

from baton.core.engine.fake import FakeEngine
from baton.core.types import Chunk, GenerationRequest
from tests.ui.conftest import wait_idle


class SlotEngine(FakeEngine):
    """A FakeEngine with ``parallel`` slots that answers each question with its own words, so concurrent answers
    can be told apart; ``live`` counts the streams running now and ``peak`` the most at once."""

    def __init__(self, parallel: int, pieces: int = 30) -> None:
        super().__init__("fake-local", token_delay_s=0.02)
        self.parallel = parallel
        self.pieces = pieces
        self.live = 0
        self.peak = 0

    def stream(self, request: GenerationRequest, cancel=None, on_work=None) -> Iterator[Chunk]:
        word = request.messages[-1].content.split()[0]
        self.enqueue([f"{word}{i} " for i in range(self.pieces)])
        self.live += 1
        self.peak = max(self.peak, self.live)
        try:
            yield from super().stream(request, cancel, on_work)
        finally:
            self.live -= 1


def _answers(h, tid: str) -> list[str]:
    return [m.content for m in h.service.store.history(tid) if m.role == "assistant"]


def test_answers_run_in_the_engines_slots_and_the_rest_wait_in_order(qtbot, make_window):
    engine = SlotEngine(parallel=2)
    h = make_window(engine=engine)
    w = h.window
    w.session.new_thread()
    w.session.send("warm up", "local")  # the first answer loads the model; the slots are known after it
    wait_idle(qtbot, h)
    threads = {}
    for word in ("alpha", "bravo", "charlie"):
        threads[word] = w.session.new_thread()
        w.session.send(f"{word} question", "local")
    qtbot.waitUntil(lambda: all(w.thread_model.get(threads[k]).state == "generating" for k in ("alpha", "bravo")),
                    timeout=5000)
    assert w.thread_model.get(threads["charlie"]).state == "queued"
    rows = w.queue_model.rows()
    assert [r.running for r in rows] == [True, True, False] and rows[2].prompt == "charlie question"
    wait_idle(qtbot, h, timeout_ms=20000)
    assert engine.peak == 2
    for word, tid in threads.items():
        assert _answers(h, tid) == ["".join(f"{word}{i} " for i in range(30))]


def test_stopping_one_running_answer_leaves_the_other_running(qtbot, make_window):
    engine = SlotEngine(parallel=4, pieces=60)
    h = make_window(engine=engine)
    w = h.window
    w.session.new_thread()
    w.session.send("warm up", "local")
    wait_idle(qtbot, h)
    a = w.session.new_thread()
    w.session.send("alpha question", "local")
    b = w.session.new_thread()
    w.session.send("bravo question", "local")
    qtbot.waitUntil(lambda: engine.live == 2, timeout=5000)
    w.dispatcher.stop(w.dispatcher.job_for_thread(b))
    wait_idle(qtbot, h, timeout_ms=20000)
    assert _answers(h, a) == ["".join(f"alpha{i} " for i in range(60))]
    stopped = _answers(h, b)
    assert len(stopped) <= 1 and (not stopped or len(stopped[0].split()) < 60)


def test_an_engine_without_slots_answers_one_at_a_time(qtbot, make_window):
    engine = SlotEngine(parallel=1, pieces=10)
    h = make_window(engine=engine)
    w = h.window
    for word in ("alpha", "bravo", "charlie"):
        w.session.new_thread()
        w.session.send(f"{word} question", "local")
    wait_idle(qtbot, h, timeout_ms=20000)
    assert engine.peak == 1
