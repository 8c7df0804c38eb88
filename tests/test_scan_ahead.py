"""The code checks of a bulk import, done by a forked child (guru_mcp/scan_ahead.py): the same answers as
`lint.check_code` in the process, used only for the text they were made for, and nothing lost when the
child fails or is not started."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from guru_mcp import scan_ahead
from guru_mcp.lint import SyntaxProblem, check_code
from guru_mcp.scan_ahead import MIN_CODES, ScanAhead, usable_cores

CORPUS = [
    "import os\nprint(os.environ.get('CITY', 'Paris'), os.environ['API_KEY'])\n",
    "import subprocess\nsubprocess.run(['id'])\n",  # a lint problem
    "def f(:\n    pass\n",  # a syntax error
    "return 1\n",  # refused only by the compiler
    "x = 1\nif x is 1:\n    print('\\d')\n",  # two compiler warnings
    None,  # an item that is not a Python action
    "from os import getenv\nprint(getenv('TOKEN'))\n",
]


def _codes(n: int) -> list[str | None]:
    """n codes from the corpus, each made distinct by a numbered comment (None stays None)."""
    picked = [CORPUS[i % len(CORPUS)] for i in range(n)]
    return [None if code is None else f"{code}#{i}\n" for i, code in enumerate(picked)]


def _no_such_child(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


needs_two_cores = pytest.mark.skipif(usable_cores() < 2, reason="ScanAhead forks only with two usable cores")


@needs_two_cores
def test_the_child_answers_what_check_code_answers_in_the_process():
    codes = _codes(3 * MIN_CODES)
    with ScanAhead.start(codes) as scans:
        pid = scans._pid
        assert pid is not None  # forked
        answers = [scans.result(i, code) if code is not None else None for i, code in enumerate(codes)]
    assert answers == [check_code(code) if code is not None else None for code in codes]
    assert sum(a is not None for a in answers) == sum(c is not None for c in codes)
    kinds = {type(a) for a in answers if a is not None}
    assert SyntaxProblem in kinds and len(kinds) == 2, kinds
    assert _no_such_child(pid)  # collected and reaped


@needs_two_cores
def test_an_answer_is_used_only_for_the_text_it_was_made_for():
    codes = _codes(2 * MIN_CODES)
    with ScanAhead.start(codes) as scans:
        assert scans.result(0, codes[0] + "print('changed')\n") is None
        assert scans.result(0, codes[0]) == check_code(codes[0])
        assert scans.result(len(codes), codes[0]) is None  # past the end


def test_few_codes_are_checked_in_the_process():
    codes = _codes(MIN_CODES - 1)
    with ScanAhead.start(codes) as scans:
        assert scans._pid is None
        assert all(scans.result(i, c) is None for i, c in enumerate(codes) if c is not None)


@needs_two_cores
def test_a_failed_child_answers_nothing_and_the_caller_checks_everything(monkeypatch):
    def broken(fd, results):
        raise RuntimeError("the pipe broke")

    monkeypatch.setattr(scan_ahead, "_send", broken)  # in the forked child too
    codes = _codes(2 * MIN_CODES)
    with ScanAhead.start(codes) as scans:
        assert scans._pid is not None
        assert all(scans.result(i, c) is None for i, c in enumerate(codes) if c is not None)


@needs_two_cores
def test_code_the_child_cannot_check_is_left_to_the_caller(monkeypatch):
    real = scan_ahead.check_code

    def picky(code, filename="action.py"):
        if code.endswith("#0\n"):
            raise RecursionError("too deep")
        return real(code, filename)

    monkeypatch.setattr(scan_ahead, "check_code", picky)
    codes = _codes(2 * MIN_CODES)
    with ScanAhead.start(codes) as scans:
        assert scans.result(0, codes[0]) is None
        assert scans.result(1, codes[1]) == real(codes[1])


@needs_two_cores
def test_closing_before_collecting_stops_and_reaps_the_child():
    codes = _codes(20 * MIN_CODES)
    scans = ScanAhead.start(codes)
    pid = scans._pid
    assert pid is not None
    scans.close()
    scans.close()  # idempotent
    assert _no_such_child(pid)


def test_compiler_warnings_are_reported_by_line_not_printed():
    found = check_code("x = 1\nif x is 1:\n    print('\\d')\n")
    assert not isinstance(found, SyntaxProblem)
    assert found.warnings == (
        'line 2 of the code: "is" with a literal. Did you mean "=="?',
        "line 3 of the code: invalid escape sequence '\\d'",
    )
    assert check_code("print(1)\n").warnings == ()


def test_an_import_reports_the_same_with_or_without_the_second_core(tmp_path):
    """End to end through the installed command: once free to fork, once pinned to one CPU (no fork)."""
    if not hasattr(os, "sched_setaffinity") or usable_cores() < 2:
        pytest.skip("needs two usable cores and CPU affinity to compare the two paths")
    items = []
    for i in range(2 * MIN_CODES):
        code = CORPUS[i % len(CORPUS)]
        if code is None:
            items.append(
                {
                    "name": f"api_{i}",
                    "action_type": "API_CALL",
                    "config": {"endpoint": "http://127.0.0.1:9/x"},
                }
            )
        else:
            items.append({"name": f"py_{i}", "action_type": "PYTHON_CODE", "config": {"code": code}})
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps(items))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURU_MCP_")}
    env.update(GURU_MCP_HOME=str(tmp_path / "home"), GURU_MCP_SANDBOX_ENABLED="false")
    command = [sys.executable, "-m", "guru_mcp.cli", "actions", "import", "--dry-run", str(doc)]
    cpu = min(os.sched_getaffinity(0))
    free = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    pinned = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )
    assert free.returncode == pinned.returncode == 4, (free.stderr, pinned.stderr)  # refused: syntax and lint
    assert free.stderr == pinned.stderr and free.stdout == pinned.stdout
    assert "syntax error on line 1" in free.stderr and "'return' outside function" in free.stderr, free.stderr
    assert "subprocess" in free.stderr and "SyntaxWarning" not in free.stderr, free.stderr
