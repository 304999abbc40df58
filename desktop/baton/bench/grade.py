"""Grading code answers for the route benchmark by running them, cached so a rerun is instant.

For every tier's answer to a code task two things are run in the sandbox (``baton.core.verify``), apart from each
other: the question's own examples (what the router may see: ``verify_examples``) and every test of the task, the
hidden ones too (what decides right or wrong: ``grade_tests``). Results are cached per (tier label, item id, hash
of the answer) in a JSON-lines file beside the tier's results.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from baton.bench.collect import ItemResult
from baton.core.errors import BatonError


def _key(label: str, item_id: str, text: str) -> str:
    return hashlib.sha256(f"{label}\0{item_id}\0{text}".encode()).hexdigest()[:20]


class GradeCache:
    """``{key: {"correct": bool, "verification": dict}}`` in an append-only JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self.rows[row["key"]] = row
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue

    def put(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        self.rows[row["key"]] = row


class Grader:
    """Grades results of code items; ``sandbox`` from ``find_sandbox()``. Raises ``BatonError`` when there is no
    sandbox (the benchmark never runs answers outside one)."""

    def __init__(self, cache_dir: Path) -> None:
        from baton.core.verify import SandboxUnavailable, find_sandbox

        self.sandbox = find_sandbox()
        if isinstance(self.sandbox, SandboxUnavailable):
            raise BatonError(f"code answers are graded by running them in a sandbox: {self.sandbox.reason}")
        self.cache = GradeCache(cache_dir / "grades.jsonl")

    def grade(self, label: str, item: dict[str, Any], r: ItemResult) -> tuple[ItemResult, dict[str, Any]]:
        """``r`` with ``correct`` set by running every test, and the examples' verification dict."""
        from baton.core.verify import grade_tests, verify_examples

        key = _key(label, item["id"], r.text)
        row = self.cache.rows.get(key)
        if row is None:
            v = verify_examples(item["question"], r.text, self.sandbox)
            row = {"key": key, "id": item["id"], "tier": label, "correct": bool(grade_tests(r.text, item, self.sandbox)),
                   "verification": v.to_dict()}
            self.cache.put(row)
        return replace(r, correct=bool(row["correct"])), dict(row["verification"])


def verification_of(d: dict[str, Any] | None) -> Any:
    """A ``Verification`` back from its dict (``None`` stays ``None``)."""
    if not d:
        return None
    from baton.core.verify import Verification

    return Verification(str(d.get("state", "not_run")), int(d.get("passed", 0)), int(d.get("total", 0)),
                        str(d.get("reason", "")))


def grade_all(grader: Grader, labels: list[str], items: list[dict[str, Any]],
              results: list[list[ItemResult]]) -> tuple[list[list[ItemResult]], list[list[dict[str, Any]]]]:
    """Every tier's results graded (``correct`` from the tests) and their verifications, aligned with ``results``."""
    graded, checks = [], []
    for s, label in enumerate(labels):
        g, c = [], []
        for n, (item, r) in enumerate(zip(items, results[s]), 1):
            rr, v = grader.grade(label, item, r)
            g.append(rr)
            c.append(v)
            if n % 50 == 0:
                print(f"bench route: graded {label} {n}/{len(items)}", file=sys.stderr, flush=True)
        graded.append(g)
        checks.append(c)
    return graded, checks
