"""What each running Baton process holds loaded, for `baton models` run from another process.

A service with resident models writes ``<cache>/resident/<pid>.json`` (atomically) whenever a model is loaded or
unloaded, and removes it when it closes; a reader lists the files of live processes and deletes those of
processes that are gone (a crash leaves one behind).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from baton.paths import atomic_write


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    except OSError:
        return False
    return True


def publish(folder: Path, entries: list[dict[str, Any]], pid: int | None = None) -> None:
    """Write this process's resident models (``Residency.describe`` entries); none removes the file. Never
    raises: a folder that cannot be written only hides them from other processes."""
    pid = os.getpid() if pid is None else pid
    path = Path(folder) / f"{pid}.json"
    try:
        if not entries:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps({"pid": pid, "models": entries}), what="the resident-models note")
    except Exception:  # noqa: BLE001 - HomeError or OSError: an informational file
        pass


def read_all(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """``{model file path: [entry + {"pid"}, ...]}`` for every live Baton process that holds the model loaded;
    the files of dead processes are removed."""
    out: dict[str, list[dict[str, Any]]] = {}
    try:
        files = sorted(Path(folder).glob("*.json"))
    except OSError:
        return out
    for f in files:
        try:
            pid = int(f.stem)
        except ValueError:
            continue
        if not _alive(pid):
            f.unlink(missing_ok=True)
            continue
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for entry in doc.get("models", []) if isinstance(doc, dict) else []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                out.setdefault(entry["path"], []).append({**entry, "pid": pid})
    return out
