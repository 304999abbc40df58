"""Residency in isolation (engines are test doubles with a busy flag, the planner a rule over the residents):
a model that is generating is never unloaded to make room, idle ones go least recently used first, the
time-to-live timer unloads only idle models; the power policy's choices on real sysfs trees."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from baton.core.engine.power_policy import battery_limit, choose
from baton.core.engine.residency import Residency
from baton.core.errors import ModelDoesNotFit
from baton.core.telemetry.power_state import PowerState, power_state
from tests.helpers.sysfs_tree import make_battery, write_atomic


class Engine:
    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.busy = False
        self.closed = False
        self.parallel = 4
        self.limit = 4

    def load(self) -> float:
        return 0.1

    def close(self) -> None:
        self.closed = True

    def set_limit(self, n: int) -> int:
        self.limit = n
        return n


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _residency(max_models: int, clock: Clock | None = None, ttl: list[float] | None = None) -> Residency:
    box: dict[str, Residency] = {}

    def plan(path: Path) -> object:
        if len(box["r"].residents()) >= max_models:
            raise ModelDoesNotFit(f"{path.name} does not fit here: memory is short")
        return None

    ttl = ttl if ttl is not None else [0.0]
    box["r"] = Residency(lambda p, m, plan: Engine(m), plan, lambda: ttl[0], clock=clock or Clock())
    return box["r"]


def test_a_generating_model_is_never_unloaded_to_make_room() -> None:
    r = _residency(max_models=1)
    a, _ = r.get(Path("a.gguf"), "a")
    a.busy = True
    with pytest.raises(ModelDoesNotFit, match="does not fit beside a, which is answering now; ask again when it"):
        r.get(Path("b.gguf"), "b")
    assert not a.closed and [e.model_id for e in r.engines()] == ["a"]
    a.busy = False
    b, _ = r.get(Path("b.gguf"), "b")
    assert a.closed and not b.closed and r.unloaded == [("a", "unloaded to make room for b")]
    r.close()


def test_idle_models_make_room_least_recently_used_first() -> None:
    clock = Clock()
    r = _residency(max_models=2, clock=clock)
    a, _ = r.get(Path("a.gguf"), "a")
    clock.t += 1
    b, _ = r.get(Path("b.gguf"), "b")
    clock.t += 1
    r.get(Path("a.gguf"), "a")  # a used again: b is now the least recent
    clock.t += 1
    c, _ = r.get(Path("c.gguf"), "c")
    assert b.closed and not a.closed and not c.closed
    assert [e.model_id for e in r.engines()] == ["c", "a"]
    with pytest.raises(ModelDoesNotFit, match="memory is short"):
        _residency(max_models=0).get(Path("d.gguf"), "d")  # nothing resident: the planner's own line
    r.close()


def test_the_timer_unloads_only_models_idle_past_their_ttl() -> None:
    ttl = [0.3]
    r = _residency(max_models=5, clock=__import__("time").monotonic, ttl=ttl)
    a, _ = r.get(Path("a.gguf"), "a")
    b, _ = r.get(Path("b.gguf"), "b")
    b.busy = True  # generating: never idle
    done = threading.Event()
    for _ in range(400):
        if a.closed:
            done.set()
            break
        threading.Event().wait(0.05)
    assert done.is_set() and not b.closed
    assert [e.model_id for e in r.engines()] == ["b"]
    assert r.unloaded[0][0] == "a" and "engine.model_ttl_s" in r.unloaded[0][1]
    ttl[0] = 0.0
    b.busy = False
    assert r.unload_idle() == []  # 0: never for idleness
    r.close()
    assert b.closed


def test_power_state_reads_batteries_and_mains(tmp_path: Path) -> None:
    assert power_state(tmp_path) == PowerState(False)  # no power_supply folder at all
    bat = make_battery(tmp_path, status="Discharging", power_uw=7_000_000)
    assert power_state(tmp_path) == PowerState(True, "BAT0", None)
    write_atomic(bat / "capacity", "73\n")
    assert power_state(tmp_path).describe() == "on battery (BAT0, 73%)"
    write_atomic(tmp_path / "sys/class/power_supply/AC/online", "1\n")
    assert not power_state(tmp_path).on_battery  # the charger is plugged in
    write_atomic(tmp_path / "sys/class/power_supply/AC/online", "0\n")
    for status, on in (("Charging", False), ("Full", False), ("Not charging", False), ("Discharging", True)):
        write_atomic(bat / "status", status + "\n")
        assert power_state(tmp_path).on_battery is on


def test_the_policy_prefers_the_smaller_file_and_fewer_threads(tmp_path: Path) -> None:
    big, small, tiny_bad = tmp_path / "big.gguf", tmp_path / "small.gguf", tmp_path / "gone.gguf"
    big.write_bytes(b"x" * 5000)
    small.write_bytes(b"x" * 2000)
    battery = PowerState(True, "BAT1", 20.0)
    c = choose(battery, "saver", 4, (big, "big"), [(tiny_bad, "gone"), (small, "small")])
    assert c.model == (small, "small") and c.limit == 2
    assert c.notes[0].startswith("on battery (BAT1, 20%): answered by small") and "at most 2 of 4" in c.notes[0]
    assert choose(battery, "saver", 4, None, [(small, "small")]).model is None  # a named model is kept
    assert choose(battery, "saver", 1, (small, "small"), [(big, "big")]).notes == []  # nothing smaller, 1 slot
    assert choose(battery, "off", 4, (big, "big"), [(small, "small")]) .model is None
    mains = choose(PowerState(False), "saver", 4, (big, "big"), [(small, "small")])
    assert mains.model is None and mains.limit == 4 and mains.notes == []
    assert [battery_limit(n) for n in (1, 2, 3, 8)] == [1, 1, 1, 4]
