"""Features for questions about code and their answers, beside the arithmetic ones in ``features``.

Prompt (stage one, no model, well under a millisecond): is it Python, how many worked examples it carries
(``assert`` lines, doctest ``>>>`` lines, "f(x) should return y": the ones verification would run), whether it
shows a signature to complete, how long the request is in words. Answer (stage two): is there code, does it parse, does it define the function the question names,
does it only repeat the question, how long it is, and the result of running the question's examples against it in
the sandbox (``baton.core.verify``): ran or not, all passed, some failed, the share passed. Every value is 0.0 for a
question that is not about code, so the arithmetic models are unaffected.
"""

from __future__ import annotations

import math
import re
from typing import Any

CODE_PROMPT_NAMES = ["code_python", "code_examples", "code_signature", "code_log_words", "code_doctest"]
CODE_ANSWER_NAMES = ["code_block", "code_parses", "code_defines_asked", "code_echo", "code_log_lines",
                     "ver_ran", "ver_pass", "ver_fail", "ver_frac"]

_PYTHON = re.compile(r"\bpython\b|\bdef \w+\s*\(|^\s*assert\b|>>>|^\s*(?:import|from) \w+", re.IGNORECASE | re.MULTILINE)
_DOCTEST = re.compile(r"^\s*>>>", re.MULTILINE)
_SIGNATURE = re.compile(r"^\s*def \w+\s*\(", re.MULTILINE)
_CODE_LINE = re.compile(r"^\s*(?:def |class |assert |>>>|import |from |@|return\b|[\w.]+\s*=)")
_WORD = re.compile(r"[A-Za-z]+")


def code_prompt_features(text: str, category: str) -> dict[str, float]:
    """``CODE_PROMPT_NAMES`` for a question in ``category`` (all 0.0 unless it is ``code``)."""
    if category != "code":
        return dict.fromkeys(CODE_PROMPT_NAMES, 0.0)
    prose = [ln for ln in text.splitlines() if ln.strip() and not _CODE_LINE.match(ln)]
    from baton.core.verify import extract_examples

    n_examples = len(extract_examples(text))  # the examples verification would run
    return {
        "code_python": 1.0 if _PYTHON.search(text) else 0.0,
        "code_examples": math.log1p(n_examples),
        "code_signature": 1.0 if _SIGNATURE.search(text) else 0.0,
        "code_log_words": math.log1p(sum(len(_WORD.findall(ln)) for ln in prose)),
        "code_doctest": 1.0 if _DOCTEST.search(text) else 0.0,
    }


def code_answer_features(question: str, answer: str, category: str, verification: Any = None) -> dict[str, float]:
    """``CODE_ANSWER_NAMES`` for ``answer`` to a ``category`` question (all 0.0 unless it is ``code``).
    ``verification``: a ``baton.core.verify.Verification`` (``state`` "passed" | "failed" | "not_run", ``passed``,
    ``total``) or ``None`` when the examples were not run."""
    out = dict.fromkeys(CODE_ANSWER_NAMES, 0.0)
    if category != "code":
        return out
    from baton.core.verify import read_code_answer

    code = read_code_answer(answer, question)
    out.update(code_block=float(code.has_block), code_parses=float(code.parses and bool(code.code.strip())),
               code_defines_asked=float(bool(code.defines_asked)), code_echo=float(code.echoes_question),
               code_log_lines=math.log1p(len([ln for ln in code.code.splitlines() if ln.strip()])))
    state = getattr(verification, "state", "not_run")
    total = int(getattr(verification, "total", 0) or 0)
    if state in ("passed", "failed") and total > 0:
        passed = int(getattr(verification, "passed", 0) or 0)
        out.update(ver_ran=1.0, ver_pass=float(state == "passed"), ver_fail=float(state == "failed"),
                   ver_frac=passed / total)
    return out
