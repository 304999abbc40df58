"""Resumable, verified model downloads.

A download goes to ``<name>.part`` (with a small ``<name>.part.json`` recording the URL and the
validators of the first response: ETag, Last-Modified, total size), resumes from the part's size with
an HTTP Range request (``If-Range`` so a file that changed on the server restarts instead of being
spliced). A server that ignores ``If-Range`` and answers 206 anyway is caught too: the response's
validators are compared with the recorded ones, and any difference restarts from zero; so does a part
with no recorded validator when there is no sha256 to check it against. Restarts cleanly when the
server ignores Range, checks free disk space before it starts, and is hashed while it is written. Only
a complete file whose sha256 matches is renamed to its final name, so a half file never appears there.
Offline mode refuses any URL (or redirect) that is not loopback, before a name is resolved, and
ignores proxy variables (as it does for any loopback URL).
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import json
import os
import re
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baton import __version__
from baton.core.errors import DownloadError

Progress = Callable[[int, int | None], None]
Stop = Callable[[], bool]  # polled between chunks: True stops the download, keeping the part to resume
CHUNK_BYTES = 1 << 20
SPACE_MARGIN_BYTES = 64 << 20  # leave room for the filesystem and everything else
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class PullResult:
    """What a pull left on disk: the final path, its size in bytes and sha256, and how it got there."""

    path: Path
    size_bytes: int
    sha256: str
    resumed_from: int  # bytes already on disk when this pull started
    restarted: bool  # the server ignored Range (or the file changed) and the part was discarded
    already_present: bool = False


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is a loopback IP literal or ``localhost`` (no name is resolved)."""
    host = (urllib.parse.urlsplit(url).hostname or "").strip("[]").lower()
    if host.rstrip(".") == "localhost":  # a name under .localhost could go to DNS: not counted
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def filename_from_url(url: str) -> str:
    """The file name at the end of the URL's path; ``DownloadError`` when there is none usable."""
    name = urllib.parse.unquote(Path(urllib.parse.urlsplit(url).path).name)
    if not name or name.startswith(".") or "/" in name or "\\" in name or name in ("..",):
        raise DownloadError(f"cannot tell a file name from {url}; pass a URL that ends in the .gguf file name")
    return name


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def free_disk_bytes(folder: Path) -> int:
    """Free space in bytes on the filesystem holding ``folder``."""
    return shutil.disk_usage(folder).free


class DownloadStopped(DownloadError):
    """The caller stopped the download between two chunks (pause or cancel); the ``.part`` file is kept, so the
    same ``pull`` resumes it. ``done_bytes``: bytes on disk when it stopped."""

    def __init__(self, message: str, done_bytes: int) -> None:
        super().__init__(message)
        self.done_bytes = done_bytes


def discard_partial(dest_dir: str | os.PathLike[str], name: str) -> bool:
    """Delete ``name``'s partial download (``.part`` and ``.part.json``) in ``dest_dir``. Returns True when there
    was one."""
    dest = Path(dest_dir)
    had = (dest / (name + ".part")).exists()
    _discard(dest / (name + ".part"), dest / (name + ".part.json"))
    return had


class _OfflineRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but never off loopback while offline."""

    def __init__(self, offline: bool) -> None:
        self.offline = offline

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if self.offline and not is_loopback_url(newurl):
            raise DownloadError(f"offline mode is on and {req.full_url} redirects to {newurl}; "
                                "turn offline mode off to download from the internet")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}


def _discard(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def pull(
    url: str,
    dest_dir: str | os.PathLike[str],
    sha256: str | None = None,
    progress: Progress | None = None,
    *,
    filename: str | None = None,
    offline: bool = False,
    free_space: Callable[[Path], int] = free_disk_bytes,
    timeout_s: float = 30.0,
    on_note: Callable[[str], None] | None = None,
    stop: Stop | None = None,
) -> PullResult:
    """Download ``url`` into ``dest_dir`` (resumable, verified). Raises ``DownloadError`` with the fix, and
    ``DownloadStopped`` when ``stop()`` turned True between two chunks (the part is kept for a resume)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadError(f"not an http(s) URL: {url}; pass a full https:// link to a .gguf file or a catalog id")
    if offline and not is_loopback_url(url):
        raise DownloadError(f"offline mode is on, so {parts.hostname} cannot be reached; "
                            "turn it off (`baton config set offline false`, unset BATON_OFFLINE) to download")
    want = sha256.lower().strip() if sha256 else None
    if want is not None and not re.fullmatch(r"[0-9a-f]{64}", want):
        raise DownloadError(f"--sha256 must be 64 hex digits, got '{sha256}'")
    note = on_note or (lambda _m: None)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    name = filename or filename_from_url(url)
    final, part, meta_path = dest / name, dest / (name + ".part"), dest / (name + ".part.json")

    if final.exists():
        digest = _sha256_file(final) if want else ""
        if want is None or digest == want:
            return PullResult(final, final.stat().st_size, digest, 0, False, already_present=True)
        raise DownloadError(f"{final} already exists with a different sha256 ({digest[:12]}...); "
                            "move it away or pick another file name")

    meta = _read_meta(meta_path)
    offset = part.stat().st_size if part.exists() else 0
    restarted = False
    if offset and meta.get("url") != url:
        note("a partial download from another URL was found; starting over")
        offset, restarted, meta = 0, True, {}
    elif offset and not (meta.get("etag") or meta.get("last_modified")) and want is None:
        note("the partial download has no record of which version of the file it holds and there is no "
             "sha256 to check it against; starting over")
        offset, restarted, meta = 0, True, {}
    opener = _opener(url, offline)
    while True:
        resp = _open(opener, url, offset, meta, timeout_s)
        if isinstance(resp, urllib.error.HTTPError):  # 416 while resuming
            return _range_not_satisfiable(resp, url, dest, name, want, progress, offline, free_space, timeout_s,
                                          note, meta)
        length = resp.headers.get("Content-Length")
        remaining = int(length) if length and length.isdigit() else None
        if resp.status == 206 and offset:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not m or int(m[1]) != offset:
                resp.close()
                raise DownloadError(f"{parts.hostname} sent the wrong byte range "
                                    f"({resp.headers.get('Content-Range')}); delete {part} and try again")
            total = int(m[3]) if m[3] != "*" else (offset + remaining if remaining is not None else None)
            changed = _changed(meta, resp.headers, total)
            if changed:  # the server ignored If-Range: never splice two versions of a file
                resp.close()
                note(f"the file on the server changed since the partial download ({changed}); starting over")
                _discard(part, meta_path)
                offset, restarted, meta = 0, True, {}
                continue
        else:
            if offset:
                restarted = True
                note("the server does not resume downloads (or the file changed); starting over")
            offset = 0
            total = remaining
        break

    with resp:
        if total is not None:
            need = total - offset
            free = free_space(dest)
            if need + SPACE_MARGIN_BYTES > free:
                raise DownloadError(f"not enough disk space for {name}: needs {_human(need)} "
                                    f"(+{_human(SPACE_MARGIN_BYTES)} headroom), {_human(free)} free in {dest}; "
                                    "free some space or set another models folder")
        meta_path.write_text(json.dumps({
            "url": url, "etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified"),
            "total": total,
        }), encoding="utf-8")
        digest = hashlib.sha256()
        if offset:
            _hash_into(digest, part, offset)
        done = _stream(resp, part, offset, total, digest, progress, name, stop)

    if total is not None and done < total:
        raise DownloadError(f"the connection dropped after {_human(done)} of {_human(total)}; "
                            "run the same command again to resume")
    got = digest.hexdigest()
    if want is not None and got != want:
        _discard(part, meta_path)
        raise DownloadError(f"sha256 mismatch for {name}: expected {want}, got {got}; the download was deleted; "
                            "check the hash and the URL")
    os.replace(part, final)
    _discard(meta_path)
    return PullResult(final, done, got, offset, restarted)


def _opener(url: str, offline: bool) -> urllib.request.OpenerDirector:
    """An opener that, offline or for a loopback URL, ignores every proxy variable (no socket to a proxy,
    no name resolved for one); online, proxies come from the environment as usual."""
    handlers: list[Any] = [_OfflineRedirects(offline)]
    if offline or is_loopback_url(url):
        handlers.insert(0, urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def _open(opener: urllib.request.OpenerDirector, url: str, offset: int, meta: dict[str, Any],
          timeout_s: float) -> Any:
    """The response (headers read); a 416 while resuming is returned as the HTTPError; other failures raise."""
    host = urllib.parse.urlsplit(url).hostname
    headers = {"User-Agent": f"baton/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        validator = meta.get("etag") if _strong(meta.get("etag")) else meta.get("last_modified")
        if validator:
            headers["If-Range"] = validator
    try:
        return opener.open(urllib.request.Request(url, headers=headers), timeout=timeout_s)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            return e
        e.close()
        if e.code == 404:
            raise DownloadError(f"not found (HTTP 404): {url}; check the URL or the catalog id") from None
        if e.code in (401, 403):
            raise DownloadError(f"HTTP {e.code} from {host}: the file needs a login or a licence "
                                "accepted on the site; download it there and put it in the models dir") from None
        raise DownloadError(f"HTTP {e.code} {e.reason} from {host}; try again later") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"cannot reach {host} ({e.reason}); check the network and try again") from None
    except (TimeoutError, socket.timeout):
        raise DownloadError(f"{host} did not answer in {timeout_s:.0f} s; try again later") from None
    except (OSError, ValueError) as e:  # a reset before the headers, a malformed status line
        raise DownloadError(f"the connection to {host} failed ({type(e).__name__}); try again") from None


def _strong(etag: str | None) -> bool:
    return bool(etag) and not str(etag).startswith("W/")


def _changed(meta: dict[str, Any], headers: Any, total: int | None) -> str:
    """Why the response is not the same file the part came from ("" when nothing says it changed):
    a different ETag or Last-Modified or total size than the first response recorded beside the part,
    or a validator that was recorded and is now missing."""
    for key, header in (("etag", "ETag"), ("last_modified", "Last-Modified")):
        old, new = meta.get(key), headers.get(header)
        if old and new != old:
            return f"{header} {old} -> {new or 'none'}"
    old_total = meta.get("total")
    if old_total is not None and total is not None and int(old_total) != total:
        return f"size {old_total} -> {total} bytes"
    return ""


def _stream(resp: Any, part: Path, offset: int, total: int | None, digest: Any,
            progress: Progress | None, name: str, stop: Stop | None = None) -> int:
    done = offset
    try:
        with open(part, "r+b" if offset else "wb") as f:  # offset is the part's size: r+b appends
            f.seek(offset)
            if progress:
                progress(done, total)
            while True:
                try:
                    block = resp.read(CHUNK_BYTES)
                except (OSError, ValueError) as e:  # reset, timeout, IncompleteRead
                    raise DownloadError(
                        f"the connection dropped after {_human(done)}"
                        f"{f' of {_human(total)}' if total else ''} ({type(e).__name__}); "
                        "run the same command again to resume"
                    ) from None
                if not block:
                    break
                f.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
                if stop is not None and stop() and (total is None or done < total):
                    raise DownloadStopped(f"stopped after {_human(done)}"
                                          f"{f' of {_human(total)}' if total else ''}; the same download resumes "
                                          "from here", done)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DownloadError(f"the disk filled up after {_human(done)} of {name}; free some space and run "
                                "the same command again to resume") from None
        raise DownloadError(f"cannot write {part} ({e.strerror or e}); check the folder's permissions") from None
    return done


def _hash_into(digest: Any, path: Path, upto: int) -> None:
    with open(path, "rb") as f:
        left = upto
        while left > 0 and (block := f.read(min(CHUNK_BYTES * 4, left))):
            digest.update(block)
            left -= len(block)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    _hash_into(h, path, path.stat().st_size)
    return h.hexdigest()


def _range_not_satisfiable(e: urllib.error.HTTPError, url: str, dest: Path, name: str, want: str | None,
                           progress: Progress | None, offline: bool, free_space: Callable[[Path], int],
                           timeout_s: float, note: Callable[[str], None], meta: dict[str, Any]) -> PullResult:
    """416: the part is already whole (finish it, when nothing says the file changed) or longer than the
    file, or of another version (start over)."""
    part, meta_path = dest / (name + ".part"), dest / (name + ".part.json")
    headers = e.headers if e.headers is not None else {}
    e.close()
    m = re.match(r"bytes \*/(\d+)", headers.get("Content-Range", ""))
    size = part.stat().st_size
    changed = _changed(meta, headers, int(m[1]) if m else None) if headers.get("ETag") or \
        headers.get("Last-Modified") or m else ""
    if m and int(m[1]) == size and not changed:
        got = _sha256_file(part)
        if want is not None and got != want:
            _discard(part, meta_path)
            raise DownloadError(f"sha256 mismatch for {name}: expected {want}, got {got}; the download was "
                                "deleted; check the hash and the URL") from None
        os.replace(part, dest / name)
        _discard(meta_path)
        return PullResult(dest / name, size, got, size, False)
    note("the file on the server changed since the partial download; starting over" if changed else
         "the partial download is longer than the file on the server; starting over")
    _discard(part, meta_path)
    return pull(url, dest, want, progress, filename=name, offline=offline, free_space=free_space,
                timeout_s=timeout_s, on_note=note)
