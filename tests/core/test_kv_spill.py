"""Saved KV states wait in files (core/engine/kv_state.py): private files in a folder of the process's own, read
back whole, removed when taken, dropped or closed; RAM when the disk cannot take them; folders of dead processes
cleaned at the next start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from baton.core.engine.kv_state import MIN_SAVE_TOKENS, SavedState, StateStore, open_spill_dir


def _state(k: int, size: int) -> SavedState:
    return SavedState(tuple(range(k, k + MIN_SAVE_TOKENS)), bytes((k + i) % 251 for i in range(size)))


def test_states_wait_in_private_files_and_come_back_whole(tmp_path: Path) -> None:
    spill = open_spill_dir(tmp_path)
    assert spill is not None and spill.parent == tmp_path and spill.name.startswith(f"{os.getpid()}-")
    assert spill.stat().st_mode & 0o777 == 0o700
    store = StateStore(10_000, spill)
    a, b = _state(0, 3000), _state(1000, 4000)
    assert store.put(a) and store.put(b)
    files = sorted(spill.glob("*.kv"))
    assert [f.stat().st_size for f in files] == [3000, 4000] and all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    assert store.size_bytes == 7000 and store.ram_bytes == 0  # nothing of them in RAM
    key, shared = store.best([*b.tokens, 1, 2])
    got = store.take(key)
    assert shared == MIN_SAVE_TOKENS and got.tokens == b.tokens and bytes(got.data) == b.data
    assert len(list(spill.glob("*.kv"))) == 1 and store.size_bytes == 3000
    assert store.put(_state(2000, 8000)) and store.dropped == 1  # over the bound: the oldest file goes
    assert len(list(spill.glob("*.kv"))) == 1
    store.close()
    assert not spill.exists()


def test_a_state_the_disk_cannot_take_stays_in_ram(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    store = StateStore(10_000, gone)  # the folder does not exist: every write fails
    a = _state(0, 500)
    assert store.put(a) and store.ram_bytes == 500 and store.size_bytes == 500
    assert store.take(store.best(list(a.tokens))[0]) == a


def test_a_file_lost_underneath_comes_back_empty_not_as_an_error(tmp_path: Path) -> None:
    store = StateStore(10_000, open_spill_dir(tmp_path))
    a = _state(0, 500)
    store.put(a)
    for f in store.spill_dir.glob("*.kv"):
        f.unlink()
    got = store.take(store.best(list(a.tokens))[0])
    assert got.tokens == a.tokens and len(got.data) == 0  # llama.cpp refuses it and the history is read again
    store.close()


def test_folders_of_processes_that_are_gone_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / f"{dead}-abc").mkdir()
    (tmp_path / f"{dead}-abc" / "0.kv").write_bytes(b"x")
    alive = tmp_path / f"{os.getppid()}-def"  # our parent runs
    alive.mkdir()
    mine = open_spill_dir(tmp_path)
    assert not (tmp_path / f"{dead}-abc").exists() and alive.exists() and mine is not None and mine.exists()
