"""Keys from the env var an endpoint names, else the OS keyring; one clear line whatever a keyring backend
raises; keys with control characters refused at entry and at use, never echoed."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from baton.config import Endpoint
from baton.core.cloud.credentials import BadKey, Credentials, NoKeyring
from baton.core.errors import BatonError, UsageError
from tests.helpers.fakes import MemoryKeyring, installed_keyring


@pytest.fixture()
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed_keyring(MemoryKeyring()) as backend:
        yield backend


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


class RaisingKeyring(KeyringBackend):
    """A backend whose every call raises ``exc`` (its text may hold the password it was given)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, exc: Callable[[str], BaseException]) -> None:
        super().__init__()
        self.exc = exc

    def get_password(self, service: str, username: str) -> str | None:
        raise self.exc("reading")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.exc(f"storing {password}")

    def delete_password(self, service: str, username: str) -> None:
        raise self.exc("deleting")


def _dbus_error(text: str) -> BaseException:
    from secretstorage.exceptions import SecretServiceNotAvailableException

    return SecretServiceNotAvailableException(f"Could not connect to D-Bus: {text}\nTraceback follows")


RAISES = {
    "RuntimeError": lambda t: RuntimeError(t),
    "KeyringError": lambda t: keyring.errors.KeyringError(t),
    "KeyringLocked": lambda t: keyring.errors.KeyringLocked(t),
    "InitError": lambda t: keyring.errors.InitError(t),
    "PermissionError": lambda t: PermissionError(13, f"Permission denied: {t}"),
    "OSError": lambda t: OSError(f"I/O error {t}"),
    "dbus": _dbus_error,
    "ValueError": lambda t: ValueError(t),
    "multi-line": lambda t: RuntimeError(f"line one {t}\nline two\n\tline three"),
}


@pytest.fixture(params=sorted(RAISES))
def raising_keyring(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = keyring.get_keyring()
    keyring.set_keyring(RaisingKeyring(RAISES[request.param]))
    try:
        yield request.param
    finally:
        keyring.set_keyring(previous)


def _one_usable_line(msg: str, env_var: str = "BATON_TEST_KEY") -> None:
    assert msg.startswith("no usable keyring: ") and "\n" not in msg
    assert f"set the env var {env_var} instead" in msg if env_var else "--key-env VAR" in msg


def test_any_backend_exception_on_read_is_one_line_naming_the_env_var(raising_keyring: str) -> None:
    with pytest.raises(NoKeyring) as ei:
        Credentials(env={}).get(EP)
    _one_usable_line(str(ei.value))
    assert ei.value.__cause__ is None and ei.value.__suppress_context__
    # the env var route still works while the keyring is broken
    assert Credentials(env={"BATON_TEST_KEY": "sk-env-1234"}).get(EP) == "sk-env-1234"
    assert Credentials(env={}).source(EP) == "none"
    assert Credentials(env={}).get_stored("anything") is None
    assert Credentials(env={}).secrets([EP]) == []


def test_any_backend_exception_on_store_or_delete_is_one_line_without_the_key(raising_keyring: str) -> None:
    secret = "sk-must-not-show-0123456789"
    with pytest.raises(NoKeyring) as ei:
        Credentials(env={}).set("openai", secret, key_env="BATON_TEST_KEY")
    _one_usable_line(str(ei.value))
    assert secret not in str(ei.value)
    with pytest.raises(NoKeyring) as ei:
        Credentials(env={}).set("other", secret)
    _one_usable_line(str(ei.value), env_var="")
    assert secret not in str(ei.value)
    with pytest.raises(NoKeyring) as ei:
        Credentials(env={}).delete("openai")
    assert str(ei.value).startswith("no usable keyring: ") and "\n" not in str(ei.value)


def test_a_real_secret_service_backend_without_a_bus_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path) -> None:
    from keyring.backends import SecretService

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus-here")
    previous = keyring.get_keyring()
    keyring.set_keyring(SecretService.Keyring())
    try:
        with pytest.raises(NoKeyring) as ei:
            Credentials(env={}).get(EP)
        _one_usable_line(str(ei.value))
        with pytest.raises(NoKeyring) as ei:
            Credentials(env={}).set("openai", "sk-secret-service-1234", key_env="BATON_TEST_KEY")
        _one_usable_line(str(ei.value))
    finally:
        keyring.set_keyring(previous)


@pytest.mark.parametrize("bad", ["", "   ", "\n"])
def test_empty_keys_are_refused(memory_keyring: MemoryKeyring, bad: str) -> None:
    with pytest.raises(UsageError, match="empty"):
        Credentials(env={}).set("openai", bad)
    assert memory_keyring.store == {}


@pytest.mark.parametrize("bad", ["two\nlines", "tab\there", "nul\x00x", "cr\rx", "esc\x1b[2J", "del\x7fx",
                                 "c1\x85x", "sep\u2028x", "zw\u200bx", "caf\u00e9"])
def test_bad_keys_are_refused_at_entry_without_echo(memory_keyring: MemoryKeyring, bad: str) -> None:
    with pytest.raises(UsageError) as ei:
        Credentials(env={}).set("openai", f"sk-{bad}-secretpart")
    assert "secretpart" not in str(ei.value) and "\n" not in str(ei.value)
    assert memory_keyring.store == {}


@pytest.mark.parametrize("bad", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x9b", "\u2029", "\u00e9"])
def test_bad_keys_are_refused_at_use_naming_where_to_fix(memory_keyring: MemoryKeyring, bad: str) -> None:
    key = f"sk-left-part{bad}right-part"
    with pytest.raises(BadKey) as ei:
        Credentials(env={"BATON_TEST_KEY": key}).get(EP)
    msg = str(ei.value)
    assert "env var BATON_TEST_KEY" in msg and "left-part" not in msg and "right-part" not in msg
    assert "\n" not in msg and not isinstance(ei.value, UsageError)  # a broken environment: exit 1, not 2
    memory_keyring.store[("baton", "openai")] = key  # put there by some other program
    with pytest.raises(BadKey) as ei:
        Credentials(env={}).get(EP)
    msg = str(ei.value)
    assert "keyring" in msg and "entry 'openai'" in msg and "baton keys set openai" in msg
    assert "left-part" not in msg and "right-part" not in msg


def test_outer_whitespace_of_an_env_key_is_not_a_control_character() -> None:
    assert Credentials(env={"BATON_TEST_KEY": " sk-padded-1234\n"}).get(EP) == "sk-padded-1234"


def test_secrets_lists_every_known_key(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.store[("baton", "openai")] = "sk-kr-1234"
    other = Endpoint(name="lan", base_url="http://127.0.0.1:9/v1", model="m", key_env="LAN_KEY")
    creds = Credentials(env={"BATON_TEST_KEY": "sk-env-5678", "LAN_KEY": "sk-lan-9999"})
    assert sorted(creds.secrets([EP, other])) == ["sk-env-5678", "sk-kr-1234", "sk-lan-9999"]


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
