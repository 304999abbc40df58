"""Keys from the env var an endpoint names, else the OS keyring; a clear message without a keyring."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from baton.config import Endpoint
from baton.core.cloud.credentials import Credentials, NoKeyring
from baton.core.errors import BatonError, UsageError


class MemoryKeyring(KeyringBackend):
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


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")


@pytest.fixture()
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture()
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


EP = Endpoint(name="openai", base_url="https://api.openai.com/v1", model="gpt-4o-mini", key_env="BATON_TEST_KEY")


def test_set_get_delete_through_the_keyring(memory_keyring: MemoryKeyring) -> None:
    creds = Credentials(env={})
    assert creds.get(EP) is None and creds.source(EP) == "none"
    creds.set("openai", "  sk-stored-in-keyring \n")
    assert memory_keyring.store[("baton", "openai")] == "sk-stored-in-keyring"
    assert creds.get(EP) == "sk-stored-in-keyring"
    assert creds.source(EP) == "keyring"
    assert creds.delete("openai") is True
    assert creds.get(EP) is None
    assert creds.delete("openai") is False


def test_env_var_wins_over_the_keyring(memory_keyring: MemoryKeyring) -> None:
    creds = Credentials(env={"BATON_TEST_KEY": "sk-from-env"})
    creds.set("openai", "sk-from-keyring")
    assert creds.get(EP) == "sk-from-env"
    assert creds.source(EP) == "env:BATON_TEST_KEY"
    assert Credentials(env={"BATON_TEST_KEY": "  "}).get(EP) == "sk-from-keyring"  # blank env var is no key


def test_the_real_process_environment_is_read(memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_TEST_KEY", "sk-process-env")
    assert Credentials().get(EP) == "sk-process-env"


def test_service_name_separates_keys(memory_keyring: MemoryKeyring) -> None:
    Credentials(service="baton-test", env={}).set("openai", "k1")
    assert Credentials(env={}).get(EP) is None
    assert Credentials(service="baton-test", env={}).get(EP) == "k1"


def test_injected_keyring_module_is_used() -> None:
    class Module:
        errors = keyring.errors

        def __init__(self) -> None:
            self.backend = MemoryKeyring()

        def get_password(self, s: str, u: str) -> str | None:
            return self.backend.get_password(s, u)

        def set_password(self, s: str, u: str, p: str) -> None:
            self.backend.set_password(s, u, p)

        def delete_password(self, s: str, u: str) -> None:
            self.backend.delete_password(s, u)

    mod = Module()
    creds = Credentials(keyring_module=mod, env={})
    creds.set("openai", "sk-injected")
    assert mod.backend.store == {("baton", "openai"): "sk-injected"}
    assert creds.get(EP) == "sk-injected"


def test_no_keyring_backend_reads_none_and_refuses_to_store_with_the_env_route(no_keyring: None) -> None:
    creds = Credentials(env={})
    assert creds.get(EP) is None  # keeps working: a local endpoint needs no key
    with pytest.raises(NoKeyring) as ei:
        creds.set("openai", "sk-nowhere-to-go")
    msg = str(ei.value)
    assert "no OS keyring" in msg and "--key-env VAR" in msg
    assert "sk-nowhere-to-go" not in msg
    assert isinstance(ei.value, BatonError)
    with pytest.raises(NoKeyring):
        creds.delete("openai")
    assert Credentials(env={"BATON_TEST_KEY": "sk-env"}).get(EP) == "sk-env"


def test_locked_keyring_is_a_clear_error() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring())
    try:
        with pytest.raises(BatonError, match="could not be read .*--key-env"):
            Credentials(env={}).get(EP)
    finally:
        keyring.set_keyring(previous)


@pytest.mark.parametrize("bad", ["", "   ", "two\nlines"])
def test_bad_keys_are_refused(memory_keyring: MemoryKeyring, bad: str) -> None:
    with pytest.raises(UsageError):
        Credentials(env={}).set("openai", bad)
    assert memory_keyring.store == {}


def test_a_plain_file_keyring_is_refused_for_storing(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring_pass.cfg")  # type: ignore[misc]
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        with pytest.raises(NoKeyring, match="plain file.*--key-env VAR"):
            Credentials(env={}).set("openai", "sk-would-be-plaintext")
        assert not (tmp_path / "keyring_pass.cfg").exists()
    finally:
        keyring.set_keyring(previous)
