"""The Python code in a model's answer, and the checks that need no running: a code block exists, the code
parses, it defines what the question names, it is not the question repeated.

How the program to run is put together (``CodeAnswer.code``):

1. The answer's fenced blocks tagged ``python``/``py``/``python3`` are joined in order, with untagged blocks
   that parse and hold more than a bare expression (an untagged block of printed output is left out); blocks
   in another language are left out. Without a fence, the answer itself when it parses and holds a statement
   (a ``def``, an import, an assignment...), else the longest run of lines from its first ``def``/``class``/
   ``import``/``from`` line that parses.
2. Example usage is dropped: top-level ``print(...)`` calls, ``if __name__ == "__main__":`` blocks, and
   top-level statements that call ``input()`` (stdin is empty in the sandbox). The answer's own asserts stay.
3. When the question shows code (HumanEval: the signature and docstring of the function to complete):
   - if the answer lacks the asked function but the question shows it as a stub, the answer is taken as the
     function's body: the question's code up to the stub, then the answer indented under it (HumanEval's own
     "prompt + completion"), when that parses;
   - the question's imports and its complete helper functions/classes the answer does not define itself are
     put before the answer's code (answers often drop ``from typing import List`` or a helper shown above).
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field

from baton.core.verify.examples import asked_name, code_blocks, is_stub, parse_or_none, question_code

_PY_TAGS = ("python", "py", "python3")
_START = re.compile(r"^\s*(def|class|import|from|async\s+def)\s")


@dataclass(frozen=True)
class CodeAnswer:
    """The code of an answer. ``code``: the program to run (see the module's docstring for how it is made;
    empty when the answer holds no Python); ``has_block``: the answer has a fenced code block; ``parses``:
    ``code`` is non-empty Python that ``ast`` parses; ``defined``: top-level functions, classes and assigned
    names of ``code``, in order; ``defines_asked``: whether ``code`` defines the function the question names
    (None when the question names none); ``echoes_question``: the answer's own code adds nothing to the
    question's (every statement is the question's, an import, or a function with only a docstring/``pass``);
    ``language``: ``"python"`` when Python was found, else the first block's tag, else None."""

    code: str
    has_block: bool
    parses: bool
    defined: list[str] = field(default_factory=list)
    defines_asked: bool | None = None
    echoes_question: bool = False
    language: str | None = None


def _compiles(code: str) -> bool:
    """Whether ``code`` compiles (parsing, plus what the compiler checks: ``return`` outside a function...);
    compiling runs nothing."""
    if not code.strip():
        return False
    try:
        compile(code, "<answer>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
        return False
    return True


def _substantial(tree: ast.Module) -> bool:
    """More than bare expressions (prose like "Yes" or printed output parses as an expression)."""
    return any(not isinstance(s, ast.Expr) for s in tree.body)


def _from_blocks(answer: str) -> tuple[str, str | None]:
    blocks = code_blocks(answer)
    tagged = [b for lang, b in blocks if lang in _PY_TAGS]
    untagged = [b for lang, b in blocks if not lang]
    usable = [b for b in untagged if (t := parse_or_none(textwrap.dedent(b))) is not None and _substantial(t)]
    if tagged or usable:
        parts = [textwrap.dedent(b).strip("\n") for lang, b in blocks if (lang in _PY_TAGS) or b in usable]
        return "\n\n".join(parts), "python"
    if untagged:
        return "\n\n".join(textwrap.dedent(b).strip("\n") for b in untagged), None
    return "", blocks[0][0] if blocks else None


def _from_text(answer: str) -> str:
    text = textwrap.dedent(answer).strip("\n")
    tree = parse_or_none(text)
    if tree is not None and _substantial(tree):
        return text
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _START.match(line)), None)
    if start is None:
        return ""
    for end in range(len(lines), start, -1):
        chunk = textwrap.dedent("\n".join(lines[start:end]))
        if (t := parse_or_none(chunk)) is not None and _substantial(t):
            return chunk.strip("\n")
    return ""


def _is_usage(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Compare):
        names = [stmt.test.left, *stmt.test.comparators]
        if any(isinstance(n, ast.Name) and n.id == "__name__" for n in names):
            return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Name) \
            and stmt.value.func.id == "print":
        return True
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return False
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "input"
               for n in ast.walk(stmt))


def _strip_usage(code: str) -> str:
    tree = parse_or_none(code)
    if tree is None:
        return code
    drop = set()
    for stmt in tree.body:
        if _is_usage(stmt):
            first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
            drop.update(range(first, (stmt.end_lineno or stmt.lineno) + 1))
    if not drop:
        return code
    kept = [line for i, line in enumerate(code.splitlines(), 1) if i not in drop]
    return "\n".join(kept).strip("\n")


def _defined(tree: ast.Module | None) -> list[str]:
    out: list[str] = []
    for stmt in tree.body if tree is not None else []:
        names: list[str] = []
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [stmt.name]
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        out.extend(n for n in names if n not in out)
    return out


def _echoes(code_tree: ast.Module | None, question: str) -> bool:
    if code_tree is None or not code_tree.body:
        return False
    shown = set()
    qtree = parse_or_none(question_code(question))
    for stmt in qtree.body if qtree is not None else []:
        shown.add(ast.dump(stmt))
    for line in question.splitlines():
        if (t := parse_or_none(line.strip())) is not None:
            shown.update(ast.dump(s) for s in t.body)
    for stmt in code_tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)) or ast.dump(stmt) in shown:
            continue
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and is_stub(stmt):
            continue
        return False
    return True


def _as_body(answer_code: str, qcode: str, stub: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The question's code up to the stub, with the answer indented as its body; None if that does not parse."""
    head = "\n".join(qcode.splitlines()[:stub.end_lineno])
    body = textwrap.indent(textwrap.dedent(answer_code).strip("\n"), " " * (stub.col_offset + 4))
    combined = f"{head}\n{body}\n"
    tree = parse_or_none(combined)
    if tree is None or not any(isinstance(s, type(stub)) and s.name == stub.name for s in tree.body):
        return None
    return combined


def _with_context(code: str, qtree: ast.Module, qcode: str) -> str:
    """The question's imports and complete helpers (not defined by ``code``) put before ``code``."""
    own = set(_defined(parse_or_none(code)))
    lines = qcode.splitlines()
    parts = []
    for stmt in qtree.body:
        is_helper = isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and stmt.name not in own \
            and not (isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and is_stub(stmt))
        if isinstance(stmt, (ast.Import, ast.ImportFrom)) or is_helper:
            first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
            parts.append("\n".join(lines[first - 1:stmt.end_lineno]))
    return "\n\n".join([*parts, code]) if parts else code


def read_code_answer(answer: str, question: str = "") -> CodeAnswer:
    """Read the Python code in ``answer`` (a model's reply, Markdown or bare code) for ``question`` (the text the
    user asked; empty when unknown). Never raises on odd text; see the module's docstring for what ``code``
    holds."""
    has_block = bool(code_blocks(answer))
    if has_block:
        own, language = _from_blocks(answer)
    else:
        own = _from_text(answer)
        language = "python" if own else None
    own = _strip_usage(own)
    own_tree = parse_or_none(own)
    asked = asked_name(question) if question else None
    qcode = question_code(question) if question else ""
    qtree = parse_or_none(qcode)
    code = own
    if qtree is not None:
        stubs = [s for s in qtree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == asked
                 and is_stub(s)]
        body_source = own or (answer.strip("\n") if not has_block else "")
        combined = None
        if asked and stubs and asked not in _defined(own_tree) and body_source:
            combined = _as_body(body_source, qcode, stubs[-1])
        if combined is not None:
            code, language = combined, "python"
        elif parse_or_none(code) is not None:
            code = _with_context(code, qtree, qcode)
    tree = parse_or_none(code)
    defined = _defined(tree)
    return CodeAnswer(code=code, has_block=has_block, parses=tree is not None and _compiles(code), defined=defined,
                      defines_asked=None if asked is None else asked in defined,
                      echoes_question=_echoes(own_tree, question), language=language)
