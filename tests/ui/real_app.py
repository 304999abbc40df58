"""The real app on the real service: ``BatonService.build`` (llama.cpp on the default SmolLM2 model, the store,
the meter, the router, the real cloud client) behind the real window. Short answers keep the tests quick."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def real_window(qapp: Any, baton_home: Path) -> Iterator[Callable[..., Any]]:
    """``make(settings=None, max_tokens=12)`` -> the MainWindow on the real service (closed after the test)."""
    from baton.commands.serve_thread import ApiServer
    from baton.config import Settings
    from baton.core.service import BatonService
    from baton.paths import Paths
    from baton.ui.app import build_context
    from baton.ui.main_window import MainWindow

    made: list[tuple[Any, Any]] = []

    def make(settings: Any = None, max_tokens: int = 12) -> Any:
        paths = Paths.from_env().ensure()
        settings = settings or Settings()
        settings.engine.max_tokens = max_tokens
        settings.engine.temperature = 0.0
        service = BatonService.build(paths, settings)
        window = MainWindow(build_context(qapp, service, paths, settings, api_server=ApiServer))
        window.show()
        qapp.processEvents()
        made.append((window, service))
        return window

    yield make
    for window, service in made:
        window.close()
        service.close()
        window.deleteLater()
    qapp.processEvents()
