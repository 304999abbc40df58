"""API keys for remote endpoints: from the env var an endpoint names, else from the OS keyring.

Keys are never written to the config file, the database or a log, and never put in an error
message. A headless box often has no keyring backend (``keyring.errors.NoKeyringError``): reading
then returns None (the env-var route still works); storing says so and points to ``--key-env``.
A backend that keeps keys in a plain file (``keyrings.alt``'s PlaintextKeyring, which keyring picks
by itself when it is installed and nothing better is) is refused for storing, for the same reason.
"""

from __future__ import annotations

import os
from typing import Any

from baton.config import Endpoint
from baton.core.errors import BatonError, UsageError


class NoKeyring(BatonError):
    """There is no OS keyring on this machine."""


def _plaintext_message(name: str, backend: str) -> str:
    return (f"the only keyring here ({backend}) keeps keys in a plain file, so the key for '{name}' was not stored; "
            f"put it in an environment variable and name it with `baton endpoints add {name} ... --key-env VAR` "
            "(or install a real keyring backend such as gnome-keyring or KWallet)")


def _no_keyring_message(name: str) -> str:
    return (f"there is no OS keyring on this machine, so the key for '{name}' cannot be stored; put it in an "
            f"environment variable instead and name it with `baton endpoints add {name} ... --key-env VAR` "
            "(or install a keyring backend such as gnome-keyring or keyrings.alt)")


class Credentials:
    def __init__(self, service: str = "baton", keyring_module: Any = None,
                 env: dict[str, str] | None = None) -> None:
        self.service = service
        self._keyring = keyring_module
        self._env = env

    @property
    def keyring(self) -> Any:
        if self._keyring is None:
            import keyring

            self._keyring = keyring
        return self._keyring

    def _plaintext_backend(self) -> str | None:
        """The name of the active backend when it stores keys in a plain file, else None."""
        get = getattr(self.keyring, "get_keyring", None)
        if get is None:
            return None
        backend = get()
        chained = getattr(backend, "backends", None)
        if chained:
            backend = chained[0]
        cls = type(backend)
        name = f"{cls.__module__}.{cls.__name__}"
        return name if "plaintext" in cls.__name__.lower() else None

    def _errors(self) -> Any:
        import keyring.errors

        return keyring.errors

    def get(self, endpoint: Endpoint) -> str | None:
        """The key for ``endpoint``: its ``key_env`` variable first, then the keyring; None if neither."""
        env = os.environ if self._env is None else self._env
        if endpoint.key_env:
            value = env.get(endpoint.key_env, "").strip()
            if value:
                return value
        errors = self._errors()
        try:
            value = self.keyring.get_password(self.service, endpoint.name)
        except errors.NoKeyringError:
            return None
        except errors.KeyringError as e:
            raise BatonError(f"the OS keyring could not be read for '{endpoint.name}' ({type(e).__name__}); "
                             "unlock it, or use `--key-env VAR` with an environment variable") from None
        return value or None

    def get_stored(self, name: str) -> str | None:
        """A secret stored under ``name`` in the keyring (no env lookup); None if absent or no keyring."""
        try:
            return self.keyring.get_password(self.service, name) or None
        except self._errors().KeyringError:
            return None

    def source(self, endpoint: Endpoint) -> str:
        """Where the key would come from: 'env:VAR', 'keyring', or 'none' (never the key itself)."""
        env = os.environ if self._env is None else self._env
        if endpoint.key_env and env.get(endpoint.key_env, "").strip():
            return f"env:{endpoint.key_env}"
        try:
            return "keyring" if self.keyring.get_password(self.service, endpoint.name) else "none"
        except self._errors().KeyringError:
            return "none"

    def set(self, name: str, key: str) -> None:
        key = key.strip()
        if not name:
            raise UsageError("an endpoint name is needed to store a key")
        if not key:
            raise UsageError(f"the key for '{name}' is empty; nothing was stored")
        if any(c in key for c in "\r\n\0"):
            raise UsageError(f"the key for '{name}' contains a line break; paste the key alone")
        errors = self._errors()
        plain = self._plaintext_backend()
        if plain:
            raise NoKeyring(_plaintext_message(name, plain))
        try:
            self.keyring.set_password(self.service, name, key)
        except errors.NoKeyringError:
            raise NoKeyring(_no_keyring_message(name)) from None
        except errors.KeyringError as e:
            raise BatonError(f"the OS keyring refused to store the key for '{name}' ({type(e).__name__}); "
                             "unlock it, or use `--key-env VAR` with an environment variable") from None

    def delete(self, name: str) -> bool:
        """Remove the stored key; False when there was none."""
        errors = self._errors()
        try:
            self.keyring.delete_password(self.service, name)
        except errors.PasswordDeleteError:
            return False
        except errors.NoKeyringError:
            raise NoKeyring(_no_keyring_message(name)) from None
        except errors.KeyringError as e:
            raise BatonError(f"the OS keyring refused to delete the key for '{name}' ({type(e).__name__})") from None
        return True
