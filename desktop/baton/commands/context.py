"""What every command handler receives: paths and settings, and the service built on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from baton.config import Settings
from baton.paths import Paths

if TYPE_CHECKING:
    from baton.core.service import BatonService


@dataclass
class Context:
    paths: Paths
    settings: Settings
    _service: Any = field(default=None, repr=False)

    @classmethod
    def from_env(cls) -> "Context":
        paths = Paths.from_env().ensure()
        return cls(paths, Settings.load(paths.config_file))

    def save_settings(self) -> None:
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
