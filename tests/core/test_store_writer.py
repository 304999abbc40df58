"""AnswerWriter: throttled saves of a streaming answer, and what survives a SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from baton.core.errors import StoreError
from baton.core.store import AnswerWriter, Store

DESKTOP = Path(__file__).resolve().parents[2] / "desktop"


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "baton.sqlite3")
    yield s
    s.close()


def answer_updates(store: Store) -> list[str]:
    """Collect the UPDATE statements the store sends on this thread's connection."""
    seen: list[str] = []

    def trace(sql: str) -> None:
        if sql.lstrip().upper().startswith("UPDATE MESSAGES SET CONTENT"):
            seen.append(sql)

    store.connection().set_trace_callback(trace)
    return seen


def test_append_saves_at_most_once_per_interval(store: Store) -> None:
    t = store.create_thread()
    msg = store.begin_answer(t.id, "m", "local")
    clock = FakeClock()
    writer = AnswerWriter(store, msg.id, interval_s=0.5, clock=clock)
    updates = answer_updates(store)
    for i in range(100):  # 100 chunks, 0.125 s apart: 12.5 s of streaming
        clock.now_s += 0.125
        writer.append(f"t{i} ")
    assert len(updates) == 25 == writer.saves  # one save per 0.5 s, not one per chunk
    saved = store.get_message(msg.id).content
    assert saved == "".join(f"t{i} " for i in range(100))  # the 100th chunk landed on a save
    clock.now_s += 0.1
    writer.append("tail")
    assert len(updates) == 25  # within the interval: kept in memory only
    assert store.get_message(msg.id).content == saved
    writer.finish("done", {"energy": {"total_j": 1.0}})
    got = store.get_message(msg.id)
    assert (got.content, got.status) == (saved + "tail", "done")
    with pytest.raises(StoreError, match="already finished"):
        writer.append("more")


def test_flush_saves_now_and_skips_when_nothing_changed(store: Store) -> None:
    t = store.create_thread()
    msg = store.begin_answer(t.id, "m", "local")
    writer = AnswerWriter(store, msg.id, interval_s=60, clock=FakeClock())
    updates = answer_updates(store)
    writer.append("abc")
    writer.flush()
    writer.flush()
    assert len(updates) == 1
    assert store.get_message(msg.id).content == "abc"


def test_a_full_disk_keeps_the_text_in_memory_and_finish_can_retry(store: Store) -> None:
    t = store.create_thread()
    msg = store.begin_answer(t.id, "m", "local")
    clock = FakeClock()
    writer = AnswerWriter(store, msg.id, interval_s=0.5, clock=clock)
    conn = store.connection()
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    big = "y" * 300_000
    clock.now_s = 1.0
    writer.append(big)  # the save fails; append does not raise mid-stream
    assert writer.last_error is not None and "disk is full" in str(writer.last_error)
    with pytest.raises(StoreError, match="your text is kept in memory"):
        writer.finish("done", None)
    assert writer.text == big and not writer.finished
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert writer.finish("done", None) == big
    assert store.get_message(msg.id).content == big


CHILD = r"""
import sys, time
from pathlib import Path
from baton.core.store import AnswerWriter, Store

store = Store(Path(sys.argv[1]))
thread = store.create_thread("killed mid-answer")
store.add_message(thread.id, "user", "count for ever")
msg = store.begin_answer(thread.id, "fake-model", "local")
print(msg.id, flush=True)
writer = AnswerWriter(store, msg.id, interval_s=0.05)
i = 0
while True:
    writer.append(f"w{i} ")
    i += 1
    time.sleep(0.001)
"""


def test_sigkill_mid_answer_keeps_the_partial_text_and_recovery_labels_it(tmp_path: Path) -> None:
    db = tmp_path / "baton.sqlite3"
    env = dict(os.environ, PYTHONPATH=str(DESKTOP) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE,
                             text=True, env=env)
    try:
        message_id = child.stdout.readline().strip()
        assert message_id, "the child process did not start its answer"
        watcher = Store(db)  # opening while the child streams must not touch its live answer
        assert watcher.recovered_at_open == 0
        deadline = time.monotonic() + 60
        while len(watcher.get_message(message_id).content.split()) < 30:
            assert child.poll() is None, "the child process died early"
            assert time.monotonic() < deadline, "the child never saved 30 words"
            time.sleep(0.02)
        child.kill()  # SIGKILL: no cleanup, no finish_answer
        child.wait()
        watcher.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()

    after = Store(db, recover=False)
    msg = after.get_message(message_id)
    assert msg.status == "streaming"
    words = msg.content.split()
    assert len(words) >= 30
    assert words == [f"w{i}" for i in range(len(words))]  # an intact prefix, no torn write
    assert after.recover_interrupted() == 1
    got = after.get_message(message_id)
    assert (got.status, got.content) == ("interrupted", msg.content)
    after.close()
    assert Store(db).recovered_at_open == 0
