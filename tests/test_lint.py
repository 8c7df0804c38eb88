"""The save-time lint for Python actions: friendly messages, no false alarms on ordinary actions."""

from __future__ import annotations

import pytest

from guru_mcp.lint import lint_python, syntax_check


def test_an_ordinary_action_passes():
    code = (
        "import os\nimport json\nimport requests\n"
        "city = os.environ.get('city', 'Paris')\nkey = os.getenv('API_KEY')\n"
        "print(json.dumps({'city': city, 'has_key': key is not None, 'env': dict(os.environ)}))\n"
    )
    assert lint_python(code) == []


def test_from_os_import_environ_and_getenv_passes():
    assert lint_python("from os import environ, getenv\nprint(environ.get('A'), getenv('B'))\n") == []


@pytest.mark.parametrize(
    ("code", "needle"),
    [
        ("import os\nos.system('ls')", "os.system"),
        ("import os\nos.popen('ls').read()", "os.popen"),
        ("import os\nos.execv('/bin/sh', ['sh'])", "os.execv"),
        ("import os\nos.spawnl(os.P_WAIT, '/bin/true')", "os.spawnl"),
        ("import os\nos.fork()", "os.fork"),
        ("import os\nos.listdir('/')", "os.listdir"),
        ("import os as o\no.remove('/tmp/x')", "os.remove"),
        ("from os import system\nsystem('id')", "os.system"),
        ("import subprocess\nsubprocess.run(['id'])", "subprocess"),
        ("from subprocess import run", "subprocess"),
        ("import pty", "pty"),
        ("import ctypes.util", "ctypes"),
        ("__import__('subprocess').run(['id'])", "subprocess"),
        ("import importlib\nimportlib.import_module('ctypes')", "ctypes"),
    ],
)
def test_obvious_forbidden_uses_are_reported_with_their_line(code: str, needle: str):
    problems = lint_python(code)
    assert problems, code
    expected_line = next(i for i, text in enumerate(code.splitlines(), 1) if needle.split(".")[-1] in text)
    assert any(p.startswith(f"line {expected_line}:") and needle in p for p in problems), problems


def test_each_message_says_what_to_do_instead():
    problems = lint_python("import os\nimport subprocess\nos.system('x')\nos.listdir('/')\n")
    assert len(problems) == 3
    assert "do the work in Python" in problems[0]
    assert "os.environ" in problems[2] and "pathlib" in problems[2]


def test_a_syntax_error_is_the_only_problem_reported():
    problems = lint_python("import os\nos.system('x')\nprint(1\n")
    assert len(problems) == 1
    assert problems[0].startswith("syntax error at line 3")


def test_syntax_check_names_line_and_column():
    assert syntax_check("x = 1\n") is None
    message = syntax_check("x = 1\ny = (\n")
    assert message is not None and message.startswith("line 2")
    assert syntax_check("x = 1\n  y = 2\n").startswith("line 2, column")
