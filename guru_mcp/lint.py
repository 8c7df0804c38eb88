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

from guru_mcp.code_scan import scan

__all__ = ["lint_python", "parse_python", "syntax_check"]


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
