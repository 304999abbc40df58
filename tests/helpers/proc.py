"""Run the real `baton` CLI as a subprocess with an isolated BATON_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def baton_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["BATON_HOME"] = str(home)
    env.pop("BATON_OFFLINE", None)
    env.update(extra)
    return env


def run_baton(home: Path, *args: str, timeout: float = 300, input: str | None = None,
              **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "baton", *args], capture_output=True, text=True,
                          timeout=timeout, env=baton_env(home, **env), input=input)


def run_json(home: Path, *args: str, **kw: Any) -> Any:
    proc = run_baton(home, *args, **kw)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
