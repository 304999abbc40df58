"""The cheap categoriser, prompt features, answer checks and format features."""

from __future__ import annotations

import pytest

from baton.bench.collect import is_correct
from baton.core.router.categorize import categorize, last_number, prompt_features
from baton.core.router.features import answer_features, last_user_text, prompt_vector
from baton.core.types import ChatMessage, TokenSignals


@pytest.mark.parametrize("text, category", [
    ("What is 53 - 98?", "arithmetic"),
    ("What is 3 plus 4?", "arithmetic"),
    ("12 + 7 = ?", "arithmetic"),
    ("Compute 17*23", "arithmetic"),
    ("Tom has 3 bags with 4 apples each and eats 2 apples. How many apples are left?", "word_problem"),
    ("Tomorrow, 42 adults and 15 babies will be attending a function at Mia's restaurant. How many chairs "
     "does she need?", "word_problem"),
    ("Mr. Jackson's fourth-grade class has 27 students. How many packs will he need?", "word_problem"),
    ("Write a python function that reverses a list", "code"),
    ("def f(x):\n    return x + 1\nwhat does f(2) return?", "code"),
    ("Why does this throw a KeyError?", "code"),
    ("Explain photosynthesis in two sentences.", "prose"),
    ("Tell me a story about 3 dogs.", "prose"),
])
def test_categories(text: str, category: str):
    assert categorize(text) == category


def test_prompt_features_describe_without_solving():
    f = prompt_features("What is 5341 / 7?")
    assert f["n_numbers"] == 2 and f["max_digits"] == 4 and f["min_digits"] == 1 and f["total_digits"] == 5
    assert f["op_div"] == 1.0 and f["op_add"] == 0.0 and f["n_ops"] == 1
    g = prompt_features("What is 53 - 98?")
    assert g["op_sub"] == 1.0 and g["max_digits"] == 2
    v = prompt_vector("What is 53 - 98?")
    assert v["cat_arithmetic"] == 1.0 and v["cat_prose"] == 0.0


@pytest.mark.parametrize("text, number", [
    ("The answer is 1,234.", "1234"),
    ("53 - 98 = -45", "-45"),
    ("so 12.0.", "12"),
    ("It costs $3.50 in total", "3.5"),
    ("no number here", None),
    ("between 3 and 4, say 3.", "3"),
])
def test_last_number(text: str, number: str | None):
    assert last_number(text) == number


def test_answers_are_checked_by_the_last_number():
    assert is_correct("898 - 40 = 858", "858")
    assert is_correct("The total is 1,075", "1075")
    assert not is_correct("858 or maybe 859", "858")
    assert not is_correct("I don't know", "4")


def test_answer_features_format_checks():
    q = "What is 29 * 12?"
    f = answer_features(q, "It is a big number", "stop", TokenSignals(n_tokens=5, mean_top1_logprob=-0.4,
                                                                          min_top1_logprob=-2.0,
                                                                          first_top1_logprob=-0.1,
                                                                          mean_entropy=0.3, max_entropy=1.2))
    assert f["no_number"] == 1.0 and f["echo_number"] == 0.0 and f["mean_lp"] == -0.4 and f["signals_missing"] == 0
    echo = answer_features(q, "The answer is 12", "length", None)
    assert echo["echo_number"] == 1.0 and echo["finish_length"] == 1.0 and echo["signals_missing"] == 1.0
    prose = answer_features("Tell me about cats", "Cats are nice.", "stop", {"loop_detected": True})
    assert prose["no_number"] == 0.0 and prose["loop"] == 1.0


def test_last_user_text_reads_objects_and_dicts():
    msgs = [ChatMessage("system", "s"), ChatMessage("user", "first"), ChatMessage("assistant", "a"),
            ChatMessage("user", "second")]
    assert last_user_text(msgs) == "second"
    assert last_user_text([{"role": "user", "content": "hi"}]) == "hi"
    assert last_user_text([]) == ""
