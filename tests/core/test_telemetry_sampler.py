"""The GUI's sampler, memory readings and the meter's threads."""

from __future__ import annotations

import mmap
import statistics
import threading
import time
from pathlib import Path

import pytest

from baton.core.telemetry.memory import smaps_rollup_split
from baton.core.telemetry.meter import EnergyMeter
from baton.core.telemetry.sampler import Sampler
from tests.helpers.sysfs_tree import RaplWriter, make_rapl_tree


def baton_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("baton-") and t.is_alive()]


def meter_for(root: Path) -> EnergyMeter:
    return EnergyMeter.for_machine(None, sysfs_root=root, use_nvml=False)


def test_sampler_start_stop_leaves_no_thread(tmp_path: Path) -> None:
    with meter_for(tmp_path) as meter:
        sampler = Sampler(meter, hz=50, history_s=0.1).start()
        assert "baton-sampler" in baton_threads()
        time.sleep(0.3)
        sampler.stop()
        assert not sampler.running
        assert "baton-sampler" not in baton_threads()
        samples = sampler.snapshot()
        assert len(samples) == 5  # the ring holds hz x history_s samples, no more
        assert [s.t for s in samples] == sorted(s.t for s in samples)
        samples.clear()  # a copy: the sampler's own buffer is untouched
        assert len(sampler.snapshot()) == 5
        sampler.start()
        assert sampler.running
    # closing the meter stops what it started; this sampler was made by the test, so stop it too
    sampler.stop()
    assert baton_threads() == []


def test_meter_sampler_is_started_on_first_use_and_stopped_by_close(tmp_path: Path) -> None:
    meter = meter_for(tmp_path)
    assert baton_threads() == []  # a CLI run that never asks for the sampler starts no thread
    window = meter.begin()
    assert "baton-energy-poller" in baton_threads()
    window.end()
    sampler = meter.sampler
    assert sampler is meter.sampler and sampler.running
    meter.close()
    assert baton_threads() == []


def test_sampler_shows_the_watts_of_each_scope_and_memory(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=0, dram_uj=0, psys=False)
    with RaplWriter(tmp_path, package_w=25.0, dram_w=3.0), meter_for(tmp_path) as meter:
        sampler = Sampler(meter, hz=10, history_s=60).start()
        time.sleep(1.6)
        sampler.stop()
        series = sampler.series()
        labels = sampler.sources()
    assert labels == {"cpu_package": "hw_counter", "dram": "hw_counter"}
    assert statistics.median(series["watts"]["cpu_package"]) == pytest.approx(25.0, rel=0.15)
    assert statistics.median(series["watts"]["dram"]) == pytest.approx(3.0, rel=0.2)
    assert all(r > 0 for r in series["rss_bytes"])
    assert series["vram_bytes"][0] is None
    latest = sampler.latest()
    assert latest is not None and dict(latest.sources) == labels


def test_rss_is_split_into_mapped_and_private(tmp_path: Path) -> None:
    with meter_for(tmp_path) as meter:
        before = meter.memory()
        assert before["rss_mapped_bytes"] + before["rss_private_bytes"] == before["rss_bytes"]
        assert set(before) >= {"rss_bytes", "vram_bytes", "rss_mapped_bytes", "rss_private_bytes"}
        blob = tmp_path / "weights.bin"
        blob.write_bytes(b"\x01" * (32 << 20))
        with open(blob, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            total = sum(mm[i] for i in range(0, len(mm), 4096))  # touch every page of the mapping
            after = meter.memory()
        assert total == (32 << 20) // 4096
    assert after["rss_mapped_bytes"] - before["rss_mapped_bytes"] >= 24 << 20
    assert after["rss_private_bytes"] - before["rss_private_bytes"] < 8 << 20
    exact = smaps_rollup_split()
    if exact is not None:  # Linux >= 4.14
        assert exact["rss_mapped_bytes"] + exact["rss_private_bytes"] == exact["rss_bytes"]


def test_windows_from_many_threads_and_end_twice(tmp_path: Path) -> None:
    make_rapl_tree(tmp_path, package_uj=0, dram_uj=None, psys=False)
    results: list[float] = []
    errors: list[BaseException] = []
    with RaplWriter(tmp_path, package_w=20.0), meter_for(tmp_path) as meter:

        def request() -> None:
            try:
                with meter.begin() as w:
                    time.sleep(0.3)
                    w.first_token()
                    time.sleep(0.2)
                m = w.end()
                assert w.end() is m  # ending twice gives the same result
                results.append(m.parts[0].energy_j / m.duration_s)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=request) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert meter._poller.active == 0
    assert errors == []
    assert len(results) == 4 and all(w == pytest.approx(20.0, rel=0.1) for w in results)
