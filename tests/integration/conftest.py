"""Fixtures for integration tests: a real llama-cpp-python OpenAI-compatible server on loopback
(started once per session, on the default model) and a fault-injecting proxy in front of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.llama_server import LlamaServer, llama_server


@pytest.fixture(scope="session")
def llama_srv() -> Iterator[LlamaServer]:
    with llama_server() as srv:
        yield srv


@pytest.fixture()
def fault_proxy(llama_srv: LlamaServer) -> Iterator[FaultProxy]:
    with FaultProxy(llama_srv.root_url) as proxy:
        yield proxy
