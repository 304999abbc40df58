"""Test doubles shared by the suite: an in-memory keyring backend and an in-memory key-value store.

DESIGN: tests install a keyring backend of their own through ``keyring.set_keyring``; ``installed_keyring``
does that for one block and puts the previous backend back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keyring
import keyring.errors
from keyring.backend import KeyringBackend


class MemoryKeyring(KeyringBackend):
    """A keyring backend that keeps ``(service, username) -> password`` in ``store``; deleting a missing entry
    raises ``PasswordDeleteError`` as real backends do."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.store:
            raise keyring.errors.PasswordDeleteError("not found")
        del self.store[(service, username)]


@contextmanager
def installed_keyring(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    """``backend`` as the process's keyring for the block; the previous one is restored after."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


class MemoryKV:
    """The key-value part of ``baton.core.store.Store`` (``kv_get``/``kv_set``) in a dict, ``data``."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def kv_get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def kv_set(self, key: str, value: Any) -> None:
        self.data[key] = value
