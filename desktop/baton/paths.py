"""Where Baton keeps user state. ``BATON_HOME`` overrides everything (tests use a tmp dir)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def db_file(self) -> Path:
        return self.data_dir / "baton.sqlite3"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Paths":
        env = os.environ if env is None else env
        home = env.get("BATON_HOME")
        if home:
            root = Path(home).expanduser()
            return cls(root / "config", root / "data", root / "cache", root / "logs")
        import platformdirs

        return cls(
            Path(platformdirs.user_config_dir("baton")),
            Path(platformdirs.user_data_dir("baton")),
            Path(platformdirs.user_cache_dir("baton")),
            Path(platformdirs.user_log_dir("baton")),
        )

    def ensure(self) -> "Paths":
        for p in (self.config_dir, self.data_dir, self.cache_dir, self.log_dir, self.models_dir):
            p.mkdir(parents=True, exist_ok=True)
        return self


def sysfs_root(env: dict[str, str] | None = None) -> Path:
    """Root under which ``/sys`` paths are read (``BATON_SYSFS_ROOT``, default ``/``)."""
    env = os.environ if env is None else env
    return Path(env.get("BATON_SYSFS_ROOT") or "/")
