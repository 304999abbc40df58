"""Privacy gate benchmark: recall and false-positive rate per kind, for Baton's gate and for
detect-secrets, on the same corpus (bench/privacy/corpus.py, lookalikes.py).

    .venv/bin/python bench/privacy/bench_privacy.py [--json]

Recall counts a secret as caught when the request is flagged at all (what ``refuse`` needs);
``redact_recall`` when, after redaction, neither the secret nor either half of it is left in any
message (what ``redact`` needs; for detect-secrets, each reported value is cut out of the text).
The false-positive rate is the share of look-alike requests flagged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "desktop")]

from bench.privacy.corpus import Case, corpus  # noqa: E402

Detector = Callable[[list[tuple[str, str]]], tuple[bool, list[str]]]  # messages -> (flagged, redacted contents)


def baton_detector(messages: list[tuple[str, str]]) -> tuple[bool, list[str]]:
    """Baton's gate on one request: (anything found, the contents after redaction)."""
    from baton.core.privacy import redact_messages
    from baton.core.types import ChatMessage

    out, findings = redact_messages([ChatMessage(r, c) for r, c in messages])
    return bool(findings), [m.content for m in out]


def detect_secrets_detector(messages: list[tuple[str, str]]) -> tuple[bool, list[str]]:
    """detect-secrets 1.5 (default plugins and filters) as its ``scan`` command runs on a file: each
    message is written to a temporary ``.txt`` file and scanned with ``SecretsCollection.scan_file``
    (``scan_line`` is its audit mode, which reports every word with entropy)."""
    import os
    import tempfile

    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    flagged, redacted = False, []
    with tempfile.TemporaryDirectory() as tmp, default_settings():
        for i, (_, content) in enumerate(messages):
            path = os.path.join(tmp, f"message{i}.txt")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(content)
            found = SecretsCollection(root=tmp)
            found.scan_file(f"message{i}.txt")
            values = [s.secret_value for _, s in found if s.secret_value]
            flagged = flagged or bool(values)
            for v in sorted(values, key=len, reverse=True):
                content = content.replace(v, "[REDACTED]")
            redacted.append(content)
    return flagged, redacted


def leaks(case: Case, contents: list[str]) -> bool:
    """True when a needle, or either half of one, is still in the redacted request."""
    for needle in case.needles:
        parts = [needle]
        if len(needle) >= 16:
            parts += [needle[:len(needle) // 2], needle[len(needle) // 2:]]
        if any(p in c for p in parts for c in contents):
            return True
    return False


def evaluate(detector: Detector, cases: list[Case]) -> dict[str, Any]:
    """Per-kind and overall ``recall``, ``redact_recall``, ``fpr`` with the counts behind them, and
    the shapes missed and look-alikes flagged."""
    per: dict[str, dict[str, Any]] = {}
    for case in cases:
        row = per.setdefault(case.kind, {"positives": 0, "caught": 0, "redacted": 0, "lookalikes": 0, "flagged": 0,
                                         "missed": [], "false_positives": []})
        flagged, contents = detector([*case.messages])
        if case.positive:
            row["positives"] += 1
            row["caught"] += flagged
            row["redacted"] += flagged and not leaks(case, contents)
            if not flagged or leaks(case, contents):
                row["missed"].append(case.shape)
        else:
            row["lookalikes"] += 1
            row["flagged"] += flagged
            if flagged:
                row["false_positives"].append(case.shape)
    total = {k: sum(r[k] for r in per.values()) for k in ("positives", "caught", "redacted", "lookalikes", "flagged")}
    for row in [*per.values(), total]:
        row["recall"] = row["caught"] / row["positives"] if row["positives"] else 1.0
        row["redact_recall"] = row["redacted"] / row["positives"] if row["positives"] else 1.0
        row["fpr"] = row["flagged"] / row["lookalikes"] if row["lookalikes"] else 0.0
    return {"kinds": dict(sorted(per.items())), "overall": total}


def main(argv: list[str]) -> int:
    cases = corpus()
    report: dict[str, Any] = {"cases": len(cases), "positives": sum(c.positive for c in cases),
                              "shapes": len({(c.kind, c.shape) for c in cases if c.positive}),
                              "baton": evaluate(baton_detector, cases)}
    try:
        report["detect_secrets"] = evaluate(detect_secrets_detector, cases)
    except ImportError as e:
        report["detect_secrets"] = {"error": f"detect-secrets is not installed ({e})"}
    if "--json" in argv:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['cases']} requests, {report['positives']} with a secret ({report['shapes']} shapes)")
    print(f"{'kind':18} {'baton recall':>12} {'redact':>7} {'fpr':>6} | {'d-s recall':>10} {'redact':>7} {'fpr':>6}")
    ds = report["detect_secrets"].get("kinds", {})
    rows = [*report["baton"]["kinds"].items(), ("OVERALL", report["baton"]["overall"])]
    for kind, b in rows:
        d = ds.get(kind) if kind != "OVERALL" else report["detect_secrets"].get("overall")
        dtxt = f"{d['recall']:>10.3f} {d['redact_recall']:>7.3f} {d['fpr']:>6.3f}" if d else "n/a"
        print(f"{kind:18} {b['recall']:>12.3f} {b['redact_recall']:>7.3f} {b['fpr']:>6.3f} | {dtxt}")
    for kind, b in report["baton"]["kinds"].items():
        if b["missed"] or b["false_positives"]:
            print(f"  baton {kind}: missed {b['missed']} flagged {b['false_positives']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
