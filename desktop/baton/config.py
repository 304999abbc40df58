"""User settings: a versioned dataclass saved as human-editable TOML.

The file is validated when it is loaded: a wrong type or a value out of range stops with one
line (``ConfigError``) that names the dotted key and the values it takes. Keys Baton does not know
are kept in the file and reported in ``Settings.warnings``, never an error. Edits (``save``) change
only the keys whose values changed, through tomlkit, so the user's comments, unknown keys and
tables stay as they were. The write is atomic (``baton.paths.atomic_write``).

API keys are never stored here (OS keyring or environment variables only).
"""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

import tomlkit
from tomlkit.exceptions import TOMLKitError

from baton.config_rules import (
    COMMA_LISTS,
    RULES,
    ConfigError,
    check_value,
    describe_type,
    parse_offline_env,
    shown,
)
from baton.errors import UsageError
from baton.paths import atomic_write

SETTINGS_VERSION = 1
ROUTING_MODES = ("auto", "ask", "never", "offline")
PRIVACY_ACTIONS = ("refuse", "redact")
VERIFY_MODES = ("ask", "on", "off")

__all__ = ["ConfigError", "EngineSettings", "Endpoint", "RoutingSettings", "Settings", "TelemetrySettings",
           "VerifySettings", "VERIFY_MODES",
           "ROUTING_MODES", "PRIVACY_ACTIONS", "SETTINGS_VERSION", "parse_offline_env"]


@dataclass
class EngineSettings:
    """How local models run. ``n_ctx`` in tokens per thread; ``max_tokens`` the answer budget; ``parallel``: how
    many threads one loaded model answers at once (each with the full ``n_ctx``; more wait for a slot).
    ``model_ttl_s``: a resident model idle this long is unloaded (0: never); ``warm_state_mb``: RAM (MB) for the
    saved caches of threads that lost their slot (0: none); ``battery_policy``: ``saver`` (on battery, prefer the
    smaller model and fewer threads at once) or ``off``."""

    n_ctx: int = 4096
    n_threads: int = 0  # 0 = physical core count
    parallel: int = 4
    n_gpu_layers: int = -1  # -1 = let the fit planner decide
    max_tokens: int = 512
    temperature: float = 0.2
    model_ttl_s: float = 600.0
    warm_state_mb: int = 1024
    battery_policy: str = "saver"  # saver | off


@dataclass
class RoutingSettings:
    """When an answer may leave the machine: mode, threshold, daily budgets (USD, Wh), privacy."""

    mode: str = "auto"  # auto | ask | never | offline
    threshold: float = -1.0  # < 0 = use the calibrated default
    budget_usd_per_day: float = 1.0
    budget_wh_per_day: float = 0.0  # 0 = no limit
    privacy: str = "refuse"  # refuse | redact
    self_check: bool = False
    # the code ladder, cheapest first: a model id from `baton models` or a .gguf path (a local tier), or an
    # endpoint name (a remote tier); empty: no ladder (the local model, then the first eligible endpoint)
    ladder: list[str] = field(default_factory=list)


@dataclass
class VerifySettings:
    """Running a code answer against the question's examples in a sandbox: ``mode`` ``ask`` (the app asks once;
    the CLI and ``--json`` treat it as off), ``on`` or ``off``."""

    mode: str = "ask"  # ask | on | off


@dataclass
class TelemetrySettings:
    """Energy measurement: the estimate's TDP (W), the GUI's sample rate (Hz), the idle baseline's age (s)."""

    cpu_tdp_w: float = 0.0  # 0 = guess from the CPU
    sample_hz: float = 4.0
    cpu_load_basis: str = "process"  # estimate's load: "process" (Baton's CPU time) or "system"
    idle_max_age_s: float = 600.0  # re-measure the idle baseline when it is older than this


@dataclass
class Endpoint:
    """One remote OpenAI-compatible tier. Prices in USD per million tokens; ``j_per_token`` an estimate."""

    name: str
    base_url: str
    model: str
    key_env: str = ""
    usd_per_mtok_in: float = 0.0
    usd_per_mtok_out: float = 0.0
    j_per_token: float = 0.0
    context_window: int = 8192
    timeout_s: float = 60.0


@dataclass
class Settings:
    """Everything in config.toml. ``warnings`` lists one-line notes from loading (unknown keys)."""

    version: int = SETTINGS_VERSION
    default_model: str = ""  # "" = the packaged default model
    offline: bool = False
    model_dirs: list[str] = field(default_factory=list)
    engine: EngineSettings = field(default_factory=EngineSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    verify: VerifySettings = field(default_factory=VerifySettings)
    endpoints: list[Endpoint] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Not dataclass fields: they never reach flat(), asdict() or the file.
        self.warnings: list[str] = []
        self._doc: tomlkit.TOMLDocument | None = None

    # ---- persistence -------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> "Settings":
        """Read and validate ``path`` (defaults when it does not exist).

        Raises ``ConfigError`` (one line: the file, the dotted key, the allowed values) for a file
        that cannot be read, is not UTF-8 TOML, or holds a wrong type or value."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls()
        except OSError as e:
            raise ConfigError(f"cannot read the config file {path}: {e.strerror or e}; "
                              "fix its permissions or point BATON_HOME elsewhere") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            raise ConfigError(f"config file {path} is not UTF-8 text (byte 0x{data[e.start]:02x} on line {line}); "
                              "fix that line or move the file away") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            msg = str(e)
            if "line" not in msg:  # "(at end of document)": the last line is where it is unfinished
                msg += f" (line {text.count(chr(10)) + (0 if text.endswith(chr(10)) else 1)})"
            raise ConfigError(f"config file {path} is not valid TOML: {msg}; fix that line or move the file away") from None
        try:
            doc: tomlkit.TOMLDocument | None = tomlkit.parse(text)
        except (TOMLKitError, ValueError):
            doc = None  # valid TOML that tomlkit cannot round-trip: saved in full instead
        raw = _migrate(raw, path)
        unknown: list[str] = []
        settings = _build(cls, raw, "", "", path, unknown)
        _check_endpoint_names(settings.endpoints, path)
        settings._doc = doc
        if unknown:
            settings.warnings.append(
                f"{path}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                "kept in the file but not used (see `baton config list` for the known ones)")
        return settings

    def save(self, path: Path) -> None:
        """Validate, then write ``path`` atomically, changing only keys whose values changed (comments,
        unknown keys and tables are kept). Raises ``ConfigError`` for an invalid value and
        ``HomeError`` when the file cannot be written (disk full, read-only); the old file is then intact."""
        self.validate()
        path = Path(path)
        data = asdict(self)
        if self._doc is None:
            doc = tomlkit.document()
            _merge_table(doc, data, defaults=None)
        else:
            doc = copy.deepcopy(self._doc)
            _merge_table(doc, data, defaults=asdict(Settings()))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # atomic_write says what is wrong with the folder, in one line
        atomic_write(path, tomlkit.dumps(doc), what="the config file")
        self._doc = doc

    # ---- dotted access for `baton config set` -------------------------------------------
    def get(self, key: str) -> Any:
        """The value (or group) at a dotted key such as ``engine.n_ctx``; ``UsageError`` if unknown."""
        obj: Any = self
        for part in key.split("."):
            if not is_dataclass(obj) or part not in {f.name for f in fields(obj)}:
                raise UsageError(f"unknown setting '{key}'; see `baton config list`")
            obj = getattr(obj, part)
        return obj

    def set(self, key: str, value: str) -> None:
        """Set one leaf from its command-line text, checked by the same rules as the file.

        Raises ``UsageError`` naming the key and its allowed values; nothing changes then."""
        *parents, leaf = key.split(".")
        obj: Any = self.get(".".join(parents)) if parents else self
        if not is_dataclass(obj) or leaf not in {f.name for f in fields(obj)}:
            raise UsageError(f"unknown setting '{key}'; see `baton config list`")
        hint = get_type_hints(type(obj))[leaf]
        new = _coerce(key, value, hint)
        try:
            check_value(key, key, new, hint, where=None)
        except ConfigError as e:
            raise UsageError(str(e)) from None
        setattr(obj, leaf, new)

    def flat(self) -> dict[str, Any]:
        """Every leaf setting by dotted key (endpoints left out: `baton endpoints list`)."""
        out: dict[str, Any] = {}

        def walk(prefix: str, obj: Any) -> None:
            for f in fields(obj):
                v = getattr(obj, f.name)
                if is_dataclass(v):
                    walk(f"{prefix}{f.name}.", v)
                elif f.name != "endpoints":
                    out[prefix + f.name] = v

        walk("", self)
        return out

    def validate(self) -> None:
        """Check every value against the rules the file is loaded with; ``ConfigError`` on the first bad one."""
        unknown: list[str] = []
        _build(Settings, _strip_none(asdict(self)), "", "", None, unknown)
        _check_endpoint_names(self.endpoints, None)

    def endpoint(self, name: str) -> Endpoint:
        """The endpoint called ``name``; ``UsageError`` naming `baton endpoints add` when there is none."""
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        raise UsageError(f"no endpoint named '{name}'; add one with `baton endpoints add`")

    @property
    def is_offline(self) -> bool:
        """Offline by the setting, by ``routing.mode = "offline"`` or by ``BATON_OFFLINE`` (any usual
        truthy spelling). Raises ``ConfigError`` for a ``BATON_OFFLINE`` value that is neither."""
        return self.offline or self.routing.mode == "offline" or bool(parse_offline_env(os.environ))


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _coerce(key: str, value: str, hint: Any) -> Any:
    text = value.strip()
    try:
        if hint is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(value)
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
        if hint is str:
            return value
        if hint == list[str] and key in COMMA_LISTS:  # "a,b,c"; "" empties the list
            return [part.strip() for part in value.split(",") if part.strip()]
    except ValueError:
        rule = RULES.get(key)
        allowed = rule[1] if rule else describe_type(hint)
        raise UsageError(f"{key} = {shown(value)} is not {describe_type(hint)}: {key} must be {allowed}; "
                         f"`baton config get {key}` shows the current value") from None
    raise UsageError(f"{key} cannot be set from the command line; edit the config file")


def _migrate(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """Ordered migrations of the on-disk format. Version 1 is the first format."""
    version = raw.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ConfigError(f"{path}: version = {shown(version)} is not valid: version must be a whole number "
                          f">= 1 (this Baton writes {SETTINGS_VERSION}); fix it in the file")
    if version > SETTINGS_VERSION:
        raise ConfigError(
            f"config {path} was written by a newer Baton (version {version}); upgrade Baton or move the file away"
        )
    raw["version"] = SETTINGS_VERSION
    return raw


def _build(cls: Any, raw: dict[str, Any], prefix: str, rule_prefix: str, path: Path | None,
           unknown: list[str]) -> Any:
    """A ``cls`` from a parsed table, every value checked; unknown keys appended to ``unknown``."""
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown.extend(prefix + k for k in raw if k not in known)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        key = prefix + f.name
        if f.name not in raw:
            if f.default is MISSING and f.default_factory is MISSING:
                table = prefix.rstrip(".") or "the file"
                raise ConfigError(f"{_where(path)}{table} has no {f.name}: every [[endpoints]] table needs name, "
                                  f"base_url and model; add it or remove the endpoint with `baton endpoints remove`")
            continue
        val, hint = raw[f.name], hints[f.name]
        if is_dataclass(hint):
            if not isinstance(val, dict):
                raise ConfigError(f"{_where(path)}{key} = {shown(val)} is not valid: {key} must be a table "
                                  f"([{key}] with its settings); fix it in the file")
            val = _build(hint, val, key + ".", rule_prefix + f.name + ".", path, unknown)
        elif f.name == "endpoints" and cls is Settings:
            if not isinstance(val, list) or not all(isinstance(e, dict) for e in val):
                raise ConfigError(f"{_where(path)}endpoints = {shown(val)} is not valid: endpoints must be a list "
                                  "of [[endpoints]] tables (or absent); add them with `baton endpoints add`")
            val = [_build(Endpoint, e, f"endpoints[{i}].", "endpoints.", path, unknown) for i, e in enumerate(val)]
        else:
            check_value(key, rule_prefix + f.name, val, hint, where=path)
            if hint is float:
                val = float(val)
            elif hint == list[str]:
                val = list(val)
        kwargs[f.name] = val
    return cls(**kwargs)


def _check_endpoint_names(endpoints: list[Endpoint], path: Path | None) -> None:
    seen: set[str] = set()
    for i, ep in enumerate(endpoints):
        if ep.name in seen:
            raise ConfigError(f"{_where(path)}endpoints[{i}].name = {shown(ep.name)} is used twice: every endpoint "
                              "needs its own name; rename or remove one")
        seen.add(ep.name)


def _where(path: Path | None) -> str:
    return f"{path}: " if path is not None else ""


def _strip_none(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _strip_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_strip_none(v) for v in d]
    return d


# ---- format-keeping edits -------------------------------------------------------------------
def _merge_table(table: Any, data: dict[str, Any], defaults: dict[str, Any] | None) -> None:
    """Write ``data`` into a tomlkit table in place: a key changes only when its value differs from
    what the file says (or, when absent, from ``defaults``); keys not in ``data`` are left alone."""
    for key, value in data.items():
        default = None if defaults is None else defaults.get(key, MISSING)
        if isinstance(value, dict):
            if key not in table:
                if default is not MISSING and default is not None and value == default:
                    continue
                table[key] = tomlkit.table()
            sub = table[key]
            if not isinstance(sub, dict):
                table[key] = tomlkit.table()
                sub = table[key]
            _merge_table(sub, value, default if isinstance(default, dict) else None)
        elif key == "endpoints" and isinstance(value, list):
            _merge_endpoints(table, value)
        else:
            if key in table:
                current = table[key]
                current = current.unwrap() if hasattr(current, "unwrap") else current
                if current == value and isinstance(current, bool) == isinstance(value, bool):
                    continue
            elif defaults is not None and default is not MISSING and default == value:
                continue
            table[key] = value


_ENDPOINT_DEFAULTS = {f.name: f.default for f in fields(Endpoint) if f.default is not MISSING}


def _merge_endpoints(doc: Any, endpoints: list[dict[str, Any]]) -> None:
    existing = doc.get("endpoints")
    old = list(existing) if isinstance(existing, list) else []
    if not endpoints and not old:
        return
    by_name = {t.get("name"): t for t in old if isinstance(t, dict)}
    aot = tomlkit.aot()
    for ep in endpoints:
        t = by_name.get(ep["name"])
        if t is None:
            t = tomlkit.table()
            _merge_table(t, ep, defaults=None)
        else:
            _merge_table(t, ep, defaults=_ENDPOINT_DEFAULTS)
        aot.append(t)
    if "endpoints" in doc:
        del doc["endpoints"]
    if endpoints:
        doc["endpoints"] = aot

