"""A lint for Python-code actions, run when an action is saved. A convenience, NOT a security boundary.

It catches the obvious things that the product's documentation says actions do not do — running other
programs (`os.system`, `subprocess`, `pty`), forking, native code (`ctypes`), and `os` beyond
`os.environ`/`os.getenv` — and says what to do instead, so an admin learns at save time rather than
from a failed run. It is trivial to get around (`getattr(__import__("o" + "s"), ...)`, `exec` of a
string, a library that shells out) and nothing relies on it: the sandbox container is what protects
the server (docs/architecture.md section 4).
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, replace

from guru_mcp.code_scan import CodeScan, scan

__all__ = ["SyntaxProblem", "check_code", "lint_python", "parse_python", "syntax_check"]


@dataclass(frozen=True)
class SyntaxProblem:
    """Why an action's code does not compile: what `check_code` returns instead of its scan."""

    line: int | None
    message: str


def parse_python(code: str, filename: str = "action.py") -> ast.Module:
    """The one parse of an action's code: its tree, which the lint and the save-time checks share.

    The tree is also compiled, for what only the compiler refuses (`return` outside a function,
    `break` outside a loop); compiling a tree does not parse the source again.

    Raises:
        SyntaxError: the code does not compile.
        ValueError: the source cannot be parsed at all (NUL bytes, on Pythons that say so this way).
    """
    tree = ast.parse(code, filename)
    compile(tree, filename, "exec", dont_inherit=True)
    return tree


def check_code(code: str, filename: str = "action.py") -> CodeScan | SyntaxProblem:
    """Everything the save-time checks need from an action's code, which is nothing but the text: parse
    and compile it (`parse_python`), then walk its tree once (`code_scan.scan`). The compiler's warnings
    come back in the scan's `warnings`.

    Raises:
        ValueError: the source cannot be parsed at all (see `parse_python`).
    """
    with warnings.catch_warnings(record=True) as caught:
        # What the compiler warns of (`x is 1`, an invalid escape) belongs in the save's report, not on
        # the stderr of whichever process happens to check the code.
        warnings.simplefilter("always")
        try:
            tree = parse_python(code, filename)
        except SyntaxError as exc:
            return SyntaxProblem(exc.lineno, exc.msg)
    found = scan(tree)
    said = dict.fromkeys(  # by line (the parser's and the compiler's come in two runs), once each
        f"line {w.lineno} of the code: {w.message}"
        for w in sorted(caught, key=lambda w: w.lineno)
        if issubclass(w.category, (SyntaxWarning, DeprecationWarning))
    )
    return replace(found, warnings=tuple(said)) if said else found


def syntax_check(code: str) -> str | None:
    """None if `code` compiles, else where and why it does not (`line 3, column 5: invalid syntax`)."""
    try:
        parse_python(code)
    except (SyntaxError, ValueError) as exc:
        return _syntax_problem(exc)
    return None


def _syntax_problem(exc: SyntaxError | ValueError) -> str:
    if not isinstance(exc, SyntaxError):  # e.g. NUL bytes in the source
        return f"the code: {exc}"
    where = f"line {exc.lineno}" if exc.lineno else "the code"
    if exc.lineno and exc.offset:
        where += f", column {exc.offset}"
    return f"{where}: {exc.msg}"


def lint_python(code: str | ast.Module) -> list[str]:
    """Problems found in an action's code, each naming its line and what to do instead; [] if none.

    `code` is the source, or its tree from `parse_python` (then it is not parsed again). A syntax error
    is reported as the only problem. Passing this lint proves nothing about safety.
    """
    if isinstance(code, str):
        try:
            tree = parse_python(code)
        except (SyntaxError, ValueError) as exc:
            return [f"syntax error at {_syntax_problem(exc)}"]
    else:
        tree = code
    return scan(tree).problems
