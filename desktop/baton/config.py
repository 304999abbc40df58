"""User settings: a versioned dataclass saved as human-editable TOML.

API keys are never stored here (OS keyring or environment variables only).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

import tomli_w

from baton.core.errors import UsageError

SETTINGS_VERSION = 1
ROUTING_MODES = ("auto", "ask", "never", "offline")
PRIVACY_ACTIONS = ("refuse", "redact")


@dataclass
class EngineSettings:
    n_ctx: int = 4096
    n_threads: int = 0  # 0 = physical core count
    n_gpu_layers: int = -1  # -1 = let the fit planner decide
    max_tokens: int = 512
    temperature: float = 0.2


@dataclass
class RoutingSettings:
    mode: str = "auto"  # auto | ask | never | offline
    threshold: float = -1.0  # < 0 = use the calibrated default
    budget_usd_per_day: float = 1.0
    budget_wh_per_day: float = 0.0  # 0 = no limit
    privacy: str = "refuse"  # refuse | redact
    self_check: bool = False


@dataclass
class TelemetrySettings:
    cpu_tdp_w: float = 0.0  # 0 = guess from the CPU
    sample_hz: float = 4.0
    cpu_load_basis: str = "process"  # estimate's load: "process" (Baton's CPU time) or "system"
    idle_max_age_s: float = 600.0  # re-measure the idle baseline when it is older than this


@dataclass
class Endpoint:
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
    version: int = SETTINGS_VERSION
    default_model: str = ""  # "" = the packaged default model
    offline: bool = False
    model_dirs: list[str] = field(default_factory=list)
    engine: EngineSettings = field(default_factory=EngineSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    endpoints: list[Endpoint] = field(default_factory=list)

    # ---- persistence -------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> "Settings":
        if not path.exists():
            return cls()
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"config file {path} is not valid TOML ({e}); fix or delete it") from e
        raw = _migrate(raw)
        return _from_dict(cls, raw)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".toml.tmp")
        tmp.write_text(tomli_w.dumps(_strip_none(asdict(self))), encoding="utf-8")
        os.replace(tmp, path)

    # ---- dotted access for `baton config set` -------------------------------------------
    def get(self, key: str) -> Any:
        obj: Any = self
        for part in key.split("."):
            if not is_dataclass(obj) or part not in {f.name for f in fields(obj)}:
                raise UsageError(f"unknown setting '{key}'; see `baton config list`")
            obj = getattr(obj, part)
        return obj

    def set(self, key: str, value: str) -> None:
        *parents, leaf = key.split(".")
        obj: Any = self.get(".".join(parents)) if parents else self
        if not is_dataclass(obj) or leaf not in {f.name for f in fields(obj)}:
            raise UsageError(f"unknown setting '{key}'; see `baton config list`")
        hint = get_type_hints(type(obj))[leaf]
        setattr(obj, leaf, _coerce(key, value, hint))
        self.validate()

    def flat(self) -> dict[str, Any]:
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
        if self.routing.mode not in ROUTING_MODES:
            raise UsageError(f"routing.mode must be one of {', '.join(ROUTING_MODES)}")
        if self.routing.privacy not in PRIVACY_ACTIONS:
            raise UsageError(f"routing.privacy must be one of {', '.join(PRIVACY_ACTIONS)}")
        if self.engine.n_ctx < 256:
            raise UsageError("engine.n_ctx must be at least 256 tokens")

    def endpoint(self, name: str) -> Endpoint:
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        raise UsageError(f"no endpoint named '{name}'; add one with `baton endpoints add`")

    @property
    def is_offline(self) -> bool:
        return self.offline or self.routing.mode == "offline" or os.environ.get("BATON_OFFLINE") == "1"


def _coerce(key: str, value: str, hint: Any) -> Any:
    try:
        if hint is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if hint is int:
            return int(value)
        if hint is float:
            return float(value)
        if hint is str:
            return value
    except ValueError:
        raise UsageError(f"'{value}' is not a valid {getattr(hint, '__name__', hint)} for {key}") from None
    raise UsageError(f"{key} cannot be set from the command line; edit the config file")


def _migrate(raw: dict[str, Any]) -> dict[str, Any]:
    """Ordered migrations of the on-disk format. Version 1 is the first format."""
    version = int(raw.get("version", 1))
    if version > SETTINGS_VERSION:
        raise UsageError(
            f"config was written by a newer Baton (version {version}); upgrade Baton or move the file away"
        )
    raw["version"] = SETTINGS_VERSION
    return raw


def _from_dict(cls: Any, raw: dict[str, Any]) -> Any:
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in raw:
            continue
        val = raw[f.name]
        hint = hints[f.name]
        if is_dataclass(hint) and isinstance(val, dict):
            val = _from_dict(hint, val)
        elif f.name == "endpoints":
            val = [_from_dict(Endpoint, e) for e in val]
        kwargs[f.name] = val
    return cls(**kwargs)


def _strip_none(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _strip_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_strip_none(v) for v in d]
    return d
