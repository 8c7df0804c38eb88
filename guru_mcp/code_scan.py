"""One walk over a Python action's tree that gathers what every save-time check of its code needs: the
lint's problems (`guru_mcp.lint`) and the literal environment reads (`guru_mcp.save_checks`).

The checks used to walk the tree three times (the lint's pre-pass for names bound to `os`, the lint's
visitor, the secret-read scan); one walk costs a third. Each finding is the one the separate walks
made, in the same order: the lint's in the visitor's depth-first order, the reads in `ast.walk`'s
breadth-first order wherever their sort leaves a tie (tests/test_code_scan.py holds the three walks as
they were and compares them over a corpus). A convenience, NOT a security boundary (see `lint`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

__all__ = ["CodeScan", "EnvRead", "scan"]

OS_ALLOWED = frozenset({"environ", "getenv"})
_RUNS_PROGRAMS = (
    "runs other programs, which actions may not do; do the work in Python instead (e.g. `requests` for HTTP)"
)
_FORBIDDEN_MODULES = {
    "subprocess": _RUNS_PROGRAMS,
    "pty": "opens pseudo-terminals to run other programs; do the work in Python instead",
    "ctypes": "calls native code; use the preinstalled libraries instead",
}
_IMPORTERS = frozenset({"__import__", "import_module"})
_READER_CALLS = {("os", "getenv"), ("environ", "get")}
_OWNER_ENDINGS = ("os", "environ")  # what `_last_part` is compared with: `== "os"`, `.endswith("environ")`


@dataclass(frozen=True)
class EnvRead:
    name: str
    line: int
    has_fallback: bool
    """`os.environ.get('X', 'fallback')` / `os.getenv('X', ...)`: the code expects it may be absent."""


@dataclass(frozen=True)
class CodeScan:
    problems: list[str]
    """The lint's problems, each `line N: message`, sorted by line, without repeats."""
    reads: list[EnvRead]
    """Every literal read of an environment variable, sorted by line and name."""
    warnings: tuple[str, ...] = ()
    """What the compiler warned of, each `line N of the code: message` (filled in by `lint.check_code`)."""


def os_message(attr: str) -> str:
    if attr in ("system", "popen") or attr.startswith(("exec", "spawn", "posix_spawn")):
        return f"`os.{attr}` {_RUNS_PROGRAMS}"
    if attr in ("fork", "forkpty"):
        return f"`os.{attr}` is not allowed; use threads or do the work in one process"
    return (
        f"`os.{attr}` is not allowed: actions use `os` only for `os.environ` and `os.getenv` (parameters and "
        "secrets arrive as environment variables); for files in /tmp use `open()` or `pathlib`"
    )


def _module_problem(name: str) -> str | None:
    root = name.split(".", 1)[0]
    return f"`{name}` {_FORBIDDEN_MODULES[root]}" if root in _FORBIDDEN_MODULES else None


def _last_part(node: ast.expr) -> str:
    """`ast.unparse(node).split(".")[-1]` as far as the callers compare it (with `os` and `environ`),
    without unparsing the usual cases: a name is itself, an attribute ends with `.attr`, a call with
    `)` and a subscript with `]`; "" stands for anything that does not end like those names."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, (ast.Call, ast.Subscript)):
        return ""  # neither ends in a bare name
    # Only a name or an attribute puts letters at the end of unparsed code: without one that ends like
    # the names compared with (`os`, `environ`), no need to unparse (`(data or {}).get(...)`).
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name) and inner.id.endswith(_OWNER_ENDINGS):
            break
        if isinstance(inner, ast.Attribute) and inner.attr.endswith(_OWNER_ENDINGS):
            break
    else:
        return ""
    return ast.unparse(node).split(".")[-1]


# Fields that never hold a node, or hold none the checks look at (expression contexts, the aliases of an
# import, which its own node reads): not walked. Names and constants find nothing and have no children:
# not even visited (which changes neither the order nor the depth of the nodes that are); nor are the
# plain values some fields hold (None, strings, numbers).
_SKIPPED_FIELDS = frozenset(
    {"ctx", "id", "attr", "arg", "asname", "kind", "type_comment", "conversion", "level", "module", "names"}
)
_NOT_WALKED = frozenset({ast.Name, ast.Constant, type(None), str, int, bool})
_CHECKED = frozenset({ast.Call, ast.Attribute, ast.Subscript, ast.Import, ast.ImportFrom})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(cls: type) -> tuple[str, ...]:
    """The fields of `cls` to walk, last first (the walk pushes children on a stack)."""
    fields = _CHILD_FIELDS.get(cls)
    if fields is None:
        fields = tuple(f for f in reversed(getattr(cls, "_fields", ())) if f not in _SKIPPED_FIELDS)
        _CHILD_FIELDS[cls] = fields
    return fields


def scan(tree: ast.AST) -> CodeScan:
    """The lint's problems and the environment reads of one tree, in one depth-first walk."""
    # Lint problems in visiting order, as (line, message, "", 0); or, for an attribute of a name that
    # may be bound to `os` (known only once the walk is over), (line, attr, name, dotted imports so far).
    found: list[tuple[int, str, str, int]] = []
    os_names: set[str] = set()  # `import os [as x]` anywhere: counts everywhere
    dotted: dict[str, int] = {}  # `import os.path [as p]`: counts after it is visited, as the visitor did
    reads: list[tuple[int, str, int, int, bool]] = []  # line, name, depth, order: ast.walk's order on ties
    order = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        order += 1
        cls = type(node)
        if cls not in _CHECKED:
            pass
        elif isinstance(node, ast.Call):
            func, args = node.func, node.args
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                first = args[0].value
                if name in _IMPORTERS and (problem := _module_problem(first)):
                    found.append((node.lineno, problem, "", 0))
                if isinstance(func, ast.Attribute):
                    reader = name in ("getenv", "get") and (_last_part(func.value), name) in _READER_CALLS
                else:
                    reader = name == "getenv"
                if reader:
                    fallback = len(args) > 1 or any(k.arg == "default" for k in node.keywords)
                    reads.append((node.lineno, first, depth, order, fallback))
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.attr not in OS_ALLOWED:
                found.append((node.lineno, node.attr, node.value.id, len(dotted)))
        elif isinstance(node, ast.Subscript):
            key = node.slice
            if (
                isinstance(key, ast.Constant)
                and isinstance(key.value, str)
                and _last_part(node.value).endswith("environ")
            ):
                reads.append((node.lineno, key.value, depth, order, False))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if problem := _module_problem(alias.name):
                    found.append((node.lineno, problem, "", 0))
                if alias.name == "os":
                    os_names.add(alias.asname or "os")
                elif alias.name.startswith("os."):
                    found.append((node.lineno, os_message(alias.name.split(".", 1)[1]), "", 0))
                    dotted.setdefault(alias.asname or "os", len(dotted))
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            module = node.module or ""
            if problem := _module_problem(module):
                found.append((node.lineno, problem, "", 0))
            if module == "os":
                for alias in node.names:
                    if alias.name not in OS_ALLOWED:
                        found.append((node.lineno, os_message(alias.name), "", 0))
            elif module.startswith("os."):
                found.append((node.lineno, os_message(module.split(".", 1)[1]), "", 0))
        # Children pushed last first, so that they are visited in the visitor's order.
        depth += 1
        fields = _CHILD_FIELDS.get(cls)
        for field in _child_fields(cls) if fields is None else fields:
            child: Any = getattr(node, field, None)
            kind = type(child)
            if kind is list:
                for item in reversed(child):
                    if type(item) not in _NOT_WALKED:
                        push((item, depth))
            elif kind not in _NOT_WALKED:
                push((child, depth))
    problems: list[tuple[int, str]] = []
    for line, text, bound, seen in found:
        if not bound:
            problems.append((line, text))
        elif bound in os_names or dotted.get(bound, seen) < seen:
            problems.append((line, os_message(text)))
    problems.sort(key=lambda p: p[0])
    out: list[str] = []
    done: set[tuple[int, str]] = set()
    for entry in problems:
        if entry not in done:
            done.add(entry)
            out.append(f"line {entry[0]}: {entry[1]}")
    reads.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
    return CodeScan(out, [EnvRead(name, line, fallback) for line, name, _, _, fallback in reads])
