"""The headless command line. ``baton`` with no subcommand opens the desktop app.

Contract (see CONTRACT.md): ``--json`` output is one JSON document on stdout; human text and
progress go to stderr; exit 0 on success, 2 on bad usage, 1 on any other error with one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from baton import __version__
from baton.commands import COMMAND_MODULES
from baton.core.errors import BatonError, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="baton",
        description="Local-first AI with an honest receipt on every answer.",
    )
    parser.add_argument("--version", action="version", version=f"baton {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"baton.commands.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 2 bad usage, 1 any other error, 130 interrupted)."""
    argv = sys.argv[1:] if argv is None else argv
    from baton.commands.textio import check_argv, safe_for_terminal

    try:
        check_argv(argv)  # argv arrives with surrogateescape: bytes that are not UTF-8 stop here
    except UsageError as e:
        print(f"baton: {_one_line(str(e))}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv or ["gui"])
    from baton.commands.context import Context

    ctx = None
    try:
        ctx = Context.from_env()
        for warning in ctx.settings.warnings:
            print(f"baton: warning: {safe_for_terminal(warning)}", file=sys.stderr)
        return int(args.func(args, ctx) or 0)
    except UsageError as e:
        print(f"baton: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except BatonError as e:
        print(f"baton: {_one_line(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("baton: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as e:  # a disk or folder problem no layer turned into a BatonError: still one line
        where = f" ({e.filename})" if e.filename else ""
        print(f"baton: {e.strerror or e}{where}; check the disk and BATON_HOME, then try again", file=sys.stderr)
        return 1
    finally:
        if ctx is not None:
            ctx.close()


def _one_line(text: str) -> str:
    """An error message as one terminal-safe line (a server's own text may hold newlines or escapes)."""
    from baton.commands.textio import safe_for_terminal

    return safe_for_terminal(" ".join(text.splitlines()))


if __name__ == "__main__":
    raise SystemExit(main())
