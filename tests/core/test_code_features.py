"""The router's code features: what a code question shows and what its answer's checks say, with the right values."""

from __future__ import annotations

import math

from baton.core.router.code_features import code_answer_features, code_prompt_features
from baton.core.router.features import ANSWER_NAMES, PROMPT_NAMES, answer_features, prompt_vector
from baton.core.verify import Verification

MBPP = "Write a python function to add two numbers.\nYour code should pass this test:\nassert add(1, 2) == 3"
HUMANEVAL = 'def double(x: int) -> int:\n    """Twice x.\n    >>> double(2)\n    4\n    """\n'
GOOD = "```python\ndef add(a, b):\n    return a + b\n```"


def test_prompt_features_of_code_questions() -> None:
    f = code_prompt_features(MBPP, "code")
    assert f["code_python"] == 1.0 and f["code_signature"] == 0.0 and f["code_doctest"] == 0.0
    assert f["code_examples"] == math.log1p(1)
    h = code_prompt_features(HUMANEVAL, "code")
    assert h["code_signature"] == 1.0 and h["code_doctest"] == 1.0 and h["code_examples"] == math.log1p(1)
    assert code_prompt_features("f(3) should return 9. Write f in python.", "code")["code_examples"] == math.log1p(1)


def test_not_code_means_zeros_and_names_are_stable() -> None:
    assert set(code_prompt_features("What is 2 + 2?", "arithmetic").values()) == {0.0}
    assert set(code_answer_features("What is 2 + 2?", "4", "arithmetic").values()) == {0.0}
    assert set(prompt_vector(MBPP)) == set(PROMPT_NAMES)
    assert set(answer_features(MBPP, GOOD, "stop", None)) == set(ANSWER_NAMES)


def test_answer_checks() -> None:
    good = code_answer_features(MBPP, GOOD, "code")
    assert good["code_block"] == 1.0 and good["code_parses"] == 1.0 and good["code_defines_asked"] == 1.0
    assert good["ver_ran"] == 0.0  # not run unless a verification is given
    wrong_name = code_answer_features(MBPP, "```python\ndef plus(a, b):\n    return a + b\n```", "code")
    assert wrong_name["code_defines_asked"] == 0.0
    broken = code_answer_features(MBPP, "```python\ndef add(a, b)\n    return a +\n```", "code")
    assert broken["code_parses"] == 0.0
    prose = code_answer_features(MBPP, "You can add the numbers with the plus sign.", "code")
    assert prose["code_block"] == 0.0 and prose["code_parses"] == 0.0


def test_verification_features() -> None:
    passed = code_answer_features(MBPP, GOOD, "code", Verification("passed", 1, 1, ""))
    assert (passed["ver_ran"], passed["ver_pass"], passed["ver_fail"], passed["ver_frac"]) == (1.0, 1.0, 0.0, 1.0)
    failed = code_answer_features(MBPP, GOOD, "code", Verification("failed", 1, 3, ""))
    assert (failed["ver_ran"], failed["ver_pass"], failed["ver_fail"]) == (1.0, 0.0, 1.0)
    assert abs(failed["ver_frac"] - 1 / 3) < 1e-9
    off = code_answer_features(MBPP, GOOD, "code", Verification("not_run", 0, 0, "verification off"))
    assert off["ver_ran"] == 0.0
