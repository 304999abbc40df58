"""The real sandbox for the verification tests: bubblewrap must be installed; without it these tests fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baton.core.verify import Sandbox, SandboxUnavailable, find_sandbox

# Four lines of bench/data/code-dev.jsonl (MBPP test split, CC-BY-4.0; HumanEval, MIT: see each "source")
CODE_ITEMS = Path(__file__).with_name("code_items.jsonl")


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    found = find_sandbox()
    if isinstance(found, SandboxUnavailable):
        pytest.fail(f"verification tests need a working sandbox: {found.reason} "
                    "(install it with `apt install bubblewrap`)")
    return found


@pytest.fixture(scope="session")
def code_items() -> dict[str, dict]:
    """Real code tasks (mbpp-11, mbpp-367 with its set-up, humaneval-3, humaneval-38 with a helper) by id."""
    return {d["id"]: d for d in map(json.loads, CODE_ITEMS.read_text().splitlines())}
