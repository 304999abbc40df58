"""`baton bench route --tiers A,B,C` end to end on the committed code-ladder results (no model runs; the answers'
grades come from the committed grade cache, the sandbox is still found as it would be for new answers)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from baton.bench.fixtures import LARGE, STRONG
from baton.cli import main
from baton.core.engine.defaults import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[2]
CODE = ROOT / "bench" / "data" / "code-dev.jsonl"


def test_ladder_document_on_the_committed_code_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("BATON_HOME", str(tmp_path / "home"))
    cache = tmp_path / "cache"
    shutil.copytree(ROOT / "bench" / "route" / "cache", cache)
    fixtures = ROOT / ".venv" / "fixtures"
    tiers = f"{DEFAULT_MODEL.id},{fixtures / STRONG.name},loopback:{fixtures / LARGE.name}"
    assert main(["bench", "route", "--data", str(CODE), "--cache-dir", str(cache), "--tiers", tiers, "--no-run",
                 "--json", "--limit", "60"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["n"] >= 30
    assert [t["tier"] for t in doc["tiers"]] == doc["tier_models"] and len(doc["tiers"]) == 3
    assert doc["acc_weak"] == doc["tiers"][0]["accuracy"] and doc["acc_strong"] == doc["tiers"][2]["accuracy"]
    # the small model is near useless on code and the larger coder better than the middle one, as measured
    assert doc["tiers"][0]["accuracy"] < 0.15 < doc["tiers"][1]["accuracy"] < doc["tiers"][2]["accuracy"]
    for name in ("baton", "random", "oracle", "always_first", "always_tier2", "always_last"):
        assert name in doc["routers"]
    b = doc["routers"]["baton"]
    assert 0.0 <= b["strong_calls_at_default"] <= 1.0 and abs(sum(b["answered_by_tier_at_default"]) - 1.0) < 1e-6
    assert b["apgr"] > 0.5  # better than random over the whole curve
    assert "without_verification" in doc and "baton" in doc["without_verification"]["routers"]


def test_ladder_needs_two_tiers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("BATON_HOME", str(tmp_path / "home"))
    assert main(["bench", "route", "--data", str(CODE), "--tiers", DEFAULT_MODEL.id, "--no-run"]) != 0
    err = capsys.readouterr().err
    assert "at least two tiers" in err and "Traceback" not in err
