"""Reading a question's examples and an answer's code: no running involved."""

from __future__ import annotations

import ast

from baton.core.verify import Example, asked_name, extract_examples, read_code_answer


def _pairs(examples: list[Example]) -> list[tuple[str, object]]:
    """(call source, expected value) of each ``assert (call) == (expected)`` or ``isclose`` check."""
    out = []
    for ex in examples:
        test = ast.parse(ex.source).body[-1].test
        if isinstance(test, ast.Compare):
            out.append((ast.unparse(test.left), ast.literal_eval(test.comparators[0])))
        else:  # __import__('math').isclose(call, expected, ...)
            out.append((ast.unparse(test.args[0]), ast.literal_eval(test.args[1])))
    return out


def test_an_mbpp_question_gives_its_assert_line(code_items: dict[str, dict]) -> None:
    item = code_items["mbpp-11"]
    assert extract_examples(item["question"]) == [Example('assert remove_Occ("hello","l") == "heo"', "assert")]
    assert asked_name(item["question"]) == "remove_Occ"


def test_a_humaneval_docstring_gives_its_doctests(code_items: dict[str, dict]) -> None:
    examples = extract_examples(code_items["humaneval-3"]["question"])
    assert [e.kind for e in examples] == ["doctest", "doctest"]
    assert _pairs(examples) == [("below_zero([1, 2, 3])", False), ("below_zero([1, 2, -4, 5])", True)]
    assert asked_name(code_items["humaneval-3"]["question"]) == "below_zero"


def test_doctest_shapes_set_up_multi_line_output_checks_and_what_is_left_out() -> None:
    q = ('def pairs(xs):\n    """\n    >>> xs = [3, 1]\n    >>> pairs(xs)\n    [(1,\n      3)]\n'
         '    >>> pairs([]) == []\n    >>> print(pairs([]))\n    []\n    >>> pairs([2])\n    <object at 0x1>\n'
         '    >>> mean([1.0, 2.0])\n    1.5\n    """\n')
    examples = extract_examples(q)
    assert [e.kind for e in examples] == ["doctest"] * 3
    assert examples[0].source == "xs = [3, 1]\nassert (pairs(xs)) == ([(1,\n3)])"
    assert examples[1].source == "xs = [3, 1]\nassert pairs([]) == []"
    assert _pairs(examples[2:]) == [("mean([1.0, 2.0])", 1.5)]
    assert "isclose" in examples[2].source


def test_prose_forms_give_their_values() -> None:
    q = ("Write a function square(n). For example square(3) should return 9, square(4) returns 16.\n"
         "Also square(5) -> 25 and `square(6)` == 36; square(7) => 49.\nsquare(8) = 64\n"
         "square(-2) should be 4.\nhalf(3) should return 1.5 (not in the list: another function)")
    examples = extract_examples(q)
    assert {e.kind for e in examples} == {"prose"}
    assert _pairs(examples) == [("square(3)", 9), ("square(4)", 16), ("square(5)", 25), ("square(6)", 36),
                                ("square(7)", 49), ("square(8)", 64), ("square(-2)", 4)]
    assert asked_name(q) == "square"


def test_prose_that_is_not_a_checkable_example_is_left_out() -> None:
    q = ('def fruit(s: str, n: int) -> int:\n    """fruit("5 apples and 6 oranges", 19) ->19 - 5 - 6 = 8\n'
         '    is_happy(a) => False\n    len("abc") == 3\n    fruit("1 apple", 2) returns the count\n    """\n')
    assert extract_examples(q) == []
    assert extract_examples("What is a closure in Python?") == []
    assert asked_name("What is a closure in Python?") is None


def test_an_answer_in_a_fence_loses_its_usage_lines() -> None:
    answer = ("Here you go:\n```python\ndef f(x):\n    return x * 2\n\nprint(f(3))\n\nif __name__ == '__main__':\n"
              "    f(int(input()))\n```\nAnd the output:\n```\n6\n```\n")
    ca = read_code_answer(answer, "assert f(3) == 6")
    assert ca.code == "def f(x):\n    return x * 2"
    assert ca.has_block and ca.parses and ca.defined == ["f"] and ca.defines_asked is True
    assert not ca.echoes_question and ca.language == "python"


def test_bare_code_prose_only_and_another_language() -> None:
    bare = read_code_answer("Sure.\n\ndef g(a, b):\n    return a + b\n\nThis adds them.", "assert g(1, 2) == 3")
    assert bare.code == "def g(a, b):\n    return a + b" and bare.parses and not bare.has_block
    assert bare.defines_asked is True
    prose = read_code_answer("I am not sure how to do that.", "assert g(1, 2) == 3")
    assert prose.code == "" and not prose.parses and prose.defines_asked is False and prose.language is None
    js = read_code_answer("```javascript\nfunction g(a, b) { return a + b; }\n```", "assert g(1, 2) == 3")
    assert js.code == "" and js.language == "javascript" and js.has_block and not js.parses
    broken = read_code_answer("```python\ndef g(a, b):\n    return a +\n```", "assert g(1, 2) == 3")
    assert broken.has_block and not broken.parses
    unnamed = read_code_answer("```python\nx = 1\n```", "What is a variable?")
    assert unnamed.defines_asked is None and unnamed.defined == ["x"]


def test_humaneval_body_only_answer_is_completed_under_the_question_prefix(code_items: dict[str, dict]) -> None:
    item = code_items["humaneval-3"]
    body = "    balance = 0\n    for op in operations:\n        balance += op\n        if balance < 0:\n" \
           "            return True\n    return False\n"
    ca = read_code_answer(body, item["question"])
    assert ca.code.startswith(item["prefix"].rstrip("\n")) and ca.code.rstrip().endswith("return False")
    assert ca.parses and ca.defines_asked is True and not ca.echoes_question


def test_the_question_repeated_is_an_echo_and_the_prefix_imports_and_helpers_are_kept(
        code_items: dict[str, dict]) -> None:
    item = code_items["humaneval-3"]
    echo = read_code_answer(f"```python\n{item['prefix']}```", item["question"])
    assert echo.echoes_question and echo.defines_asked is True
    full = read_code_answer("```python\ndef below_zero(operations: List[int]) -> bool:\n    return False\n```",
                            item["question"])
    assert full.code.startswith("from typing import List") and not full.echoes_question
    helper = code_items["humaneval-38"]
    ca = read_code_answer("```python\ndef decode_cyclic(s):\n    return encode_cyclic(encode_cyclic(s))\n```",
                          helper["question"])
    assert ca.defined == ["encode_cyclic", "decode_cyclic"] and ca.defines_asked is True
    mbpp = read_code_answer('assert remove_Occ("hello","l") == "heo"', code_items["mbpp-11"]["question"])
    assert mbpp.echoes_question and mbpp.defines_asked is False
