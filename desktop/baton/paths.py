"""Where Baton keeps user state. ``BATON_HOME`` overrides everything (tests use a tmp dir).

``atomic_write`` is the one way a small user file (config.toml, the serve token) is replaced: a
temporary file in the same folder, fsync, ``os.replace``; the temporary file is removed on any
failure, so a full disk or a read-only folder leaves the earlier file intact and no ``*.tmp`` behind.
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from baton.errors import BatonError


class HomeError(BatonError):
    """Baton's home folder, or a file in it, cannot be created or written (a file where a folder
    should be, a read-only filesystem, a full disk, no permission). The message says which and what to do."""


@dataclass(frozen=True)
class Paths:
    """Baton's folders. ``home`` is ``BATON_HOME`` when set (None: platformdirs locations)."""

    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path
    home: Path | None = None

    @property
    def config_file(self) -> Path:
        """``config.toml`` in the config folder: the settings file."""
        return self.config_dir / "config.toml"

    @property
    def db_file(self) -> Path:
        """The SQLite store, ``baton.sqlite3`` in the data folder."""
        return self.data_dir / "baton.sqlite3"

    @property
    def models_dir(self) -> Path:
        """Where downloaded models go: ``models`` in the data folder."""
        return self.data_dir / "models"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Paths":
        """The folders for ``env`` (default ``os.environ``): under ``BATON_HOME`` when it is set (``config``,
        ``data``, ``cache``, ``logs``), else platformdirs' user folders for ``baton``. Creates nothing (see
        ``ensure``)."""
        env = os.environ if env is None else env
        home = env.get("BATON_HOME")
        if home:
            root = Path(home).expanduser()
            return cls(root / "config", root / "data", root / "cache", root / "logs", home=root)
        import platformdirs

        return cls(
            Path(platformdirs.user_config_dir("baton")),
            Path(platformdirs.user_data_dir("baton")),
            Path(platformdirs.user_cache_dir("baton")),
            Path(platformdirs.user_log_dir("baton")),
        )

    def ensure(self) -> "Paths":
        """Create every folder and check that each can be written.

        Raises ``HomeError`` (one line) when ``BATON_HOME`` is a file, a folder is on a read-only
        filesystem or not writable, or the disk is full."""
        if self.home is not None and self.home.exists() and not self.home.is_dir():
            raise HomeError(f"BATON_HOME={self.home} is a file, not a folder; point BATON_HOME at a folder "
                            "(or unset it to use the usual places)")
        for p in (self.config_dir, self.data_dir, self.cache_dir, self.log_dir, self.models_dir):
            try:
                p.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise HomeError(describe_os_error(e, p, "Baton's folder", self.home)) from None
            if not p.is_dir():
                raise HomeError(describe_os_error(OSError(errno.ENOTDIR, "Not a directory"), p, "Baton's folder",
                                                  self.home))
            if not os.access(p, os.W_OK):
                err = errno.EROFS if _read_only_fs(p) else errno.EACCES
                raise HomeError(describe_os_error(OSError(err, os.strerror(err)), p, "Baton's folder", self.home))
        return self


def _read_only_fs(p: Path) -> bool:
    try:
        return bool(os.statvfs(p).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def describe_os_error(e: OSError, path: Path, what: str = "the file", home: Path | None = None) -> str:
    """One line for an OSError met while writing ``path``: what happened and what to do."""
    folder = path if path.is_dir() else path.parent
    fix_home = "point BATON_HOME at a writable folder" if home is not None else "fix it or set BATON_HOME to a writable folder"
    code = e.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (f"no space left to write {what} ({path}): the disk holding {folder} is full"
                f"{' (quota)' if code == errno.EDQUOT else ''}; free some space and try again (nothing was changed)")
    if code == errno.EROFS:
        return f"cannot write {what} ({path}): {folder} is on a read-only filesystem; {fix_home}"
    if code in (errno.EACCES, errno.EPERM):
        return f"cannot write {what} ({path}): no permission to write in {folder}; {fix_home}"
    if code in (errno.ENOTDIR, errno.EEXIST):
        return (f"cannot create {what} ({path}): a file stands where a folder should be"
                f"{f' (BATON_HOME={home})' if home is not None else ''}; {fix_home}")
    return f"cannot write {what} ({path}): {e.strerror or e}; {fix_home}"


def atomic_write(path: Path, data: str | bytes, mode: int | None = None, what: str = "the file") -> None:
    """Replace ``path`` with ``data`` (str is written as UTF-8) atomically.

    The data goes to a temporary file in the same folder, is fsynced, and replaces ``path`` with
    ``os.replace``; on any failure the temporary file is removed and ``path`` keeps its earlier
    content. ``mode`` (e.g. ``0o600`` for a token) is set before any data is written; when None an
    existing file keeps its mode and a new one gets 0o644. Raises ``HomeError`` (one line, naming
    ``what``) for an OSError: disk full, read-only filesystem, no permission, a file for a folder."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if mode is None:
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = 0o644
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(path.parent)
    except OSError as e:
        raise HomeError(describe_os_error(e, path, what)) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sysfs_root(env: dict[str, str] | None = None) -> Path:
    """Root under which ``/sys`` paths are read (``BATON_SYSFS_ROOT``, default ``/``)."""
    env = os.environ if env is None else env
    return Path(env.get("BATON_SYSFS_ROOT") or "/")
