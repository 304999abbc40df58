"""The calibrations Baton ships, read from ``baton/data/calibration.json`` (written by ``bench/route/fit_defaults.py``
from the cached, graded results in ``bench/route/cache``; do not edit by hand).

``two_tier``: the router without a ladder (SmolLM2-135M -> Qwen2.5-Coder-0.5B, fitted on the arithmetic and the code
dev sets). ``ladder``: one calibration per step of SmolLM2-135M -> Qwen2.5-Coder-0.5B -> Qwen2.5-Coder-1.5B.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from baton.core.router.scoring import Calibration


def _document() -> dict[str, Any]:
    """The shipped JSON document. Raises ``FileNotFoundError`` when the package lacks it (a broken install)."""
    return json.loads(resources.files("baton").joinpath("data", "calibration.json").read_text(encoding="utf-8"))


def shipped_calibration() -> Calibration:
    """The shipped two-tier calibration as the router's ``Calibration`` (a new object on every call)."""
    return Calibration.from_dict(_document()["two_tier"])


def shipped_ladder() -> list[Calibration]:
    """The shipped ladder calibrations, one per step, cheapest step first (new objects on every call)."""
    return [Calibration.from_dict(d) for d in _document()["ladder"]]


def shipped_ladder_tiers() -> list[str]:
    """The model labels of the ladder the shipped calibrations were fitted on, cheapest first."""
    return list(_document().get("ladder_tiers", []))
