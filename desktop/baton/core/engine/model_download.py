"""One catalog model's download, steerable from another thread: run it (blocking, on a worker), pause it (the
``.part`` file stays and the next run resumes it with an HTTP Range request), cancel it (the part is deleted),
and read its progress as bytes, total and rate. Built on ``download.pull`` (resume, sha256 before the file
becomes visible, offline mode refuses any URL that is not loopback); a finished file is also checked to be a
GGUF model before it is offered for use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from baton.core.engine.catalog import CatalogModel
from baton.core.engine.download import DownloadStopped, PullResult, discard_partial, pull
from baton.core.errors import DownloadError, ModelError

RateProgress = Callable[[int, int | None, float], None]  # bytes on disk, total bytes (None: unknown), bytes/s
RATE_WINDOW_S = 2.0


class RateMeter:
    """Bytes per second over the last ``window_s`` seconds of progress reports (0.0 until two reports)."""

    def __init__(self, window_s: float = RATE_WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s, self._clock = window_s, clock
        self._points: list[tuple[float, int]] = []

    def add(self, done_bytes: int) -> float:
        """Record ``done_bytes`` now; returns the rate in bytes/s."""
        now = self._clock()
        self._points.append((now, done_bytes))
        while len(self._points) > 2 and now - self._points[0][0] > self.window_s:
            self._points.pop(0)
        (t0, b0), (t1, b1) = self._points[0], self._points[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


class ModelDownload:
    """The download of ``model`` into ``dest_dir``. ``state``: ``idle``, ``running``, ``paused``, ``cancelled``,
    ``done`` or ``failed`` (``error`` says why). ``run`` blocks; ``pause`` and ``cancel`` may be called from any
    thread and take effect between two chunks."""

    def __init__(self, model: CatalogModel, dest_dir: Path, *, offline: bool = False,
                 progress: RateProgress | None = None, on_note: Callable[[str], None] | None = None) -> None:
        if not model.url:
            raise DownloadError(f"{model.id} ships with Baton; there is nothing to download")
        self.model, self.dest_dir, self.offline = model, Path(dest_dir), offline
        self.progress, self._on_note = progress, on_note  # progress may be replaced between runs
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self.state = "idle"
        self.error = ""
        self.result: PullResult | None = None

    @property
    def path(self) -> Path:
        """Where the finished file goes."""
        return self.dest_dir / self.model.filename

    def partial_bytes(self) -> int:
        """Bytes of a paused or interrupted download on disk (0 when there is none)."""
        part = self.dest_dir / (self.model.filename + ".part")
        return part.stat().st_size if part.exists() else 0

    def run(self) -> PullResult | None:
        """Download (resuming a part on disk) and verify. Returns the result, or None when paused or cancelled.
        Raises ``DownloadError`` (one line with the fix) for every failure: network, a sha256 mismatch (the file is
        deleted), a file that is not a GGUF model (deleted), offline mode and a non-loopback URL."""
        self._stop.clear()
        if self._cancel.is_set():
            return self._cancelled()
        self.state, self.error = "running", ""
        meter = RateMeter()

        def report(done: int, total: int | None) -> None:
            rate = meter.add(done)
            if self.progress is not None:
                self.progress(done, total, rate)

        try:
            result = pull(self.model.url, self.dest_dir, sha256=self.model.sha256 or None, progress=report,
                          filename=self.model.filename, offline=self.offline, on_note=self._on_note,
                          stop=self._stop.is_set)
        except DownloadStopped:
            if self._cancel.is_set():
                return self._cancelled()
            self.state = "paused"
            return None
        except DownloadError as e:
            self.state, self.error = "failed", str(e)
            raise
        self._check_gguf(result.path)
        self.state, self.result = "done", result
        return result

    def _check_gguf(self, path: Path) -> None:
        from baton.core.engine.gguf import read_gguf_info

        try:
            read_gguf_info(path)
        except ModelError as e:
            path.unlink(missing_ok=True)
            self.state = "failed"
            self.error = f"the download is not a usable GGUF model ({e}); it was deleted"
            raise DownloadError(self.error) from None

    def _cancelled(self) -> None:
        discard_partial(self.dest_dir, self.model.filename)
        self.state = "cancelled"
        return None

    def pause(self) -> None:
        """Stop after the current chunk; the part stays on disk for ``run`` to resume."""
        self._stop.set()

    def cancel(self) -> None:
        """Stop and delete the partial download (now, when it is not running)."""
        self._cancel.set()
        self._stop.set()
        if self.state != "running":
            self._cancelled()
