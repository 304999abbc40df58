"""config.toml is validated when loaded: one line naming the key and its allowed values, exit 1;
unknown keys are kept and warned about; `baton config set` keeps comments, unknown keys and tables."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from baton.cli import main
from baton.config import ConfigError, Settings
from baton.core.errors import BatonError, UsageError
from tests.helpers.proc import run_baton


def config_file(home: Path) -> Path:
    p = home / "config" / "config.toml"
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


WRONG_TYPES = [
    ('[engine]\nn_ctx = "big"\n', "engine.n_ctx", "whole number"),
    ('[engine]\ntemperature = "hot"\n', "engine.temperature", "from 0 to 2"),
    ("engine = 5\n", "engine", "table"),
    ('endpoints = "nope"\n', "endpoints", "[[endpoints]]"),
    ('[[endpoints]]\nname = "lan"\nmodel = "m"\n', "base_url", "needs name, base_url and model"),
    ("engine = [1, 2]\n", "engine", "table"),
    ("[engine]\nn_ctx = 4096.5\n", "engine.n_ctx", "whole number"),
    ("[engine]\nmax_tokens = true\n", "engine.max_tokens", "whole number"),
    ("offline = 1\n", "offline", "true or false"),
    ('model_dirs = "/models"\n', "model_dirs", "list of text"),
    ("[routing]\nmode = 3\n", "routing.mode", "auto, ask, never, offline"),
    ('[[endpoints]]\nname = "lan"\nbase_url = "http://h"\nmodel = "m"\ntimeout_s = "soon"\n',
     "endpoints[0].timeout_s", "seconds"),
    ('[[endpoints]]\nbase_url = "http://h"\nmodel = "m"\n', "name", "needs name, base_url and model"),
    ("[telemetry]\nsample_hz = [4]\n", "telemetry.sample_hz", "samples per second"),
]

INVALID_VALUES = [
    ("[engine]\nmax_tokens = -1\n", "engine.max_tokens", ">= 1"),
    ("[engine]\nmax_tokens = 0\n", "engine.max_tokens", ">= 1"),
    ('[routing]\nmode = "sometimes"\n', "routing.mode", "auto, ask, never, offline"),
    ("[routing]\nbudget_usd_per_day = -0.5\n", "routing.budget_usd_per_day", ">= 0"),
    ("[routing]\nbudget_wh_per_day = -3\n", "routing.budget_wh_per_day", ">= 0"),
    ("[engine]\ntemperature = -0.1\n", "engine.temperature", "from 0 to 2"),
    ("[engine]\ntemperature = nan\n", "engine.temperature", "from 0 to 2"),
    ("[engine]\nn_ctx = 8\n", "engine.n_ctx", "from 16 to 10000000"),
    ('[routing]\nprivacy = "shrug"\n', "routing.privacy", "refuse, redact"),
    ('[telemetry]\ncpu_load_basis = "gpu"\n', "telemetry.cpu_load_basis", "process, system"),
    ("[telemetry]\nsample_hz = 0\n", "telemetry.sample_hz", "above 0"),
    ("[routing]\nthreshold = inf\n", "routing.threshold", "a number up to 1"),
    ("[routing]\nthreshold = 7\n", "routing.threshold", "a number up to 1"),
    ('[[endpoints]]\nname = "a"\nbase_url = "http://h"\nmodel = "m"\n'
     '[[endpoints]]\nname = "a"\nbase_url = "http://g"\nmodel = "n"\n', "endpoints[1].name", "used twice"),
    ('[[endpoints]]\nname = "a"\nbase_url = "ftp://h/v1"\nmodel = "m"\n', "endpoints[0].base_url", "http://"),
    ('[[endpoints]]\nname = "a"\nbase_url = "api.openai.com/v1"\nmodel = "m"\n', "endpoints[0].base_url", "https://"),
    ('[[endpoints]]\nname = "a"\nbase_url = "http://h"\nmodel = "m"\nusd_per_mtok_out = -1\n',
     "endpoints[0].usd_per_mtok_out", ">= 0"),
    ('[[endpoints]]\nname = "a b"\nbase_url = "http://h"\nmodel = "m"\n', "endpoints[0].name", "letters, digits"),
    ("version = 0\n", "version", ">= 1"),
]


@pytest.mark.parametrize("text,key,allowed", WRONG_TYPES + INVALID_VALUES)
def test_bad_config_is_one_line_naming_the_key_and_allowed_values_exit_1(
        capsys: pytest.CaptureFixture[str], baton_home: Path, text: str, key: str, allowed: str) -> None:
    config_file(baton_home).write_text(text)
    rc, out, err = run(capsys, "config", "list")
    assert rc == 1, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("baton: ")
    assert key in err and allowed in err
    assert str(config_file(baton_home)) in err
    with pytest.raises(ConfigError) as info:
        Settings.load(config_file(baton_home))
    assert isinstance(info.value, BatonError) and not isinstance(info.value, UsageError)


@pytest.mark.parametrize("text,line", [
    ("[engine\nn_ctx = 1\n", 1),
    ("version = 1\n[engine]\nn_ctx = = 4\n", 3),
    ('a = "unterminated\n', 1),
    ("[engine]\nn_ctx = 1\n[engine]\nmax_tokens = 3\n", 3),
    ("x = [\n1,\n", 2),
])
def test_toml_syntax_error_names_the_line(capsys: pytest.CaptureFixture[str], baton_home: Path, text: str,
                                          line: int) -> None:
    config_file(baton_home).write_text(text)
    rc, out, err = run(capsys, "threads")
    assert rc == 1 and err.count("\n") == 1
    assert "not valid TOML" in err and f"line {line}" in err


def test_config_that_is_not_utf8_is_one_line(capsys: pytest.CaptureFixture[str], baton_home: Path) -> None:
    config_file(baton_home).write_bytes(b'default_model = "caf\xe9"\n')
    rc, _, err = run(capsys, "config", "get", "engine.n_ctx")
    assert rc == 1 and "not UTF-8" in err and "line 1" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [
    ["ask", "hello"], ["threads"], ["threads", "show", "abcdef"], ["models", "--json"], ["endpoints", "list"],
    ["energy", "probe", "--idle-s", "0"], ["keys", "rm", "lan"], ["config", "set", "engine.n_ctx", "2048"],
    ["retry", "abcdef"], ["serve", "--port", "0"], ["config", "path"],
])
def test_every_command_stops_on_a_broken_config(baton_home: Path, argv: list[str]) -> None:
    config_file(baton_home).write_text('[routing]\nmode = "sometimes"\n')
    proc = run_baton(baton_home, *argv, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "routing.mode" in proc.stderr


def test_unknown_keys_are_warned_once_and_kept_on_save(capsys: pytest.CaptureFixture[str], baton_home: Path) -> None:
    path = config_file(baton_home)
    original = (
        "# Baton settings, edited by hand\n"
        "future_flag = true  # from a newer Baton\n"
        "\n"
        "[engine]\n"
        "# bigger context for long files\n"
        "n_ctx = 8192\n"
        "turbo = \"yes\"\n"
        "\n"
        "[plugins.spellcheck]\n"
        "lang = \"en\"\n"
        "\n"
        "[[endpoints]]\n"
        "name = \"lan\"  # the box under the desk\n"
        "base_url = \"http://192.168.1.5:8080/v1\"\n"
        "model = \"qwen\"\n"
        "note = \"ask Sam first\"\n"
    )
    path.write_text(original)
    rc, out, err = run(capsys, "config", "set", "engine.max_tokens", "1024")
    assert rc == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1
    for key in ("future_flag", "engine.turbo", "plugins", "endpoints[0].note"):
        assert key in warnings[0]
    text = path.read_text()
    for kept in ("# Baton settings, edited by hand", "future_flag = true  # from a newer Baton",
                 "# bigger context for long files", "n_ctx = 8192", 'turbo = "yes"', "[plugins.spellcheck]",
                 'lang = "en"', 'name = "lan"  # the box under the desk', 'note = "ask Sam first"'):
        assert kept in text
    data = tomllib.loads(text)
    assert data["engine"]["max_tokens"] == 1024 and data["engine"]["n_ctx"] == 8192
    assert text.replace("max_tokens = 1024\n", "") == original  # nothing else moved
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]


def test_endpoints_add_and_remove_keep_comments_and_other_endpoints_unknown_keys(
        capsys: pytest.CaptureFixture[str], baton_home: Path) -> None:
    path = config_file(baton_home)
    path.write_text("# top comment\n[routing]\nmode = \"ask\"  # ask before the cloud\n\n"
                    "[[endpoints]]\nname = \"lan\"\nbase_url = \"http://10.0.0.2/v1\"\nmodel = \"m\"\n"
                    "owner = \"sam\"  # keep me\n")
    rc, _, err = run(capsys, "endpoints", "add", "cloud", "--base-url", "https://api.example.com/v1",
                     "--model", "big")
    assert rc == 0, err
    rc, _, err = run(capsys, "endpoints", "remove", "cloud", "--keep-key")
    assert rc == 0, err
    text = path.read_text()
    assert "# top comment" in text and 'mode = "ask"  # ask before the cloud' in text
    assert 'owner = "sam"  # keep me' in text
    assert [e["name"] for e in tomllib.loads(text)["endpoints"]] == ["lan"]


@pytest.mark.parametrize("key,value,allowed", [
    ("engine.max_tokens", "-1", ">= 1"),
    ("engine.max_tokens", "0", ">= 1"),
    ("routing.mode", "sometimes", "auto, ask, never, offline"),
    ("routing.budget_usd_per_day", "-2", ">= 0"),
    ("engine.temperature", "hot", "a number"),
    ("engine.temperature", "-1", "from 0 to 2"),
    ("engine.n_ctx", "big", "whole number"),
    ("engine.n_ctx", "15", "from 16 to 10000000"),
    ("routing.privacy", "maybe", "refuse, redact"),
    ("telemetry.sample_hz", "nan", "above 0"),
    ("offline", "perhaps", "true or false"),
])
def test_config_set_validates_before_writing(capsys: pytest.CaptureFixture[str], baton_home: Path, key: str,
                                             value: str, allowed: str) -> None:
    path = config_file(baton_home)
    path.write_text("# mine\n[engine]\nn_ctx = 2048\n")
    rc, _, err = run(capsys, "config", "set", key, value)
    assert rc == 2 and err.count("\n") == 1 and key in err and allowed in err
    assert path.read_text() == "# mine\n[engine]\nn_ctx = 2048\n"


@pytest.mark.parametrize("key,value,expected", [
    ("engine.n_ctx", "16", 16), ("engine.temperature", "0", 0.0), ("routing.mode", "offline", "offline"),
    ("offline", " YES ", True), ("routing.budget_wh_per_day", "0", 0.0),
])
def test_config_set_accepts_edge_values(capsys: pytest.CaptureFixture[str], baton_home: Path, key: str, value: str,
                                        expected: object) -> None:
    rc, _, err = run(capsys, "config", "set", key, value)
    assert rc == 0, err
    assert Settings.load(config_file(baton_home)).get(key) == expected


def test_first_save_writes_a_complete_valid_file(baton_home: Path) -> None:
    s = Settings()
    s.engine.n_ctx = 1024
    s.save(config_file(baton_home))
    again = Settings.load(config_file(baton_home))
    assert again.engine.n_ctx == 1024 and again.flat() == s.flat() and again.warnings == []


@pytest.mark.parametrize("text,key", [
    ("[telemetry]\npower_poll_hz = 20.0\n", "telemetry.power_poll_hz"),
    ("theme = \"dark\"\n", "theme"),
    ("[engine]\nrope_freq_base = 10000\n", "engine.rope_freq_base"),
    ("[extras]\na = 1\n", "extras"),
])
def test_a_removed_or_unknown_key_is_a_one_line_warning_never_an_error(
        capsys: pytest.CaptureFixture[str], baton_home: Path, text: str, key: str) -> None:
    config_file(baton_home).write_text(text)
    rc, out, err = run(capsys, "config", "get", "engine.n_ctx")
    assert rc == 0 and out.strip() == "4096"
    assert err.count("\n") == 1 and err.startswith("baton: warning:") and key in err and "kept" in err
