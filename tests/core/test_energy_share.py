"""Answers that overlap split the window's joules by the tokens each processed: on a RAPL tree written at a known
power, each share is the known power times its part of each segment, and the shares add up to the union."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from baton.core.telemetry.meter import EnergyMeter
from baton.core.telemetry.share import SharedMeasurement
from tests.helpers.sysfs_tree import RaplWriter, make_rapl_tree

POWER_W = 20.0
SEGMENT_S = 0.25


def _meter(root: Path) -> EnergyMeter:
    return EnergyMeter.for_machine(None, sysfs_root=root, use_nvml=False)


def _play(meter: EnergyMeter, schedule: list[tuple[list[str], list[str], dict[str, int]]], writer=None):
    """Run ``schedule``: per step, the windows that begin at its start, those that end at its end, and the tokens
    each open window processes in it. Returns the results and the expected joules: a segment runs from one window
    opening or closing to the next; each open window is owed the known power x the segment's measured duration x
    its share of the segment's tokens (equal shares when there were none). With ``writer``, a segment's joules are
    what the counter writer really added in it (its truth file), so a busy machine that delays the writer does not
    move the expected figure away from what the counter said."""
    windows, results, expected = {}, {}, {}
    seg = {"t0": 0.0, "j0": 0.0, "tokens": {}}

    def joules_now() -> float:
        return float(writer.truth()["package_w"]) if writer is not None else 0.0

    def boundary() -> None:
        now, j = time.monotonic(), joules_now()
        open_now = [n for n in windows if n not in results]
        total = sum(seg["tokens"].values())
        seg_j = (j - seg["j0"]) if writer is not None else POWER_W * (now - seg["t0"])
        for name in open_now:
            share = seg["tokens"].get(name, 0) / total if total else 1.0 / len(open_now)
            expected[name] += seg_j * share
        seg["t0"], seg["j0"], seg["tokens"] = now, j, {}

    for begins, ends, tokens in schedule:
        if begins:
            boundary()
        for name in begins:
            windows[name] = meter.shared.begin()
            expected.setdefault(name, 0.0)
        for name, n in tokens.items():
            windows[name].work(n)
            seg["tokens"][name] = seg["tokens"].get(name, 0) + n
        time.sleep(SEGMENT_S)
        if ends:
            boundary()
        for name in ends:
            results[name] = windows[name].end()
    return results, expected


TWO = [
    (["a"], [], {"a": 40}),  # a alone: its prompt, then a few tokens
    (["b"], [], {"a": 3, "b": 60}),  # b joins with a long prompt
    ([], ["b"], {"a": 5, "b": 5}),
    ([], ["a"], {"a": 4}),
]
FOUR = [
    (["a", "b"], [], {"a": 10, "b": 30}),
    (["c"], [], {"a": 2, "b": 2, "c": 90}),
    (["d"], ["a"], {"a": 3, "b": 3, "c": 3, "d": 3}),
    ([], ["c"], {"b": 1, "c": 1, "d": 6}),
    ([], ["b", "d"], {"b": 7, "d": 1}),
]


@pytest.mark.parametrize("schedule", [TWO, FOUR], ids=["two", "four"])
def test_a_shared_window_is_split_by_tokens_at_a_known_power(tmp_path: Path, schedule) -> None:
    make_rapl_tree(tmp_path, package_uj=1_000_000, dram_uj=None, psys=False)
    with RaplWriter(tmp_path, package_w=POWER_W, step_s=0.002), _meter(tmp_path) as meter:
        t_begin = time.monotonic()
        results, expected = _play(meter, schedule)
        union_s = time.monotonic() - t_begin
    names = sorted(expected)
    assert sorted(results) == names
    for name in names:
        m = results[name]
        assert isinstance(m, SharedMeasurement)
        assert [p.source for p in m.parts] == ["hw_counter"]
        assert m.total_j == pytest.approx(expected[name], rel=0.02), name
        assert m.shared_with >= 1 and m.to_dict()["shared_with"] == m.shared_with
    total = sum(results[n].total_j for n in names)
    assert total == pytest.approx(sum(expected.values()), rel=0.01)
    assert total == pytest.approx(POWER_W * union_s, rel=0.02)  # the parts add up to the union of the windows


def test_windows_that_overlap_know_how_many_others_they_shared_with(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=1_000_000, dram_uj=None, psys=False)
    with RaplWriter(tmp_path, package_w=POWER_W, step_s=0.002), _meter(tmp_path) as meter:
        results, _ = _play(meter, FOUR)
        alone = meter.shared.begin()
        alone.work(5)
        time.sleep(0.1)
        solo = alone.end()
    assert {n: results[n].shared_with for n in results} == {"a": 3, "b": 3, "c": 3, "d": 3}
    assert solo.shared_with == 0 and solo.share == 1.0
    assert solo.total_j == pytest.approx(POWER_W * solo.duration_s, rel=0.05)
    assert alone.end() is solo  # ending again returns the same result


def test_segments_without_tokens_are_split_equally(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=1_000_000, dram_uj=None, psys=False)
    with RaplWriter(tmp_path, package_w=POWER_W, step_s=0.002) as w, _meter(tmp_path) as meter:
        results, expected = _play(meter, [(["a", "b"], [], {}), (["c"], ["a", "b", "c"], {"a": 1, "b": 3, "c": 4})],
                                  writer=w)
    for name in ("a", "b", "c"):
        assert results[name].total_j == pytest.approx(expected[name], rel=0.02)
    # the first segment (no tokens) went half to a and half to b
    assert results["a"].total_j > POWER_W * SEGMENT_S * 0.5 * 0.98
