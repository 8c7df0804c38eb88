"""The one walk over a Python action's tree (`guru_mcp.code_scan.scan`) finds exactly what the three
walks it replaced found: the lint's pre-pass and visitor, and the secret-read scan. The old walks are
kept here as they were, and both are run over a varied corpus: the example actions, the snippets of the
lint and save-check tests, edge cases of the ordering rules, and modules of the standard library."""

from __future__ import annotations

import ast
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from guru_mcp.code_scan import scan
from guru_mcp.lint import lint_python
from guru_mcp.save_checks import env_reads

REPO = Path(__file__).resolve().parents[1]

# -- the three walks as they were (guru_mcp/lint.py and guru_mcp/save_checks.py before the one walk) ---

OS_ALLOWED = frozenset({"environ", "getenv"})
_RUNS_PROGRAMS = (
    "runs other programs, which actions may not do; do the work in Python instead (e.g. `requests` for HTTP)"
)
_FORBIDDEN_MODULES = {
    "subprocess": _RUNS_PROGRAMS,
    "pty": "opens pseudo-terminals to run other programs; do the work in Python instead",
    "ctypes": "calls native code; use the preinstalled libraries instead",
}


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
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name in ("__import__", "import_module") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self._module(node, first.value)
        self.generic_visit(node)


def old_lint(tree: ast.Module) -> list[str]:
    linter = _Linter()
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


@dataclass(frozen=True)
class OldRead:
    name: str
    line: int
    has_fallback: bool


_READER_CALLS = {("os", "getenv"), ("environ", "get")}


def old_env_reads(tree: ast.AST) -> list[OldRead]:
    reads: list[OldRead] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            first = node.args[0].value
            if not isinstance(first, str):
                continue
            func = node.func
            fallback = len(node.args) > 1 or any(k.arg == "default" for k in node.keywords)
            if isinstance(func, ast.Attribute):
                owner = ast.unparse(func.value)
                if (owner.split(".")[-1], func.attr) in _READER_CALLS:
                    reads.append(OldRead(first, node.lineno, fallback))
            elif isinstance(func, ast.Name) and func.id == "getenv":
                reads.append(OldRead(first, node.lineno, fallback))
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
            and ast.unparse(node.value).endswith("environ")
        ):
            reads.append(OldRead(node.slice.value, node.lineno, False))
    return sorted(reads, key=lambda r: (r.line, r.name))


# -- the corpus -------------------------------------------------------------------------------------

EDGE_CASES = {
    # `import os.path` binds `os` only from where it stands (the visitor's order), `import os` everywhere
    "dotted_import_after_use": "os.listdir('/')\nimport os.path\nos.remove('x')\n",
    "dotted_alias": "p.join('a')\nimport os.path as p\np.exists('x')\nimport os as q\n",
    "plain_import_after_use": "o.listdir('/')\nimport os as o\n",
    "from_os": "from os import system, environ, getenv, path\nfrom os.path import join\nfrom . import os\n",
    "relative_import": "from .subprocess import run\nfrom ..os import system\n",
    "importers": (
        "__import__('subprocess')\nimportlib.import_module('ctypes.util')\nx.__import__('pty')\n"
        "__import__(name)\n__import__(b'subprocess')\n"
    ),
    "forbidden_modules": "import subprocess, pty as p, ctypes.wintypes\nimport os, os.path\n",
    "same_line_twice": "import os; os.system('a'); os.system('b'); os.fork()\n",
    # the same name read twice on one line, at different depths: ast.walk's order decides which is first
    "tie_depths": "f(g(os.environ['X']), os.getenv('X', 'd'))\nh(os.getenv('Y', 'd'), k(os.environ['Y']))\n",
    "tie_same_depth": "a = (os.environ['Z'], os.environ.get('Z', 1), os.getenv('Z'))\n",
    "owners": (
        "(a + b.os).getenv('A')\n(x if c else y.environ).get('B', 2)\n(await z.os).getenv('C')\n"
        "d['k.os'].getenv('D')\nf().os.getenv('E')\ng().getenv('F')\nos.path.getenv('G')\n"
        "(-v.environ).get('H')\n'a.environ'.get('I')\n(lambda: os).getenv('J')\n"
        "(data or {}).get('K')\n(a or os).getenv('L')\n(x or kos).getenv('M')\n"
        "(a if b else (c or os)).getenv('N')\n(a and (b or environ)).get('O')\n(not os).getenv('P')\n"
    ),
    "subscripts": (
        "environ['A']\nmy_environ['B']\nx.environ['C']\nf()['D']\ne[0]['E']\n(a or b.environ)['F']\n"
        "'environ'['G']\nos.environ[name]\nos.environ[1]\n(x := environ)['H']\n(a or {})['I']\n"
        "(a or my_environ)['J']\n(a or environ.copy())['K']\n(a - b.xenviron)['L']\n"
    ),
    "getenv_forms": (
        "getenv('A')\ngetenv(B)\ngetenv(1)\ngetenv()\nos.getenv('C', default=None)\n"
        "os.environ.get('D', default='x')\nos.environ.get('E', other=1)\nos.environ.get(*args)\n"
    ),
    "nested_scopes": (
        "import os as o\n\n\ndef f():\n    import os.path as p\n    return o.walk('.'), p.join('a')\n\n\n"
        "class C:\n    x = [o.environ[k] for k in o.listdir('/')]\n    lam = lambda: o.getenv('LAMBDA', 1)\n"
    ),
    "match_and_fstrings": (
        "import os\nmatch os.name:\n    case 'posix' if os.getenv('M'):\n        pass\n"
        "print(f\"{os.environ['F']} {os.uname()}\")\n"
    ),
}

TEST_SNIPPETS = [
    "import os\nimport json\nimport requests\ncity = os.environ.get('city', 'Paris')\nkey = os.getenv('API_KEY')\n",
    "from os import environ, getenv\nprint(environ.get('A'), getenv('B'))\n",
    "import os\nos.spawnl(os.P_WAIT, '/bin/true')",
    "import os as o\no.remove('/tmp/x')",
    "import importlib\nimportlib.import_module('ctypes')",
    "import os\nimport subprocess\nos.system('x')\nos.listdir('/')\n",
    "import os\nprint(os.environ['CITY'], os.environ['GURUBASE_USER_EMAIL'], os.environ['HOME'],\n"
    "      os.environ.get('HTTPS_PROXY'), os.environ['lower_case_thing'])\n",
]

STDLIB_MODULES = [
    "os",
    "subprocess",
    "shutil",
    "tempfile",
    "ast",
    "argparse",
    "pathlib",
    "platform",
    "sysconfig",
    "webbrowser",
    "getpass",
    "mailcap",
    "pty",
    "site",
    "uuid",
    "ctypes/util",
    "multiprocessing/util",
    "asyncio/unix_events",
    "importlib/util",
    "logging/config",
    "distutils/util",
]


def corpus() -> dict[str, str]:
    out = dict(EDGE_CASES)
    out.update({f"test_snippet_{i}": code for i, code in enumerate(TEST_SNIPPETS)})
    for path in sorted((REPO / "actions").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for item in doc if isinstance(doc, list) else [doc]:
            if "code" in item.get("config", {}):
                out[f"action_{item['name']}"] = item["config"]["code"]
    stdlib = Path(os.__file__).parent
    for name in STDLIB_MODULES:
        path = stdlib / f"{name}.py"
        if path.exists():
            out[f"stdlib_{name}"] = path.read_text(encoding="utf-8")
    return out


CORPUS = corpus()


def test_the_corpus_is_varied():
    """Enough of each kind of finding that agreement means something."""
    problems = sum(len(old_lint(ast.parse(code))) for code in CORPUS.values())
    reads = sum(len(old_env_reads(ast.parse(code))) for code in CORPUS.values())
    assert len(CORPUS) > 40 and problems > 200 and reads > 50, (len(CORPUS), problems, reads, sys.version)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_one_walk_finds_what_the_three_walks_found(name: str):
    tree = ast.parse(CORPUS[name])
    found = scan(tree)
    assert found.problems == old_lint(tree)
    assert [(r.name, r.line, r.has_fallback) for r in found.reads] == [
        (r.name, r.line, r.has_fallback) for r in old_env_reads(tree)
    ]
    # The public functions are the one walk too.
    assert lint_python(tree) == found.problems and env_reads(tree) == found.reads


def test_a_tie_on_one_line_is_broken_as_ast_walk_broke_it():
    """The first read of a name decides between an error and a warning, so the order is behaviour."""
    reads = scan(ast.parse(EDGE_CASES["tie_depths"])).reads
    assert [(r.name, r.has_fallback) for r in reads] == [("X", True), ("X", False), ("Y", True), ("Y", False)]


def test_an_os_module_bound_by_a_dotted_import_counts_only_after_it():
    assert scan(ast.parse(EDGE_CASES["dotted_import_after_use"])).problems == [
        "line 2: `os.path` is not allowed: actions use `os` only for `os.environ` and `os.getenv` (parameters "
        "and secrets arrive as environment variables); for files in /tmp use `open()` or `pathlib`",
        "line 3: `os.remove` is not allowed: actions use `os` only for `os.environ` and `os.getenv` "
        "(parameters and secrets arrive as environment variables); for files in /tmp use `open()` or "
        "`pathlib`",
    ]
