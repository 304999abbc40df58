"""A catalog model's download steered from another thread, against a real loopback server with HTTP Range, on
the real SmolLM2 GGUF: progress with a rate, pause and resume (the resumed request sends Range and the result
hashes right), cancel (nothing left), a wrong sha256 (rejected, deleted) and offline mode."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from pathlib import Path

import pytest
from baton.core.engine.catalog import load_catalog
from baton.core.engine.defaults import default_model_path
from baton.core.engine.gguf import read_gguf_info
from baton.core.engine.model_download import ModelDownload, RateMeter
from baton.core.errors import DownloadError

from tests.helpers.range_server import RangeServer

NAME = "smollm2-test.gguf"


@pytest.fixture(scope="module")
def gguf() -> bytes:
    return default_model_path().read_bytes()


@pytest.fixture
def server(gguf: bytes):
    with RangeServer({NAME: gguf}) as s:
        yield s


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    d = tmp_path / "models"
    d.mkdir()
    return d


def entry(url: str, sha: str):
    base = next(m for m in load_catalog() if m.id.startswith("smollm2-135m"))
    return dataclasses.replace(base, url=url, sha256=sha)


def _in_thread(dl: ModelDownload) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def go() -> None:
        try:
            out["result"] = dl.run()
        except DownloadError as e:
            out["error"] = e

    t = threading.Thread(target=go)
    t.start()
    return t, out


def test_progress_reports_bytes_total_and_rate_and_the_file_verifies(server, gguf, dest: Path) -> None:
    seen: list[tuple[int, int | None, float]] = []
    dl = ModelDownload(entry(server.url(NAME), hashlib.sha256(gguf).hexdigest()), dest,
                       progress=lambda d, t, r: seen.append((d, t, r)))
    res = dl.run()
    assert res is not None and dl.state == "done" and res.path == dest / NAME
    assert res.sha256 == hashlib.sha256(gguf).hexdigest() and res.size_bytes == len(gguf)
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen) and seen[-1][:2] == (len(gguf), len(gguf))
    assert all(t == len(gguf) for _, t, _ in seen)
    assert any(r > 0 for _, _, r in seen)
    assert read_gguf_info(res.path).arch == "llama"
    assert sorted(p.name for p in dest.iterdir()) == [NAME]


def test_pause_keeps_the_part_and_resume_sends_range_and_hashes_right(server, gguf, dest: Path) -> None:
    sha = hashlib.sha256(gguf).hexdigest()
    server.hold_after_bytes = 8 << 20
    dl = ModelDownload(entry(server.url(NAME), sha), dest)
    t, out = _in_thread(dl)
    assert server.held.wait(30)
    dl.pause()
    server.release.set()
    t.join(30)
    assert out == {"result": None} and dl.state == "paused"
    part = dl.partial_bytes()
    assert 0 < part < len(gguf) and not (dest / NAME).exists()

    server.hold_after_bytes = None
    res = dl.run()
    assert server.requests[-1]["range"] == f"bytes={part}-"
    assert res is not None and res.resumed_from == part and res.sha256 == sha
    assert hashlib.sha256((dest / NAME).read_bytes()).hexdigest() == sha
    assert sorted(p.name for p in dest.iterdir()) == [NAME]


def test_cancel_mid_way_leaves_no_file(server, gguf, dest: Path) -> None:
    server.hold_after_bytes = 4 << 20
    dl = ModelDownload(entry(server.url(NAME), hashlib.sha256(gguf).hexdigest()), dest)
    t, out = _in_thread(dl)
    assert server.held.wait(30)
    dl.cancel()
    server.release.set()
    t.join(30)
    assert out == {"result": None} and dl.state == "cancelled"
    assert list(dest.iterdir()) == []


def test_cancel_of_a_paused_download_deletes_its_part(server, gguf, dest: Path) -> None:
    server.hold_after_bytes = 4 << 20
    dl = ModelDownload(entry(server.url(NAME), hashlib.sha256(gguf).hexdigest()), dest)
    t, _ = _in_thread(dl)
    assert server.held.wait(30)
    dl.pause()
    server.release.set()
    t.join(30)
    assert dl.partial_bytes() > 0
    dl.cancel()
    assert dl.state == "cancelled" and list(dest.iterdir()) == []


def test_a_wrong_sha256_rejects_and_deletes_the_download(server, dest: Path) -> None:
    dl = ModelDownload(entry(server.url(NAME), "0" * 64), dest)
    with pytest.raises(DownloadError) as e:
        dl.run()
    assert "sha256 mismatch" in str(e.value) and "deleted" in str(e.value)
    assert dl.state == "failed" and list(dest.iterdir()) == []


def test_offline_refuses_a_url_off_this_machine(dest: Path) -> None:
    dl = ModelDownload(entry("https://huggingface.example/m.gguf", ""), dest, offline=True)
    with pytest.raises(DownloadError, match="offline"):
        dl.run()
    assert list(dest.iterdir()) == []


def test_rate_meter_is_bytes_per_second_over_its_window() -> None:
    now = [0.0]
    m = RateMeter(window_s=2.0, clock=lambda: now[0])
    assert m.add(0) == 0.0
    now[0] = 1.0
    assert m.add(1000) == 1000.0
    now[0] = 5.0
    assert m.add(9000) == pytest.approx(2000.0)
