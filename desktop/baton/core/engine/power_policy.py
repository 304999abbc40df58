"""The battery policy: on battery, prefer the smaller model and fewer threads at once, and say so.

Pure decisions over plain values (the power state, model files, slot counts); the service applies them and puts
``PowerChoice.notes`` in the receipt. ``engine.battery_policy = "off"`` turns the policy off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton.core.engine.fit import fmt_gb
from baton.core.errors import ModelError
from baton.core.telemetry.power_state import PowerState, power_state

ModelRef = tuple[Path, str]  # (file, model id)


@dataclass
class PowerChoice:
    """What the policy decided: the model to use (None: the one asked for), the threads answered at once
    (``limit``), and the sentences for the receipt (empty on mains power)."""

    model: ModelRef | None = None
    limit: int = 1
    notes: list[str] = field(default_factory=list)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def battery_limit(parallel: int) -> int:
    """Threads answered at once on battery: half of ``parallel``, at least 1."""
    return max(1, int(parallel) // 2)


def choose(state: PowerState, policy: str, parallel: int, default: ModelRef | None,
           candidates: list[ModelRef]) -> PowerChoice:
    """The policy's choice. ``default``: the model a request that names none would use (None: the request named
    one, which is kept); ``candidates``: other models it may use instead (the packaged small model, resident
    ones). On battery with ``policy == "saver"`` the smallest candidate file replaces ``default`` when it is
    smaller, and ``limit`` is ``battery_limit(parallel)``; otherwise ``limit`` is ``parallel`` and nothing is
    said."""
    parallel = max(1, int(parallel))
    if policy != "saver" or not state.on_battery:
        return PowerChoice(None, parallel, [])
    swap: ModelRef | None = None
    said = ""
    if default is not None:
        base = _size(default[0])
        sized = sorted(((_size(p), i, (p, m)) for i, (p, m) in enumerate(candidates) if _size(p) > 0),
                       key=lambda t: (t[0], t[1]))
        if sized and base and sized[0][0] < base and sized[0][2][1] != default[1]:
            size, _, swap = sized[0]
            said = (f"answered by {swap[1]} ({fmt_gb(size)}) rather than the default {default[1]} "
                    f"({fmt_gb(base)})")
    limit = battery_limit(parallel)
    parts = [p for p in (said, f"at most {limit} of {parallel} threads answered at once" if limit < parallel
                         else "") if p]
    if not parts:
        return PowerChoice(None, limit, [])
    note = (f"{state.describe()}: {', '.join(parts)}; "
            "`baton config set engine.battery_policy off` keeps full power")
    return PowerChoice(swap, limit, [note])


def decide(engine_settings: Any, cache_dir: Path, residents: list[ModelRef],
           default: Callable[[], ModelRef] | None) -> PowerChoice:
    """``choose`` for this machine now: the power state read under ``BATON_SYSFS_ROOT`` (only when
    ``engine_settings.battery_policy`` is ``saver``), the resident models and the packaged small model as
    candidates. ``default``: resolves the model a request that names none would use (called only on battery);
    None when the request named its model."""
    from baton.paths import sysfs_root

    policy = str(engine_settings.battery_policy)
    state = power_state(sysfs_root()) if policy == "saver" else PowerState(False)
    base: ModelRef | None = None
    candidates = list(residents)
    if state.on_battery and default is not None:
        from baton.core.engine.defaults import DEFAULT_MODEL, default_model_path

        base = default()
        try:
            candidates.append((default_model_path(cache_dir), DEFAULT_MODEL.id))
        except ModelError:
            pass  # the packaged model is missing: the residents are the only candidates
    return choose(state, policy, int(engine_settings.parallel), base, candidates)
