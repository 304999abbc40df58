"""A pull cut halfway and resumed after the server's file changed, against a real loopback server that
ignores If-Range and answers 206 anyway: the changed validator (ETag, Last-Modified or size) restarts
the download from zero; the file on disk is never a splice of two versions."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from baton.core.engine.download import pull
from baton.core.errors import DownloadError
from tests.helpers.range_server import RangeServer

NAME = "m.gguf"


def _bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def dest(tmp_path: Path) -> Path:
    d = tmp_path / "models"
    d.mkdir()
    return d


def _cut_halfway(server: RangeServer, dest: Path, old: bytes, **kw: object) -> int:
    half = len(old) // 2
    server.drop_after_bytes = half
    with pytest.raises(DownloadError, match="connection dropped"):
        pull(server.url(NAME), dest, **kw)  # type: ignore[arg-type]
    assert (dest / (NAME + ".part")).stat().st_size == half
    server.drop_after_bytes = None
    return half


# (old size, new size, etag_mode, last-modified before -> after, sha256 of the new file given)
CASES = {
    "new-etag-same-size": (300_000, 300_000, "strong", None, False),
    "new-etag-bigger": (300_000, 420_000, "strong", None, False),
    "new-etag-smaller-with-sha": (300_000, 200_000, "strong", None, True),
    "weak-etag-changed": (250_000, 250_000, "weak", None, False),
    "last-modified-only": (260_000, 260_000, "none",
                           ("Mon, 01 Jan 2024 00:00:00 GMT", "Tue, 02 Jan 2024 00:00:00 GMT"), False),
    "etag-and-last-modified": (270_000, 270_000, "strong",
                               ("Mon, 01 Jan 2024 00:00:00 GMT", "Tue, 02 Jan 2024 00:00:00 GMT"), True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_changed_file_restarts_from_zero_even_when_the_server_ignores_if_range(dest: Path, case: str) -> None:
    old_size, new_size, etag_mode, modified, give_sha = CASES[case]
    old, new = _bytes(1, old_size), _bytes(2, new_size)
    with RangeServer({NAME: old}) as server:
        server.etag_mode = etag_mode
        if modified:
            server.last_modified[NAME] = modified[0]
        _cut_halfway(server, dest, old)
        meta = json.loads((dest / (NAME + ".part.json")).read_text())
        assert meta["total"] == old_size  # the first response's validators are kept beside the part
        server.add(NAME, new)  # the file changes on the server ...
        if modified:
            server.last_modified[NAME] = modified[1]
        server.ignore_if_range = True  # ... and the server answers 206 whatever If-Range says
        notes: list[str] = []
        res = pull(server.url(NAME), dest, sha256=sha(new) if give_sha else None, on_note=notes.append)
        assert res.path.read_bytes() == new  # never a splice of the old first half and the new rest
        assert res.restarted and res.resumed_from == 0 and res.sha256 == sha(new)
        assert any("changed" in n for n in notes)
        ranges = [r["range"] for r in server.requests]
        assert ranges[-2] is not None and ranges[-1] is None  # the resume was tried, then a fresh request
        assert sorted(p.name for p in dest.iterdir()) == [NAME]


def test_an_unchanged_file_still_resumes_when_the_server_ignores_if_range(dest: Path) -> None:
    data = _bytes(3, 300_000)
    with RangeServer({NAME: data}) as server:
        half = _cut_halfway(server, dest, data)
        server.ignore_if_range = True
        res = pull(server.url(NAME), dest, sha256=sha(data))
        assert res.resumed_from == half and not res.restarted and res.path.read_bytes() == data


def test_a_validator_that_disappears_restarts(dest: Path) -> None:
    old, new = _bytes(4, 200_000), _bytes(5, 200_000)
    with RangeServer({NAME: old}) as server:
        _cut_halfway(server, dest, old)
        server.add(NAME, new)
        server.etag_mode = "none"  # the second answer carries no ETag at all: nothing proves it is the same
        server.ignore_if_range = True
        res = pull(server.url(NAME), dest)
        assert res.path.read_bytes() == new and res.restarted


def test_a_size_change_alone_restarts_when_only_a_sha_guards_the_part(dest: Path) -> None:
    old, new = _bytes(6, 200_000), _bytes(7, 240_000)
    with RangeServer({NAME: old}) as server:
        server.etag_mode = "none"
        _cut_halfway(server, dest, old, sha256=sha(new))
        server.add(NAME, new)
        server.ignore_if_range = True
        res = pull(server.url(NAME), dest, sha256=sha(new))
        assert res.path.read_bytes() == new and res.restarted


def test_a_part_with_no_record_and_no_sha_is_not_trusted(dest: Path) -> None:
    old, new = _bytes(8, 200_000), _bytes(9, 200_000)
    (dest / (NAME + ".part")).write_bytes(old[:100_000])  # left by something else, no .part.json
    with RangeServer({NAME: new}) as server:
        server.ignore_if_range = True
        res = pull(server.url(NAME), dest)
        assert res.path.read_bytes() == new and res.restarted and res.resumed_from == 0
        assert server.requests[0]["range"] is None


def test_a_whole_part_of_a_file_that_changed_since_is_not_finished(dest: Path) -> None:
    old, new = _bytes(10, 150_000), _bytes(11, 150_000)
    with RangeServer({NAME: old}) as server:
        _cut_halfway(server, dest, old)
        (dest / (NAME + ".part")).write_bytes(old)  # as if the whole old file had arrived
        server.add(NAME, new)  # same size, so the server's 416 says "complete"
        server.ignore_if_range = True
        res = pull(server.url(NAME), dest)
        assert res.path.read_bytes() == new
