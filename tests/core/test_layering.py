"""The core and the CLI import and work without Qt; only the llama engine touches llama_cpp in the product (the
speed benchmark's bare baseline may); the core never imports the benchmarks; the import-linter contracts hold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "desktop" / "baton"

NO_QT = r"""
import sys
sys.modules["PySide6"] = None
sys.modules["shiboken6"] = None
sys.modules["pyqtgraph"] = None
import importlib, pkgutil
import baton.cli, baton.core
for m in pkgutil.walk_packages(baton.core.__path__, "baton.core."):
    importlib.import_module(m.name)
for name in baton.commands.COMMAND_MODULES:
    importlib.import_module("baton.commands." + name)
from baton.cli import build_parser
build_parser()
print("ok")
"""


def test_core_cli_and_commands_import_with_qt_unavailable():
    proc = subprocess.run([sys.executable, "-c", NO_QT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_the_cli_answers_help_without_qt():
    code = 'import sys; sys.modules["PySide6"] = None; from baton.cli import main; raise SystemExit(main(["--help"]))'
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "ask" in proc.stdout


def test_only_the_llama_engine_imports_llama_cpp():
    pattern = re.compile(r"^\s*(from|import)\s+llama_cpp\b", re.M)
    users = sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if pattern.search(p.read_text()))
    assert users and all(u.startswith("core/engine/") for u in users), users  # benchmarks included
    assert "core/engine/llama.py" in users and "core/engine/reference.py" in users


def test_the_core_never_imports_the_benchmarks():
    import grimp

    graph = grimp.build_graph("baton")
    chains = graph.find_shortest_chains(importer="baton.core", imported="baton.bench", as_packages=True)
    assert not chains, sorted(chains)
    assert graph.find_modules_that_directly_import("baton.bench.collect")  # the graph does see bench's users


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, timeout=300, cwd=PKG.parents[1])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Layers:" in proc.stdout and "0 broken" in proc.stdout


def test_qt_is_imported_only_under_ui():
    pattern = re.compile(r"^\s*(from|import)\s+(PySide6|shiboken6|pyqtgraph)\b", re.M)
    users = {p.relative_to(PKG).parts[0] for p in PKG.rglob("*.py") if pattern.search(p.read_text())}
    assert users <= {"ui"}
