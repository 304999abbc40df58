"""What every command handler receives: paths and settings, and the service built on first use."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from baton.config import Settings, parse_offline_env
from baton.paths import Paths

if TYPE_CHECKING:
    from baton.core.service import BatonService


@dataclass
class Context:
    """Paths and validated settings for one command; ``service()`` builds the pipeline on first use."""

    paths: Paths
    settings: Settings
    _service: Any = field(default=None, repr=False)

    @classmethod
    def from_env(cls) -> "Context":
        """Check the environment and the home folder, then load and validate config.toml.

        Raises ``ConfigError`` (a bad ``BATON_OFFLINE`` or config file) or ``HomeError`` (a home
        folder that cannot be created or written): one line each, exit 1."""
        parse_offline_env(os.environ)
        paths = Paths.from_env().ensure()
        return cls(paths, Settings.load(paths.config_file))

    def save_settings(self) -> None:
        """Write the settings back (format-keeping, atomic); ``HomeError`` when the disk refuses."""
        self.settings.save(self.paths.config_file)

    def service(self) -> "BatonService":
        if self._service is None:
            from baton.core.service import BatonService

            self._service = BatonService.build(self.paths, self.settings)
        return self._service

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
            self._service = None
