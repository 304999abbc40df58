"""Verification by execution for Python answers: a bubblewrap sandbox, the examples a question carries, the code
an answer holds, and the two checks built on them (examples for the router, every test for the benchmark).

``find_sandbox()`` probes once and returns a :class:`Sandbox` or a :class:`SandboxUnavailable` (with its reason);
the caller keeps it. Answer code never runs in Baton's own process.
"""

from baton.core.verify.code_answer import CodeAnswer, read_code_answer
from baton.core.verify.examples import Example, asked_name, extract_examples
from baton.core.verify.sandbox import (Limits, RunResult, Sandbox, SandboxError, SandboxUnavailable,
                                       find_sandbox)
from baton.core.verify.verification import Verification, grade_tests, verify_examples

__all__ = ["CodeAnswer", "Example", "Limits", "RunResult", "Sandbox", "SandboxError", "SandboxUnavailable",
           "Verification", "asked_name", "extract_examples", "find_sandbox", "grade_tests", "read_code_answer",
           "verify_examples"]
