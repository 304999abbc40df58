"""A cheap categoriser and prompt features: regular expressions over the prompt, microseconds, no model.

Categories: ``arithmetic`` (a bare calculation), ``word_problem`` (a story with numbers asking for a
quantity), ``code`` (code or a programming request), ``prose`` (writing, explaining, everything else).
The features never compute an answer; they describe how the question looks (how many numbers, how
long they are, which operations), which is what says whether a small model stands a chance.
"""

from __future__ import annotations

import math
import re

CATEGORIES = ("arithmetic", "word_problem", "code", "prose")

_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_BINARY_OP = re.compile(r"(?<=[\d)\s])\s*([-+*/×÷^x])\s*(?=[\d(-])")
_OP_WORDS = {
    "plus": "+", "add": "+", "sum": "+", "minus": "-", "subtract": "-", "difference": "-",
    "times": "*", "multiply": "*", "multiplied": "*", "product": "*", "divide": "/", "divided": "/",
    "quotient": "/", "half": "/", "twice": "*", "double": "*", "percent": "*", "%": "*",
}
_CODE_HINTS = re.compile(
    r"```|\bdef \w+\s*\(|\bclass \w+\s*[:({]|\bfunction\s*\w*\s*\(|\breturn\b[^.?!]*;|^\s*(?:import|from) \w+|"
    r"#include|=>|\bconsole\.|\bprint\(|\w+\([^()]*\)\s*[{;]|[{};]\s*$|\b[A-Z]\w*Error\b|"
    r"\b(?:code|python|javascript|typescript|rust|golang|java|c\+\+|sql|regex|bash|shell script|compiler?|"
    r"stack trace|traceback|exception|segfault|refactor|unit tests?|api|json|yaml|dockerfile|git)\b",
    re.IGNORECASE | re.MULTILINE,
)
_QUANTITY_ASK = re.compile(r"\b(how (?:many|much|long|far|old)|what (?:is|was) the (?:total|number|cost|price)|"
                           r"calculate|compute|find|in total|altogether|left|remain)\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+")


def numbers_in(text: str) -> list[str]:
    """Numbers as written (thousands separators removed, sign kept)."""
    return [m.group(0).replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)]


def last_number(text: str) -> str | None:
    """The last number in a text, normalised: no thousands separators, ``12.0`` -> ``12``."""
    nums = numbers_in(text)
    if not nums:
        return None
    return normalize_number(nums[-1])


def normalize_number(s: str) -> str:
    """A number written as text in one canonical form: separators removed, whole values without ``.0`` (``1,000.0``
    -> ``1000``), other floats as ``repr``; text that is not a number comes back stripped."""
    s = s.replace(",", "").strip()
    try:
        v = float(s)
    except ValueError:
        return s
    if math.isfinite(v) and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _ops(text: str) -> dict[str, int]:
    ops = {"+": 0, "-": 0, "*": 0, "/": 0}
    for m in _BINARY_OP.finditer(text):
        sym = {"×": "*", "x": "*", "÷": "/", "^": "*"}.get(m.group(1), m.group(1))
        ops[sym] += 1
    for w in _WORD.findall(text.lower()):
        if w in _OP_WORDS:
            ops[_OP_WORDS[w]] += 1
    if "%" in text:
        ops["*"] += 1
    return ops


def categorize(text: str) -> str:
    """The question's category, one of ``CATEGORIES``: ``code`` (code-like text); with numbers in it,
    ``arithmetic`` (two numbers or more and at most two words besides "what is", "calculate" and the like, or
    fewer than 8 words with an operator) or ``word_problem`` (8 words or more, asking for a quantity or ending in
    ``?``); else ``prose``."""
    words = _WORD.findall(text)
    nums = numbers_in(text)
    if _CODE_HINTS.search(text):
        return "code"
    if nums:
        stripped = re.sub(r"(?i)\b(what|is|are|the|of|calculate|compute|evaluate|solve|answer|please)\b", "", text)
        if len(_WORD.findall(stripped)) <= 2 and len(nums) >= 2:
            return "arithmetic"
        if len(words) >= 8 and (_QUANTITY_ASK.search(text) or text.rstrip().endswith("?")):
            return "word_problem"
        if len(words) < 8 and sum(_ops(text).values()) > 0:
            return "arithmetic"
    return "prose"


def prompt_features(text: str) -> dict[str, float]:
    """Numeric features of a prompt, all cheap to compute and free of the answer."""
    nums = numbers_in(text)
    digits = [len(re.sub(r"\D", "", n)) for n in nums] or [0]
    ops = _ops(text)
    n_words = len(_WORD.findall(text))
    return {
        "n_numbers": float(len(nums)),
        "max_digits": float(max(digits)),
        "min_digits": float(min(digits)),
        "total_digits": float(sum(digits)),
        "op_add": float(ops["+"] > 0),
        "op_sub": float(ops["-"] > 0),
        "op_mul": float(ops["*"] > 0),
        "op_div": float(ops["/"] > 0),
        "n_ops": float(sum(ops.values())),
        "log_words": math.log1p(n_words),
        "log_chars": math.log1p(len(text)),
        "has_decimal": float(any("." in n for n in nums)),
        # how hard the calculation looks: digits by operation (a product of two 3-digit numbers is much
        # harder than their sum)
        "addsub_digits": float(ops["+"] > 0 or ops["-"] > 0) * max(digits),
        "mul_digits": float(ops["*"] > 0) * sum(digits),
        "div_digits": float(ops["/"] > 0) * max(digits),
        "max_digits_sq": float(max(digits)) ** 2,
    }
