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

__all__ = ["lint_python", "parse_python", "syntax_check"]

OS_ALLOWED = frozenset({"environ", "getenv"})
_RUNS_PROGRAMS = (
    "runs other programs, which actions may not do; do the work in Python instead (e.g. `requests` for HTTP)"
)
_FORBIDDEN_MODULES = {
    "subprocess": _RUNS_PROGRAMS,
    "pty": "opens pseudo-terminals to run other programs; do the work in Python instead",
    "ctypes": "calls native code; use the preinstalled libraries instead",
}


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


def _os_message(attr: str) -> str:
    if attr in ("system", "popen") or attr.startswith(("exec", "spawn", "posix_spawn")):
        return f"`os.{attr}` {_RUNS_PROGRAMS}"
    if attr in ("fork", "forkpty"):
        return f"`os.{attr}` is not allowed; use threads or do the work in one process"
    return (
        f"`os.{attr}` is not allowed: actions use `os` only for `os.environ` and `os.getenv` (parameters and "
        "secrets arrive as environment variables); for files in /tmp use `open()` or `pathlib`"
    )


class _Linter(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problems: list[tuple[int, str]] = []
        self.os_names: set[str] = set()

    def add(self, node: ast.AST, message: str) -> None:
        self.problems.append((getattr(node, "lineno", 0), message))

    def _module(self, node: ast.AST, name: str) -> None:
        root = name.split(".", 1)[0]
        if root in _FORBIDDEN_MODULES:
            self.add(node, f"`{name}` {_FORBIDDEN_MODULES[root]}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(node, alias.name)
            if alias.name == "os" or alias.name.startswith("os."):
                if alias.name != "os":
                    self.add(node, _os_message(alias.name.split(".", 1)[1]))
                self.os_names.add(alias.asname or "os")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0:
            self._module(node, module)
            if module == "os":
                for alias in node.names:
                    if alias.name not in OS_ALLOWED:
                        self.add(node, _os_message(alias.name))
            elif module.startswith("os."):
                self.add(node, _os_message(module.split(".", 1)[1]))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if (
            isinstance(node.value, ast.Name)
            and node.value.id in self.os_names
            and node.attr not in OS_ALLOWED
        ):
            self.add(node, _os_message(node.attr))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        # __import__("subprocess"), importlib.import_module("subprocess")
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name in ("__import__", "import_module") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self._module(node, first.value)
        self.generic_visit(node)


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
    linter = _Linter()
    # Names bound to the os module anywhere count everywhere (a lint, not a scope analysis).
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "os":
                    linter.os_names.add(alias.asname or "os")
    linter.visit(tree)
    seen: set[tuple[int, str]] = set()
    out: list[str] = []
    for line, message in sorted(linter.problems, key=lambda p: p[0]):
        if (line, message) not in seen:
            seen.add((line, message))
            out.append(f"line {line}: {message}")
    return out
