"""Verification by execution: run an answer's code against the examples its question carries (what the router
may see), and grade a benchmark answer by every test of its task (what the router must not see), both in the
sandbox of :mod:`baton.core.verify.sandbox`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from baton.core.verify.code_answer import read_code_answer
from baton.core.verify.examples import extract_examples
from baton.core.verify.sandbox import Limits, Sandbox, SandboxError, SandboxUnavailable

STATES = ("passed", "failed", "not_run")

# The examples' runner, inside the sandbox. The answer runs in its own namespace (the examples run there too);
# its printing goes to /dev/null so that results reach stdout, each line tagged with a per-run token.
_RUNNER = """\
import os as _os, sys as _sys
_tag, _code, _examples = {tag!r}, {code!r}, {examples!r}
_out = _sys.stdout
_sys.stdout = open(_os.devnull, "w")

def _say(*parts):
    print(_tag, *(" ".join(str(p).split())[:300] for p in parts), file=_out, flush=True)

_ns = {{"__name__": "__main__", "__builtins__": __builtins__}}
try:
    exec(compile(_code, "answer.py", "exec"), _ns)
except BaseException as e:
    _say("load", type(e).__name__, e)
    raise SystemExit(3)
_say("load", "ok")
for _i, _src in enumerate(_examples):
    try:
        exec(compile(_src, "example%d.py" % (_i + 1), "exec"), _ns)
    except BaseException as e:
        _say("example", _i, "fail", type(e).__name__, e)
    else:
        _say("example", _i, "pass")
"""


@dataclass(frozen=True)
class Verification:
    """The result of checking an answer against its question's examples. ``state``: ``"passed"`` (every example
    passes), ``"failed"`` (at least one fails, or the code does not parse) or ``"not_run"``; ``passed`` and
    ``total``: examples passing and examples found; ``reason``: one line (why it was not run, or the first
    failure; empty when all pass)."""

    state: str
    passed: int
    total: int
    reason: str = ""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"verification state must be one of {', '.join(STATES)}, not {self.state!r}")

    @property
    def sentence(self) -> str:
        """For the receipt: "2 of 2 examples pass", "1 of 1 example passes", "not run: verification off"."""
        if self.state == "not_run":
            return f"not run: {self.reason}"
        if self.total == 1:
            return f"{self.passed} of 1 example passes"
        return f"{self.passed} of {self.total} examples pass"

    def to_dict(self) -> dict:
        """``{"state", "passed", "total", "reason", "sentence"}``, JSON-ready."""
        return {"state": self.state, "passed": self.passed, "total": self.total, "reason": self.reason,
                "sentence": self.sentence}


def _first_line(text: str, width: int = 80) -> str:
    line = text.strip().splitlines()[-1] if text.strip() else ""
    return line if len(line) <= width else line[:width - 1] + "…"


def verify_examples(question: str, answer: str, sandbox: Sandbox | SandboxUnavailable | None,
                    limits: Limits = Limits()) -> Verification:
    """Run ``answer``'s Python code against the examples in ``question``, all in one sandboxed program that
    reports each example; ``sandbox`` None means verification is off. Returns ``not_run`` (verification off,
    sandbox unavailable, no examples in the question, no Python code in the answer, or the sandbox failed to
    start), ``failed`` (code that does not parse, raises on loading, or fails an example; an example that had
    not reported when the wall-clock limit passed counts as failed) or ``passed``. Never raises for odd
    answers; blocks at most about ``limits.wall_s`` + 2 s."""
    if sandbox is None:
        return Verification("not_run", 0, 0, "verification off")
    if isinstance(sandbox, SandboxUnavailable):
        return Verification("not_run", 0, 0, f"sandbox unavailable ({sandbox.reason})")
    examples = extract_examples(question)
    if not examples:
        return Verification("not_run", 0, 0, "no examples in the question")
    total = len(examples)
    ca = read_code_answer(answer, question)
    if not ca.code.strip():
        return Verification("not_run", 0, total, "no Python code in the answer")
    if not ca.parses:
        return Verification("failed", 0, total, "the answer's code does not parse")
    tag = secrets.token_hex(8)
    program = _RUNNER.format(tag=tag, code=ca.code, examples=[e.source for e in examples])
    try:
        run = sandbox.run_python(program, limits)
    except (SandboxError, OSError) as e:
        return Verification("not_run", 0, total, f"sandbox failed ({e})")
    results: dict[int, str] = {}
    load = None
    for line in run.stdout.splitlines():
        parts = line.split(" ", 4)
        if not parts or parts[0] != tag:
            continue
        if parts[1] == "load":
            load = " ".join(parts[2:])
        elif parts[1] == "example" and len(parts) >= 4 and parts[2].isdigit():
            results[int(parts[2])] = "pass" if parts[3] == "pass" else " ".join(parts[4:]).strip() or "failed"
    passed = sum(1 for v in results.values() if v == "pass")
    if passed == total:
        return Verification("passed", passed, total, "")
    if load is not None and load != "ok":
        reason = f"the answer's code raises {load}"
    elif run.timed_out or run.killed:
        limit = {"wall_time": f"the {limits.wall_s:g} s time limit", "cpu_time": f"the {limits.cpu_s:g} s CPU limit",
                 "memory": f"the {limits.memory_mb} MB memory limit"}.get(run.killed or "", run.killed)
        reason = f"stopped by {limit} after {len(results)} of {total} examples"
    elif load is None:
        reason = f"the program ended early: {_first_line(run.stderr) or f'exit status {run.exit_code}'}"
    else:
        i = next(i for i in range(total) if results.get(i) != "pass")
        why = results.get(i, "did not report")
        reason = f"example {i + 1} fails: {_first_line(examples[i].source, 60)} ({why})"
    return Verification("failed", passed, total, reason[:300])


def grade_tests(answer: str, item: dict, sandbox: Sandbox, limits: Limits = Limits()) -> bool:
    """Grade ``answer`` for a benchmark task ``item`` (a line of code-dev.jsonl: ``question``, ``tests`` (list of
    str), ``setup`` (str), ``entry_point`` (str or None)): right when the answer's code (as
    :func:`read_code_answer` makes it), then ``setup``, then every test (HumanEval: the ``check`` function, and
    ``check(entry_point)`` appended when the tests do not call it) runs in the sandbox, exits 0 within
    ``limits`` and reaches its last line (an early ``os._exit(0)`` is not a pass). Raises TypeError when
    ``sandbox`` is not a Sandbox, KeyError when ``item`` lacks ``tests``, SandboxError when the sandbox fails to
    start."""
    if not isinstance(sandbox, Sandbox):
        raise TypeError(f"grading needs a working sandbox, not {sandbox!r}")
    tests = list(item["tests"])
    ca = read_code_answer(answer, item.get("question", ""))
    if not ca.parses:
        return False
    entry = item.get("entry_point")
    checks = "\n".join(tests)
    if entry and f"check({entry})" not in checks.replace(" ", "") and "def check(" in checks:
        checks += f"\ncheck({entry})"
    tag = secrets.token_hex(8)
    program = "\n\n".join([ca.code, item.get("setup") or "", checks, f"print({tag!r})\n"])
    run = sandbox.run_python(program, limits)
    lines = run.stdout.strip().splitlines()
    return run.ok and bool(lines) and lines[-1] == tag
