"""What each setting may hold: its type and its allowed values, said in words a user can act on.

``check_value`` is used both when config.toml is loaded and by `baton config set`, so the file and
the command refuse the same values with the same line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from baton.errors import BatonError

ENDPOINT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OFFLINE_TRUE = ("1", "true", "yes", "on")
OFFLINE_FALSE = ("0", "false", "no", "off", "")


class ConfigError(BatonError):
    """config.toml (or a setting from the environment) holds a wrong type or value, or is not valid
    TOML. Not bad usage: the CLI exits 1 with this one line, which names the key and what it takes."""


def _finite(v: float) -> bool:
    return math.isfinite(v)


def _http_url(v: str) -> bool:
    try:
        parts = urlsplit(v.strip())
        return parts.scheme in ("http", "https") and bool(parts.hostname) and not (parts.username or parts.password)
    except ValueError:
        return False


# list settings `baton config set KEY "a,b,c"` takes as comma-separated text
COMMA_LISTS = frozenset({"routing.ladder"})


def _ladder_tier(v: str) -> bool:
    return bool(v.strip()) and v == v.strip() and "," not in v and not any(ord(c) < 32 for c in v)


# dotted key (endpoints.FIELD for every endpoint) -> (test, the allowed values in words)
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "engine.n_ctx": (lambda v: v == 0 or 16 <= v <= 10_000_000,
                     "0 (the model's trained context) or a whole number of tokens from 16 to 10000000 (e.g. 4096); "
                     "a value above the model's trained context is clamped to it"),
    "engine.n_threads": (lambda v: 0 <= v <= 4096,
                         "0 (one per physical core) or a number of threads from 1 to 4096 (more than this "
                         "machine's CPUs is clamped to them)"),
    "engine.parallel": (lambda v: 1 <= v <= 256, "how many threads one model answers at once, 1 to 256 (e.g. 4)"),
    "engine.n_gpu_layers": (lambda v: v >= -1, "-1 (the fit planner decides), 0 (CPU only) or a number of layers"),
    "engine.max_tokens": (lambda v: v >= 1, "a whole number of tokens >= 1 (e.g. 512)"),
    "engine.temperature": (lambda v: _finite(v) and 0.0 <= v <= 2.0, "a number from 0 to 2 (e.g. 0.2)"),
    "engine.model_ttl_s": (lambda v: _finite(v) and v >= 0,
                           "a number of seconds >= 0 (e.g. 600; 0 keeps a loaded model until Baton closes)"),
    "engine.warm_state_mb": (lambda v: 0 <= v <= 1_048_576,
                             "a whole number of megabytes from 0 to 1048576 (e.g. 1024; 0 saves no thread's cache)"),
    "engine.battery_policy": (lambda v: v in ("saver", "off"), "one of saver, off"),
    "routing.mode": (lambda v: v in ("auto", "ask", "never", "offline"), "one of auto, ask, never, offline"),
    "routing.threshold": (lambda v: _finite(v) and v <= 1.0,
                          "a number up to 1 (a confidence from 0 to 1; below 0: the calibrated default)"),
    "routing.budget_usd_per_day": (lambda v: _finite(v) and v >= 0, "a number of US dollars >= 0"),
    "routing.budget_wh_per_day": (lambda v: _finite(v) and v >= 0, "a number of watt-hours >= 0 (0: no limit)"),
    "routing.privacy": (lambda v: v in ("refuse", "redact"), "one of refuse, redact"),
    "routing.ladder": (lambda v: len(v) <= 8 and all(_ladder_tier(t) for t in v) and len(set(v)) == len(v),
                       "a list of at most 8 different tiers, cheapest first: model ids from `baton models`, .gguf "
                       "paths or endpoint names (e.g. \"smollm2-135m-instruct-q4_1,qwen-0.5b,my-endpoint\"; "
                       "empty: no ladder)"),
    "verify.mode": (lambda v: v in ("ask", "on", "off"), "one of ask, on, off"),
    "telemetry.cpu_tdp_w": (lambda v: _finite(v) and 0 <= v <= 5000, "a number of watts from 0 to 5000 (0: guess)"),
    "telemetry.sample_hz": (lambda v: _finite(v) and 0 < v <= 100, "a number of samples per second above 0, up to 100"),
    "telemetry.cpu_load_basis": (lambda v: v in ("process", "system"), "one of process, system"),
    "telemetry.idle_max_age_s": (lambda v: _finite(v) and v > 0, "a number of seconds above 0"),
    "endpoints.name": (lambda v: bool(ENDPOINT_NAME_RE.match(v)),
                       "letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)"),
    "endpoints.base_url": (_http_url, "an http:// or https:// URL with a host and no user or password"),
    "endpoints.model": (lambda v: bool(v.strip()), "the id of the model the endpoint serves (not empty)"),
    "endpoints.key_env": (lambda v: v == "" or bool(ENV_NAME_RE.match(v)),
                          "the NAME of an environment variable (e.g. OPENAI_API_KEY) or empty"),
    "endpoints.usd_per_mtok_in": (lambda v: _finite(v) and v >= 0, "a number of US dollars >= 0"),
    "endpoints.usd_per_mtok_out": (lambda v: _finite(v) and v >= 0, "a number of US dollars >= 0"),
    "endpoints.j_per_token": (lambda v: _finite(v) and v >= 0, "a number of joules >= 0"),
    "endpoints.context_window": (lambda v: v >= 256, "a whole number of tokens >= 256"),
    "endpoints.timeout_s": (lambda v: _finite(v) and v > 0, "a number of seconds above 0"),
}


def describe_type(hint: Any) -> str:
    """The type of a setting in words: ``int`` -> "a whole number"."""
    if hint is bool:
        return "true or false"
    if hint is int:
        return "a whole number"
    if hint is float:
        return "a number"
    if hint is str:
        return "text in quotes"
    if hint == list[str]:
        return "a list of text in quotes"
    return getattr(hint, "__name__", str(hint))


def shown(value: Any, limit: int = 40) -> str:
    """A value as it would look in TOML, cut to ``limit`` characters, control characters escaped."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "a table"
    else:
        try:
            text = json.dumps(value, ensure_ascii=True)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_ok(value: Any, hint: Any) -> bool:
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint == list[str]:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return True


def check_value(key: str, rkey: str, value: Any, hint: Any, where: Path | None) -> None:
    """Raise ``ConfigError`` unless ``value`` has the type ``hint`` and passes the rule for ``rkey``.

    ``key`` is the dotted key as the user sees it (``endpoints[1].base_url``); ``rkey`` the rule's key
    (``endpoints.base_url``); ``where`` the file, named at the start of the line when given."""
    prefix = f"{where}: " if where is not None else ""
    rule = RULES.get(rkey)
    fix = ("fix it in the file or with `baton endpoints add ... --replace`" if rkey.startswith("endpoints.")
           else f"fix it in the file or with `baton config set {key} VALUE`")
    if not _type_ok(value, hint):
        allowed = rule[1] if rule else describe_type(hint)
        raise ConfigError(f"{prefix}{key} = {shown(value)} is not {describe_type(hint)}: {key} must be "
                          f"{allowed}; {fix}")
    if hint is float and not math.isfinite(float(value)) and rule is None:
        raise ConfigError(f"{prefix}{key} = {shown(value)} is not a finite number; {fix}")
    if rule is not None and not rule[0](value):
        raise ConfigError(f"{prefix}{key} = {shown(value)} is not allowed: {key} must be {rule[1]}; {fix}")


def parse_offline_env(env: Mapping[str, str]) -> bool | None:
    """``BATON_OFFLINE`` as a switch: True for 1/true/yes/on, False for 0/false/no/off/empty (any case,
    surrounding whitespace ignored), None when unset. Raises ``ConfigError`` for anything else."""
    raw = env.get("BATON_OFFLINE")
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in OFFLINE_TRUE:
        return True
    if value in OFFLINE_FALSE:
        return False
    raise ConfigError(f"BATON_OFFLINE={shown(raw)} is not a switch: BATON_OFFLINE must be one of "
                      f"{', '.join(OFFLINE_TRUE)} (offline) or {', '.join(v for v in OFFLINE_FALSE if v)} or empty "
                      "(online); set it to one of these or unset it")
