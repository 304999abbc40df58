"""Feature vectors for the two stages.

Stage one sees only the prompt (``prompt_vector``); stage two adds what the local answer looks like
(``answer_features``): the per-token confidence the engine recorded, how the generation ended, and
format checks. Every feature is a float with a stable name so coefficients can be shipped as a dict.
"""

from __future__ import annotations

import math
import re
from typing import Any

from baton.core.router.categorize import CATEGORIES, categorize, last_number, numbers_in, prompt_features
from baton.core.router.code_features import (CODE_ANSWER_NAMES, CODE_PROMPT_NAMES, code_answer_features,
                                             code_prompt_features)
from baton.core.types import Completion, TokenSignals

PROMPT_NAMES = [
    "n_numbers", "max_digits", "min_digits", "total_digits", "op_add", "op_sub", "op_mul", "op_div", "n_ops",
    "log_words", "log_chars", "has_decimal", "addsub_digits", "mul_digits", "div_digits", "max_digits_sq",
    *(f"cat_{c}" for c in CATEGORIES), *CODE_PROMPT_NAMES,
]
SIGNAL_NAMES = [
    "mean_lp", "min_lp", "first_lp", "mean_entropy", "max_entropy", "log_tokens", "finish_length", "loop",
    "signals_missing",
]
FORMAT_NAMES = ["no_number", "echo_number", "log_answer_numbers", "refusal"]
ANSWER_NAMES = SIGNAL_NAMES + FORMAT_NAMES + CODE_ANSWER_NAMES
ALL_NAMES = PROMPT_NAMES + ANSWER_NAMES
MATH_CATEGORIES = ("arithmetic", "word_problem")

_REFUSAL = re.compile(r"\b(?:I (?:can(?:no|')t|am unable|don't know)|as an AI|I'm sorry|not sure)\b", re.IGNORECASE)


def last_user_text(messages: list[Any]) -> str:
    """The text of the last user message (accepts ChatMessage objects or dicts)."""
    for m in reversed(messages):
        role = m.get("role") if isinstance(m, dict) else getattr(m, "role", "")
        if role == "user":
            return (m.get("content") if isinstance(m, dict) else m.content) or ""
    return ""


def prompt_vector(text: str) -> dict[str, float]:
    """Stage one's features for a prompt: ``prompt_features`` plus a one-hot ``cat_<category>`` (the names in
    ``PROMPT_NAMES``)."""
    feats = prompt_features(text)
    cat = categorize(text)
    for c in CATEGORIES:
        feats[f"cat_{c}"] = 1.0 if c == cat else 0.0
    feats.update(code_prompt_features(text, cat))
    return feats


def signal_features(signals: TokenSignals | dict[str, Any] | None, finish_reason: str) -> dict[str, float]:
    """The token-confidence features (``SIGNAL_NAMES``) from the engine's ``TokenSignals`` (or their dict) and the
    finish reason: log-probs and entropies (0.0 when not read, and then ``signals_missing`` is 1), ``log_tokens``
    = log(1 + tokens), ``finish_length`` and ``loop`` as 0/1."""
    s = signals.as_dict() if isinstance(signals, TokenSignals) else dict(signals or {})
    n = int(s.get("n_tokens") or 0)
    missing = s.get("mean_top1_logprob") is None
    return {
        "mean_lp": float(s.get("mean_top1_logprob") or 0.0),
        "min_lp": float(s.get("min_top1_logprob") or 0.0),
        "first_lp": float(s.get("first_top1_logprob") or 0.0),
        "mean_entropy": float(s.get("mean_entropy") or 0.0),
        "max_entropy": float(s.get("max_entropy") or 0.0),
        "log_tokens": math.log1p(n),
        "finish_length": 1.0 if finish_reason == "length" else 0.0,
        "loop": 1.0 if (s.get("loop_detected") or finish_reason == "loop") else 0.0,
        "signals_missing": 1.0 if missing else 0.0,
    }


def format_features(question: str, answer: str) -> dict[str, float]:
    """Format checks: a math question answered without any number, an answer whose final number only
    repeats one of the question's numbers, how many numbers it juggles, and refusals."""
    cat = categorize(question)
    is_math = cat in MATH_CATEGORIES
    final = last_number(answer)
    q_nums = {n for n in (last_number(x) for x in numbers_in(question)) if n is not None}
    return {
        "no_number": 1.0 if is_math and final is None else 0.0,
        "echo_number": 1.0 if is_math and final is not None and final in q_nums else 0.0,
        "log_answer_numbers": math.log1p(len(numbers_in(answer))),
        "refusal": 1.0 if _REFUSAL.search(answer) else 0.0,
    }


def answer_features(question: str, text: str, finish_reason: str,
                    signals: TokenSignals | dict[str, Any] | None, verification: Any = None) -> dict[str, float]:
    """Stage two's answer features (``ANSWER_NAMES``): ``signal_features``, ``format_features`` and, for a code
    question, ``code_answer_features`` (with the examples' ``verification`` when they were run) of the answer
    ``text`` to ``question``."""
    out = signal_features(signals, finish_reason)
    out.update(format_features(question, text))
    out.update(code_answer_features(question, text, categorize(question), verification))
    return out


def completion_features(question: str, completion: Completion, verification: Any = None) -> dict[str, float]:
    """``answer_features`` of a ``Completion`` (its text, finish reason and signals) answering ``question``."""
    return answer_features(question, completion.text, completion.finish_reason, completion.signals, verification)
