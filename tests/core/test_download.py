"""Downloads against a real loopback HTTP server: resume, restart, verify, and every failure."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from baton.core.engine.download import is_loopback_url, pull
from baton.core.engine.gguf import read_gguf_info
from baton.core.errors import DownloadError

from tests.helpers.gguf_writer import llama_like
from tests.helpers.range_server import RangeServer


@pytest.fixture
def model_bytes() -> bytes:
    return llama_like(n_layers=4, n_embd=256, ff=512, name="Download Me").to_bytes()  # ~2.6 MB


@pytest.fixture
def server(model_bytes: bytes):
    with RangeServer({"tiny.gguf": model_bytes}) as s:
        yield s


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    d = tmp_path / "downloads"
    d.mkdir()
    return d


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_plain_download_verifies_and_reports_progress(server: RangeServer, model_bytes: bytes, dest: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    res = pull(server.url("tiny.gguf"), dest, sha256=sha(model_bytes), progress=lambda d, t: seen.append((d, t)))
    assert res.path == dest / "tiny.gguf" and res.path.read_bytes() == model_bytes
    assert res.sha256 == sha(model_bytes) and res.resumed_from == 0 and not res.restarted
    assert sorted(p.name for p in dest.iterdir()) == ["tiny.gguf"]  # no .part left behind
    assert seen[0] == (0, len(model_bytes)) and seen[-1] == (len(model_bytes), len(model_bytes))
    assert read_gguf_info(res.path).name == "Download Me"


def test_interrupted_download_resumes_and_completes(server: RangeServer, model_bytes: bytes, dest: Path) -> None:
    half = len(model_bytes) // 2
    server.drop_after_bytes = half
    with pytest.raises(DownloadError) as e:
        pull(server.url("tiny.gguf"), dest, sha256=sha(model_bytes))
    assert "connection dropped" in str(e.value) and "resume" in str(e.value)
    assert not (dest / "tiny.gguf").exists()  # never a half file under the final name
    assert (dest / "tiny.gguf.part").stat().st_size == half

    server.drop_after_bytes = None
    res = pull(server.url("tiny.gguf"), dest, sha256=sha(model_bytes))
    assert res.resumed_from == half and not res.restarted
    assert res.path.read_bytes() == model_bytes
    assert server.requests[-1]["range"] == f"bytes={half}-" and server.requests[-1]["if_range"]
    assert not (dest / "tiny.gguf.part").exists() and not (dest / "tiny.gguf.part.json").exists()


def test_server_without_range_restarts_cleanly(server: RangeServer, model_bytes: bytes, dest: Path) -> None:
    server.drop_after_bytes = 1000
    with pytest.raises(DownloadError):
        pull(server.url("tiny.gguf"), dest)
    server.drop_after_bytes, server.ignore_range = None, True
    notes: list[str] = []
    res = pull(server.url("tiny.gguf"), dest, sha256=sha(model_bytes), on_note=notes.append)
    assert res.restarted and res.resumed_from == 0
    assert res.path.read_bytes() == model_bytes  # not the first 1000 bytes twice
    assert any("does not resume" in n for n in notes)


def test_file_changed_on_server_restarts(server: RangeServer, model_bytes: bytes, dest: Path) -> None:
    server.drop_after_bytes = 5000
    with pytest.raises(DownloadError):
        pull(server.url("tiny.gguf"), dest)
    new = llama_like(n_layers=4, n_embd=256, ff=512, name="Version 2").to_bytes()
    server.drop_after_bytes = None
    server.add("tiny.gguf", new)
    res = pull(server.url("tiny.gguf"), dest, sha256=sha(new))
    assert res.restarted and res.path.read_bytes() == new  # If-Range kept old and new bytes apart


def test_wrong_sha256_leaves_nothing_behind(server: RangeServer, dest: Path) -> None:
    with pytest.raises(DownloadError) as e:
        pull(server.url("tiny.gguf"), dest, sha256="0" * 64)
    msg = str(e.value)
    assert "sha256 mismatch" in msg and "deleted" in msg and "\n" not in msg
    assert list(dest.iterdir()) == []


def test_404(server: RangeServer, dest: Path) -> None:
    with pytest.raises(DownloadError) as e:
        pull(server.url("missing.gguf"), dest)
    assert "HTTP 404" in str(e.value) and list(dest.iterdir()) == []


def test_server_error(server: RangeServer, dest: Path) -> None:
    server.status = 503
    with pytest.raises(DownloadError) as e:
        pull(server.url("tiny.gguf"), dest)
    assert "HTTP 503" in str(e.value) and "try again later" in str(e.value)


def test_not_enough_space_before_starting(server: RangeServer, model_bytes: bytes, dest: Path) -> None:
    with pytest.raises(DownloadError) as e:
        pull(server.url("tiny.gguf"), dest, free_space=lambda _p: 10_000_000)  # injected: 10 MB free
    assert "not enough disk space" in str(e.value) and f"needs {len(model_bytes) / 1e6:.1f} MB" in str(e.value)
    assert not (dest / "tiny.gguf.part").exists() and not (dest / "tiny.gguf").exists()


def test_disk_full_while_writing(server: RangeServer, dest: Path) -> None:
    """A real ENOSPC from the kernel: the part file is a link to Linux's /dev/full."""
    (dest / "tiny.gguf.part").symlink_to("/dev/full")
    with pytest.raises(DownloadError) as e:
        pull(server.url("tiny.gguf"), dest)
    assert "disk filled up" in str(e.value) and "resume" in str(e.value)
    assert not (dest / "tiny.gguf").exists()


def test_connection_refused(dest: Path) -> None:
    with RangeServer() as s:
        url = s.url("x.gguf")
    with pytest.raises(DownloadError) as e:
        pull(url, dest, timeout_s=5)
    assert "cannot reach 127.0.0.1" in str(e.value)


def test_offline_refuses_non_loopback(dest: Path) -> None:
    with pytest.raises(DownloadError) as e:
        pull("https://huggingface.co/x/y/resolve/main/m.gguf", dest, offline=True)
    assert "offline mode is on" in str(e.value)


def test_offline_allows_loopback_but_not_redirects_out(server: RangeServer, model_bytes: bytes, dest: Path) -> None:
    assert pull(server.url("tiny.gguf"), dest / "a", offline=True).path.read_bytes() == model_bytes
    server.redirects["/out.gguf"] = "https://example.com/out.gguf"
    with pytest.raises(DownloadError) as e:
        pull(server.url("out.gguf"), dest / "b", offline=True)
    assert "redirects to https://example.com" in str(e.value)


def test_redirect_followed_with_range(server: RangeServer, model_bytes: bytes, dest: Path) -> None:
    server.redirects["/alias.gguf"] = server.url("tiny.gguf")
    res = pull(server.url("alias.gguf"), dest)
    assert res.path.name == "alias.gguf" and res.path.read_bytes() == model_bytes


def test_already_downloaded(server: RangeServer, model_bytes: bytes, dest: Path) -> None:
    pull(server.url("tiny.gguf"), dest, sha256=sha(model_bytes))
    n = len(server.requests)
    again = pull(server.url("tiny.gguf"), dest, sha256=sha(model_bytes))
    assert again.already_present and len(server.requests) == n


def test_whole_part_finishes_without_a_body(server: RangeServer, model_bytes: bytes, dest: Path) -> None:
    (dest / "tiny.gguf.part").write_bytes(model_bytes)
    (dest / "tiny.gguf.part.json").write_text('{"url": "%s"}' % server.url("tiny.gguf"))
    res = pull(server.url("tiny.gguf"), dest, sha256=sha(model_bytes))
    assert res.path.read_bytes() == model_bytes  # the server's 416 said the part was complete


@pytest.mark.parametrize("bad", ["ftp://x/y.gguf", "not a url", "https://host/"])
def test_bad_urls(bad: str, dest: Path) -> None:
    with pytest.raises(DownloadError):
        pull(bad, dest)


def test_bad_sha_argument(server: RangeServer, dest: Path) -> None:
    with pytest.raises(DownloadError) as e:
        pull(server.url("tiny.gguf"), dest, sha256="xyz")
    assert "64 hex digits" in str(e.value)


def test_is_loopback_url() -> None:
    assert is_loopback_url("http://127.0.0.1:8/x") and is_loopback_url("http://[::1]/x")
    assert is_loopback_url("http://localhost/x")
    assert not is_loopback_url("http://10.0.0.1/x") and not is_loopback_url("https://huggingface.co/x")
