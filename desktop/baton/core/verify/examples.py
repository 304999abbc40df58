"""The examples a question carries, as small Python checks: ``assert`` lines (MBPP's "Your code should pass this
test:"), doctest ``>>>`` lines with their expected output (HumanEval docstrings), and prose such as
``f(3) should return 9``, ``f(3) returns 9``, ``f(3) -> 9``, ``f(3) => 9``, ``f(3) = 9`` or ``f(3) == 9``;
a doctest line ``>>> f(3) == 9`` with no output below it counts as a check too.

Each :class:`Example` holds code that raises (AssertionError or another exception) when the example fails. An
expected value must be a Python literal (``ast.literal_eval``); a prose call's arguments must be literals too, so
``is_happy(a) => False`` (an unquoted string) or ``f(5) -> 19 - 5 - 6 = 8`` (a worked sum) are left out rather
than turned into checks a right answer would fail. Floats compare with ``math.isclose`` (relative 1e-6).
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CALL_START = re.compile(r"(?<![\w.])([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)\(")
_ARROW = re.compile(r"\s*(should\s+return|should\s+be|should\s+give|returns|gives|==>|=>|->|==|=(?!=))\s*", re.I)
_FUNCTION_NAMED = re.compile(r"\bfunction\s+(?:called\s+|named\s+)?`?([A-Za-z_]\w*)`?\s*\(", re.I)
_BUILTINS = frozenset(dir(builtins))
_STUB_TAIL = ("pass", "...")


@dataclass(frozen=True)
class Example:
    """One example of a question. ``source``: Python that raises (AssertionError, or any other exception) when
    the answer's code gets it wrong; it runs after the answer's code, in the same namespace. ``kind``:
    ``"assert"``, ``"doctest"`` or ``"prose"``."""

    source: str
    kind: str


def code_blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of ``text`` as ``(language tag lowercased, body)`` pairs, in order; an unclosed
    fence runs to the end of the text (a reply cut at the token limit)."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def question_code(question: str) -> str:
    """The Python code shown in a question: its fenced blocks (tagged python or untagged) joined; empty when
    there are none."""
    parts = [body for lang, body in code_blocks(question) if lang in ("", "python", "py", "python3")]
    return "\n\n".join(p.rstrip() for p in parts)


def is_stub(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """True when a function's body is only a docstring, ``pass`` or ``...`` (the function to complete)."""
    for stmt in fn.body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and (
                isinstance(stmt.value.value, str) or stmt.value.value is Ellipsis):
            continue
        return False
    return True


def asked_name(question: str) -> str | None:
    """The name of the function the question asks for, or None: the function to complete in its code (the last
    top-level ``def`` whose body is only a docstring, else the last ``def``), else the first function (not a
    builtin) called in its ``assert`` lines, doctests or prose examples, else "function NAME(" in its text."""
    tree = parse_or_none(question_code(question))
    if tree is not None:
        defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        stubs = [d for d in defs if is_stub(d)]
        if stubs or defs:
            return (stubs or defs)[-1].name
    for ex in _asserts(question) + _doctests(question) + _prose(question, None):
        name = _called_name(ex.source)
        if name:
            return name
    m = _FUNCTION_NAMED.search(question)
    return m.group(1) if m else None


def extract_examples(question: str) -> list[Example]:
    """Every example found in ``question`` (asserts, then doctests, then prose), without duplicates; an empty
    list when it carries none. Never raises on odd text."""
    out: list[Example] = []
    asserts, doctests = _asserts(question), _doctests(question)
    named = asked_name(question)
    for ex in asserts + doctests + _prose(question, named):
        if ex.source not in {e.source for e in out}:
            out.append(ex)
    return out


def parse_or_none(code: str) -> ast.Module | None:
    """The module ``code`` parses to, or ``None`` for blank text or code that does not parse."""
    if not code.strip():
        return None
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def _called_name(source: str) -> str | None:
    """The first called plain name in ``source`` that is not a builtin."""
    tree = parse_or_none(source)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in _BUILTINS:
            return node.func.id
    return None


def _asserts(question: str) -> list[Example]:
    out = []
    for line in question.splitlines():
        s = line.strip()
        if not (s.startswith("assert ") or s.startswith("assert(")):
            continue
        tree = parse_or_none(s)
        if tree is not None and len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert):
            out.append(Example(s, "assert"))
    return out


def _literal(text: str) -> tuple[bool, object]:
    try:
        return True, ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def _check(call: str, expected: str, value: object) -> str:
    if isinstance(value, float):
        return f"assert __import__('math').isclose(({call}), ({expected}), rel_tol=1e-6, abs_tol=1e-9)"
    return f"assert ({call}) == ({expected})"


def _doctests(question: str) -> list[Example]:
    """Doctest examples: ``>>> expr`` (with ``...`` continuation lines) and the expected output below it, up to
    a blank line, the next prompt or the docstring's end; statements (``>>> x = 3``) become set-up for the
    examples after them in the same run of prompts."""
    lines = question.splitlines()
    out: list[Example] = []
    setup: list[str] = []
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if not s.startswith(">>>"):
            if not s:
                setup = []
            i += 1
            continue
        src = [s[3:].strip()]
        i += 1
        while i < len(lines) and lines[i].strip().startswith("..."):
            src.append(lines[i].strip()[3:].lstrip(" ") if lines[i].strip() != "..." else "")
            i += 1
        expected: list[str] = []
        while i < len(lines):
            t = lines[i].strip()
            if not t or t.startswith(">>>"):
                break
            ends = t.endswith('"""') or t.endswith("'''")
            t = t[:-3].rstrip() if ends else t
            if t:
                expected.append(t)
            i += 1
            if ends:
                break
        code = "\n".join(src)
        tree = parse_or_none(code)
        if tree is None:
            continue
        is_expr = len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
        if not expected:
            if is_expr and _is_equality(tree.body[0].value):  # ">>> f(2) == 4": meant as a check
                out.append(Example("\n".join([*setup, f"assert {code}"]), "doctest"))
            elif not is_expr or not isinstance(tree.body[0].value, ast.Call):
                setup.append(code)
            continue
        if not is_expr or _is_print(tree.body[0].value):
            continue
        for k in range(1, len(expected) + 1):
            ok, value = _literal("\n".join(expected[:k]))
            if ok:
                check = _check(code, "\n".join(expected[:k]), value)
                out.append(Example("\n".join([*setup, check]), "doctest"))
                break
    return out


def _is_equality(node: ast.expr) -> bool:
    return (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)
            and isinstance(node.left, ast.Call))


def _is_print(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"


def _depths(text: str, start: int = 0, depth: int = 0):  # noqa: ANN202 - a generator of (int, int, bool)
    """``(index, bracket depth after it, inside a string)`` for each character from ``start``, skipping escaped
    characters in strings; stops after a bracket closes below depth 0."""
    quote, i = "", start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        yield i, depth, bool(quote)
        if depth < 0:
            return
        i += 1


def _close_paren(text: str, start: int) -> int | None:
    """Index just past the parenthesis that closes the one at ``start - 1``, skipping strings; None if none."""
    return next((i + 1 for i, depth, in_str in _depths(text, start, 1) if depth == 0 and not in_str), None)


def _literal_prefix(text: str) -> tuple[str, object, str] | None:
    """The longest Python literal at the start of ``text`` that ends where a word ends, with its value and what
    follows; a trailing sentence full stop is left out ("9." is 9)."""
    ends = []
    for i, depth, in_str in _depths(text):
        if depth == 0 and not in_str:
            nxt = text[i + 1:i + 2]
            if nxt == "" or nxt.isspace() or nxt in ",;" or (nxt == "." and text[i + 2:i + 3] in ("", " ", "\t")):
                ends.append(i + 1)
    for end in sorted(ends, reverse=True):
        cand = text[:end].strip()
        if not cand or cand.endswith(","):
            continue
        ok, value = _literal(cand)
        if not ok:
            continue
        if cand.endswith(".") and _literal(cand[:-1])[0]:
            cand, value, end = cand[:-1], _literal(cand[:-1])[1], end - 1
        return cand, value, text[end:]
    return None


def _literal_args(call: ast.Call) -> bool:
    args = [*call.args, *(k.value for k in call.keywords)]
    for a in args:
        try:
            ast.literal_eval(a)
        except (ValueError, SyntaxError, TypeError):
            return False
    return True


def _prose(question: str, named: str | None) -> list[Example]:
    """Prose examples: ``name(literal args) <arrow> literal`` where what follows the value is nothing, or
    punctuation, or a new clause; calls to builtins are left out, and calls to other functions than ``named``
    when it is known."""
    out = []
    for line in question.replace("`", "").splitlines():
        s = line.strip()
        if s.startswith((">>>", "assert", "def ", "...", "#")):
            continue
        pos = 0
        while (m := _CALL_START.search(s, pos)) is not None:
            end = _close_paren(s, m.end())
            if end is None:
                break
            pos = end
            name = m.group(1)
            arrow = _ARROW.match(s, end)
            if arrow is None or name in _BUILTINS or (named and name.split(".")[-1] != named):
                pos = m.end()
                continue
            got = _literal_prefix(s[arrow.end():])
            if got is None:
                continue
            expected, value, rest = got
            rest = rest.strip()
            if rest and not (rest[0] in ".,;(#" or re.match(r"(and|but|as|because|since|for|if|when|so)\b", rest)):
                continue
            call = s[m.start():end]
            tree = parse_or_none(call)
            if tree is None or not isinstance(tree.body[0], ast.Expr) or not isinstance(tree.body[0].value, ast.Call):
                continue
            if not _literal_args(tree.body[0].value):
                continue
            out.append(Example(_check(call, expected, value), "prose"))
            pos = arrow.end() + len(expected)
    return out
