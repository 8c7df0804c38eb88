"""How a runner's result line becomes an ExecResult (pure)."""

from __future__ import annotations

from guru_mcp.executors.sandbox_results import from_runner, needs_oom_check, tail
from guru_mcp.models import RunStatus


def runner_result(**overrides):
    result = {
        "exit_code": 0,
        "stdout": "42\n",
        "stderr": "",
        "stdout_truncated": False,
        "stderr_truncated": False,
        "error_kind": None,
        "duration_ms": 1.0,
    }
    result.update(overrides)
    return result


def convert(result, **kw):
    return from_runner(
        result, hosts=kw.pop("hosts", []), refused={}, output_limit=1024, memory_limit="512m", **kw
    )


def test_success_returns_stdout_as_text_and_the_documented_data():
    result = convert(runner_result(stderr="a warning\n"), hosts=["api.example.com"])
    assert result.status is RunStatus.OK and result.text == "42\n"
    assert result.data == {
        "success": True,
        "output": "42\n",
        "exit_code": 0,
        "truncated": False,
        "stderr": "a warning",
    }
    assert result.hosts == ["api.example.com"]


def test_truncated_output_is_flagged_and_noted_for_the_model():
    result = convert(runner_result(stdout="x" * 1024, stdout_truncated=True))
    assert result.truncated and result.data["truncated"] and result.data["output"] == "x" * 1024
    assert result.text.endswith("[output truncated at 1024 bytes]")


def test_a_non_zero_exit_is_an_error_with_the_stderr_tail_and_the_output_so_far():
    result = convert(runner_result(exit_code=2, stdout="partial\n", stderr="Traceback ...\nKeyError: 'x'\n"))
    assert result.status is RunStatus.ERROR
    assert result.error == "the script exited with code 2:\nTraceback ...\nKeyError: 'x'"
    assert result.text.endswith("Output before the failure:\npartial\n")
    assert result.data["success"] is False and result.data["exit_code"] == 2


def test_memory_errors_and_oom_kills_read_as_a_memory_limit():
    assert convert(runner_result(exit_code=1, error_kind="memory")).error == "memory limit (512m) exceeded"
    assert convert(runner_result(exit_code=137), oom_killed=True).error == "memory limit (512m) exceeded"
    assert needs_oom_check(runner_result(exit_code=137))
    assert not needs_oom_check(runner_result()) and not needs_oom_check(
        runner_result(exit_code=1, error_kind="memory")
    )


def test_only_the_end_of_a_long_stderr_is_kept():
    assert tail("a" * 5000 + "END", 10) == "...aaaaaaaEND"
