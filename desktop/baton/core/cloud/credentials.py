"""API keys for remote endpoints: from the env var an endpoint names, else from the OS keyring.

Keys are never written to the config file, the database or a log, and never put in an error
message. A headless box often has no keyring backend (``keyring.errors.NoKeyringError``): reading
then returns None (the env-var route still works); storing says so and points to ``--key-env``.
Any other exception a backend raises (a locked or broken keyring, D-Bus errors, ``PermissionError``,
``RuntimeError``...) becomes ``NoKeyring`` with one line, "no usable keyring: ...; set the env var X
instead", never a traceback.
A backend that keeps keys in a plain file (``keyrings.alt``'s PlaintextKeyring, which keyring picks
by itself when it is installed and nothing better is) is refused for storing, for the same reason.
A key holding a control character (line break, CR, tab, NUL, any C0/C1) or a non-ASCII character is
refused when stored and when read (``BadKey``), with a line that names where to fix it and never
echoes the key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from baton.config import Endpoint
from baton.core.cloud.wire import one_line
from baton.core.errors import BatonError, UsageError
from baton.core.scrub import has_control_chars, scrub


class NoKeyring(BatonError):
    """There is no usable OS keyring on this machine (none installed, locked, or its backend failed)."""


class BadKey(BatonError):
    """A key found in an env var or the keyring holds a control or non-ASCII character."""


class BadKeyInput(BadKey, UsageError):
    """A key given to be stored holds a control or non-ASCII character (bad usage: exit 2)."""


def _bad_key_reason(key: str) -> str | None:
    if has_control_chars(key):
        return "contains a control character (a line break, carriage return, tab, NUL or similar)"
    if not key.isascii():
        return "contains a character outside ASCII, which HTTP headers cannot carry"
    return None


def _env_route(name: str, key_env: str = "") -> str:
    if key_env:
        return f"set the env var {key_env} instead"
    return f"set an env var instead and name it with `baton endpoints add {name} ... --key-env VAR`"


def _unusable_message(name: str, action: str, exc: BaseException, key_env: str = "",
                      secrets: Iterable[str] = ()) -> str:
    detail = one_line(scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, secrets), 160)
    return f"no usable keyring: {action} the key for '{name}' failed ({detail}); {_env_route(name, key_env)}"


def _plaintext_message(name: str, backend: str) -> str:
    return (f"the only keyring here ({backend}) keeps keys in a plain file, so the key for '{name}' was not stored; "
            f"put it in an environment variable and name it with `baton endpoints add {name} ... --key-env VAR` "
            "(or install a real keyring backend such as gnome-keyring or KWallet)")


def _no_keyring_message(name: str) -> str:
    return (f"no usable keyring: there is no OS keyring on this machine, so the key for '{name}' cannot be stored "
            f"or removed; set an env var instead and name it with `baton endpoints add {name} ... --key-env VAR` "
            "(or install a keyring backend such as gnome-keyring or KWallet)")


class Credentials:
    """Where endpoint keys live. ``keyring_module``: a stand-in for the ``keyring`` module (tests);
    ``env``: a stand-in for ``os.environ``."""

    def __init__(self, service: str = "baton", keyring_module: Any = None,
                 env: dict[str, str] | None = None) -> None:
        self.service = service
        self._keyring = keyring_module
        self._env = env

    @property
    def keyring(self) -> Any:
        """The keyring module in use: the stand-in passed as ``keyring_module``, else ``keyring``, imported on
        first use."""
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

    @staticmethod
    def _is_no_keyring(exc: BaseException) -> bool:
        try:
            import keyring.errors
        except Exception:  # noqa: BLE001 - no keyring package at all is no keyring
            return True
        return isinstance(exc, keyring.errors.NoKeyringError)

    @staticmethod
    def _is_delete_missing(exc: BaseException) -> bool:
        try:
            import keyring.errors
        except Exception:  # noqa: BLE001
            return False
        return isinstance(exc, keyring.errors.PasswordDeleteError) and \
            not isinstance(exc, keyring.errors.NoKeyringError)

    def _read(self, name: str) -> str | None:
        """The keyring's entry for ``name``; None when there is no keyring at all. Other failures raise."""
        try:
            return self.keyring.get_password(self.service, name) or None
        except Exception as e:  # noqa: BLE001 - any backend failure is handled by the caller
            if self._is_no_keyring(e):
                return None
            raise

    def get(self, endpoint: Endpoint) -> str | None:
        """The key for ``endpoint``: its ``key_env`` variable first, then the keyring; None if neither.

        Raises ``BadKey`` for a key with a control or non-ASCII character, ``NoKeyring`` when a keyring
        backend fails (locked, broken) and no env var holds the key; the key is never in the message.
        """
        env = os.environ if self._env is None else self._env
        if endpoint.key_env:
            value = env.get(endpoint.key_env, "").strip()
            if value:
                reason = _bad_key_reason(value)
                if reason:
                    raise BadKey(f"the key in the env var {endpoint.key_env} (for endpoint '{endpoint.name}') "
                                 f"{reason}; fix the env var {endpoint.key_env}")
                return value
        try:
            value = (self._read(endpoint.name) or "").strip()
        except Exception as e:  # noqa: BLE001
            raise NoKeyring(_unusable_message(endpoint.name, "reading", e, endpoint.key_env)) from None
        if not value:
            return None
        reason = _bad_key_reason(value)
        if reason:
            raise BadKey(f"the key stored in the OS keyring for endpoint '{endpoint.name}' (service "
                         f"'{self.service}', entry '{endpoint.name}') {reason}; store it again with "
                         f"`baton keys set {endpoint.name}` or {_env_route(endpoint.name, endpoint.key_env)}")
        return value

    def get_stored(self, name: str) -> str | None:
        """A secret stored under ``name`` in the keyring (no env lookup); None if absent or no usable keyring."""
        try:
            return self._read(name)
        except Exception:  # noqa: BLE001 - an unusable keyring holds nothing we can use
            return None

    def source(self, endpoint: Endpoint) -> str:
        """Where the key would come from: 'env:VAR', 'keyring', or 'none' (never the key itself)."""
        env = os.environ if self._env is None else self._env
        if endpoint.key_env and env.get(endpoint.key_env, "").strip():
            return f"env:{endpoint.key_env}"
        try:
            return "keyring" if self._read(endpoint.name) else "none"
        except Exception:  # noqa: BLE001
            return "none"

    def secrets(self, endpoints: Iterable[Endpoint]) -> list[str]:
        """Every key these endpoints have (env or keyring), for scrubbing; never raises."""
        found = []
        env = os.environ if self._env is None else self._env
        for ep in endpoints:
            if ep.key_env and env.get(ep.key_env, "").strip():
                found.append(env[ep.key_env].strip())
            value = self.get_stored(ep.name)
            if value:
                found.append(value.strip())
        return found

    def set(self, name: str, key: str, key_env: str = "") -> None:
        """Store ``key`` for endpoint ``name``. Raises ``UsageError`` (empty name or key), ``BadKeyInput``
        (control or non-ASCII character), ``NoKeyring`` (no usable keyring; ``key_env`` is named as the way out)."""
        key = key.strip()
        if not name:
            raise UsageError("an endpoint name is needed to store a key")
        if not key:
            raise UsageError(f"the key for '{name}' is empty; nothing was stored")
        reason = _bad_key_reason(key)
        if reason:
            raise BadKeyInput(f"the key given for '{name}' {reason}, so it was not stored; paste the key alone "
                              "(one line, nothing else)")
        try:
            plain = self._plaintext_backend()
        except Exception as e:  # noqa: BLE001
            raise NoKeyring(_unusable_message(name, "storing", e, key_env, [key])) from None
        if plain:
            raise NoKeyring(_plaintext_message(name, plain))
        try:
            self.keyring.set_password(self.service, name, key)
        except Exception as e:  # noqa: BLE001 - every backend failure is one line
            if self._is_no_keyring(e):
                raise NoKeyring(_no_keyring_message(name)) from None
            raise NoKeyring(_unusable_message(name, "storing", e, key_env, [key])) from None

    def delete(self, name: str) -> bool:
        """Remove the stored key; False when there was none. Raises ``NoKeyring`` when the keyring fails."""
        try:
            self.keyring.delete_password(self.service, name)
        except Exception as e:  # noqa: BLE001
            if self._is_delete_missing(e):
                return False
            if self._is_no_keyring(e):
                raise NoKeyring(_no_keyring_message(name)) from None
            raise NoKeyring(_unusable_message(name, "removing", e)) from None
        return True
