"""BATON_OFFLINE takes the usual switch spellings; anything else stops every command with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.config import ConfigError, Settings, parse_offline_env
from tests.helpers.proc import run_baton

TRUTHY = ["1", "true", "TRUE", "True", "yes", "YES", "on", "On", " 1 ", "\ttrue\n", " yes"]
FALSY = ["0", "false", "FALSE", "no", "No", "off", "OFF", "", "  ", " 0\n"]
INVALID = ["2", "maybe", "enabled", "y", "n", "t", "offline", "1.0", "-1", "tru e", "да"]


@pytest.mark.parametrize("value", TRUTHY)
def test_truthy_spellings_mean_offline(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_offline_env({"BATON_OFFLINE": value}) is True
    monkeypatch.setenv("BATON_OFFLINE", value)
    assert Settings().is_offline is True


@pytest.mark.parametrize("value", FALSY)
def test_falsy_spellings_mean_online(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_offline_env({"BATON_OFFLINE": value}) is False
    monkeypatch.setenv("BATON_OFFLINE", value)
    assert Settings().is_offline is False
    s = Settings()
    s.offline = True
    assert s.is_offline is True  # the environment cannot switch the setting off


def test_unset_is_none() -> None:
    assert parse_offline_env({}) is None


@pytest.mark.parametrize("value", INVALID)
def test_other_values_raise_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_offline_env({"BATON_OFFLINE": value})
    msg = str(info.value)
    assert msg.startswith("BATON_OFFLINE=") and "1, true, yes, on" in msg and "0, false, no, off" in msg


@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
@pytest.mark.parametrize("argv", [["config", "list"], ["threads"], ["ask", "hi"], ["models", "--json"]])
def test_an_invalid_value_stops_every_command_in_one_line(baton_home: Path, value: str, argv: list[str]) -> None:
    proc = run_baton(baton_home, *argv, BATON_OFFLINE=value, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "BATON_OFFLINE" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("value", ["true", "YES", " on "])
def test_truthy_spelling_refuses_a_remote_endpoint(baton_home: Path, value: str) -> None:
    # 203.0.113.0/24 is TEST-NET-3: never routed, and offline mode must not even try it.
    assert run_baton(baton_home, "endpoints", "add", "far", "--base-url", "https://203.0.113.7/v1",
                     "--model", "m", "--timeout-s", "2").returncode == 0
    proc = run_baton(baton_home, "endpoints", "test", "far", BATON_OFFLINE=value, timeout=60)
    assert proc.returncode == 1 and "offline mode" in proc.stderr
