"""Running answers against their question's examples (what the router sees) and grading them by every test of
the task (what the benchmark does), in the real sandbox, on real MBPP and HumanEval tasks."""

from __future__ import annotations

import json

import pytest

from baton.core.verify import Limits, Sandbox, SandboxUnavailable, Verification, grade_tests, verify_examples

BELOW_ZERO_RIGHT = ("```python\nfrom typing import List\n\ndef below_zero(operations: List[int]) -> bool:\n"
                    "    balance = 0\n    for op in operations:\n        balance += op\n        if balance < 0:\n"
                    "            return True\n    return False\n```")
BELOW_ZERO_WRONG = "```python\ndef below_zero(operations):\n    return sum(operations) < 0\n```"
REMOVE_OCC_RIGHT = ("```python\ndef remove_Occ(s, ch):\n"
                    "    i = s.find(ch)\n    if i >= 0:\n        s = s[:i] + s[i + 1:]\n"
                    "    j = s.rfind(ch)\n    if j >= 0:\n        s = s[:j] + s[j + 1:]\n    return s\n\n"
                    "print(remove_Occ('hello', 'l'))\n```")
REMOVE_OCC_WRONG = "```python\ndef remove_Occ(s, ch):\n    return s.replace(ch, '', 1)\n```"
TREE_RIGHT = ("```python\nclass Node:\n    def __init__(self, data):\n        self.data = data\n"
              "        self.left = None\n        self.right = None\n\n"
              "def height(n):\n    return 0 if n is None else 1 + max(height(n.left), height(n.right))\n\n"
              "def is_tree_balanced(root):\n    if root is None:\n        return True\n"
              "    return abs(height(root.left) - height(root.right)) <= 1 and is_tree_balanced(root.left) "
              "and is_tree_balanced(root.right)\n```")
TREE_WRONG = TREE_RIGHT.replace("<= 1", "<= 2")
FAST = Limits(cpu_s=3, wall_s=10)


def test_all_examples_pass(sandbox: Sandbox, code_items: dict[str, dict]) -> None:
    v = verify_examples(code_items["humaneval-3"]["question"], BELOW_ZERO_RIGHT, sandbox, FAST)
    assert v == Verification("passed", 2, 2, "")
    assert v.sentence == "2 of 2 examples pass"
    assert v.to_dict() == {"state": "passed", "passed": 2, "total": 2, "reason": "",
                           "sentence": "2 of 2 examples pass"}
    json.dumps(v.to_dict())


def test_some_examples_fail(sandbox: Sandbox, code_items: dict[str, dict]) -> None:
    v = verify_examples(code_items["humaneval-3"]["question"], BELOW_ZERO_WRONG, sandbox, FAST)
    assert (v.state, v.passed, v.total) == ("failed", 1, 2)
    assert v.sentence == "1 of 2 examples pass"
    assert v.reason.startswith("example 2 fails: assert (below_zero([1, 2, -4, 5])) == (True)")
    q = "Write cube(n).\ncube(2) should return 8\ncube(3) returns 27\ncube(-1) -> -1"
    v3 = verify_examples(q, "```python\ndef cube(n):\n    return 8 if n == 2 else 0\n```", sandbox, FAST)
    assert (v3.state, v3.passed, v3.total, v3.sentence) == ("failed", 1, 3, "1 of 3 examples pass")


def test_an_mbpp_example_with_usage_lines_in_the_answer(sandbox: Sandbox, code_items: dict[str, dict]) -> None:
    q = code_items["mbpp-11"]["question"]
    assert verify_examples(q, REMOVE_OCC_RIGHT, sandbox, FAST).sentence == "1 of 1 example passes"
    wrong = verify_examples(q, REMOVE_OCC_WRONG, sandbox, FAST)
    assert (wrong.state, wrong.sentence) == ("failed", "0 of 1 example passes")


def test_not_run_cases_say_why(sandbox: Sandbox, code_items: dict[str, dict]) -> None:
    q = code_items["humaneval-3"]["question"]
    off = verify_examples(q, BELOW_ZERO_RIGHT, None)
    assert (off.state, off.sentence) == ("not_run", "not run: verification off")
    none = verify_examples("How do I reverse a list in Python?", "```python\nxs.reverse()\n```", sandbox, FAST)
    assert (none.state, none.sentence) == ("not_run", "not run: no examples in the question")
    gone = verify_examples(q, BELOW_ZERO_RIGHT, SandboxUnavailable("user namespaces are disabled"))
    assert gone.sentence == "not run: sandbox unavailable (user namespaces are disabled)"
    prose = verify_examples(q, "I think you should loop over the operations.", sandbox, FAST)
    assert (prose.state, prose.sentence) == ("not_run", "not run: no Python code in the answer")


def test_code_that_does_not_parse_or_raises_on_loading_fails(sandbox: Sandbox, code_items: dict[str, dict]) -> None:
    q = code_items["humaneval-3"]["question"]
    broken = verify_examples(q, "```python\ndef below_zero(ops)\n    return False\n```", sandbox, FAST)
    assert (broken.state, broken.passed, broken.total) == ("failed", 0, 2)
    assert "does not parse" in broken.reason
    raising = verify_examples(q, "```python\nimport numpy_that_is_not_there\n" + BELOW_ZERO_RIGHT[10:], sandbox, FAST)
    assert raising.state == "failed" and "ModuleNotFoundError" in raising.reason


def test_a_hostile_answer_fails_its_examples_and_the_check_returns(sandbox: Sandbox,
                                                                   code_items: dict[str, dict]) -> None:
    q = code_items["humaneval-3"]["question"]
    loop = "```python\ndef below_zero(operations):\n    while True:\n        pass\n```"
    v = verify_examples(q, loop, sandbox, Limits(cpu_s=1, wall_s=10))
    assert (v.state, v.passed) == ("failed", 0)
    assert "CPU limit" in v.reason
    exits = "```python\nimport os\nos._exit(0)\n```"
    assert verify_examples(q, exits, sandbox, FAST).state == "failed"


@pytest.mark.parametrize(("task", "right", "wrong"), [
    ("mbpp-11", REMOVE_OCC_RIGHT, REMOVE_OCC_WRONG),
    ("mbpp-367", TREE_RIGHT, TREE_WRONG),
    ("humaneval-3", BELOW_ZERO_RIGHT, BELOW_ZERO_WRONG),
    ("humaneval-38", "```python\ndef decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n```",
     "```python\ndef decode_cyclic(s: str):\n    return encode_cyclic(s)\n```"),
])
def test_grading_by_every_test_of_a_real_task(sandbox: Sandbox, code_items: dict[str, dict], task: str,
                                              right: str, wrong: str) -> None:
    item = code_items[task]
    assert grade_tests(right, item, sandbox, FAST) is True
    assert grade_tests(wrong, item, sandbox, FAST) is False


def test_grading_completes_a_body_only_answer_and_refuses_early_exits(sandbox: Sandbox,
                                                                      code_items: dict[str, dict]) -> None:
    item = code_items["humaneval-3"]
    body = "    balance = 0\n    for op in operations:\n        balance += op\n        if balance < 0:\n" \
           "            return True\n    return False\n"
    assert grade_tests(body, item, sandbox, FAST) is True
    sneaky = BELOW_ZERO_WRONG.replace("```\n", "").rstrip("`") + "\nimport os\nos._exit(0)\n"
    assert grade_tests(f"```python\n{sneaky}\n```", item, sandbox, FAST) is False
    assert grade_tests("no code here", item, sandbox, FAST) is False
    no_call = dict(item, tests=[t.replace("check(below_zero)", "") for t in item["tests"]])
    assert grade_tests(BELOW_ZERO_WRONG, no_call, sandbox, FAST) is False  # check(entry_point) is added
    with pytest.raises(TypeError, match="working sandbox"):
        grade_tests(BELOW_ZERO_RIGHT, item, SandboxUnavailable("none"))  # type: ignore[arg-type]
