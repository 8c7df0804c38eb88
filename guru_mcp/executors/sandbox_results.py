"""From what a sandbox run produced to an `ExecResult`: pure functions, no I/O.

Success: status `ok`, `text` = the script's stdout, `data` = `{"success": True, "output": stdout,
"exit_code": 0, "truncated": bool, "stderr": tail}`. Failures: status `error` (non-zero exit, with the
stderr tail; memory) or `timeout`, with a message in `error` that says what happened. Secrets are
masked by the caller, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guru_mcp.models import ExecResult, RunStatus

STDERR_TAIL = 2000
"""Characters of stderr kept in results (the end, where the error is)."""


def tail(text: str, limit: int = STDERR_TAIL) -> str:
    text = text.rstrip()
    return text if len(text) <= limit else "..." + text[-limit:]


def memory_message(limit: str) -> str:
    return f"memory limit ({limit}) exceeded"


def _with_refusals(message: str, refused: Mapping[str, str]) -> str:
    """A message followed by one line per host the egress policy refused."""
    return "\n".join([message, *refused.values()]) if refused else message


def failure(status: RunStatus, message: str, *, hosts: list[str], refused: Mapping[str, str]) -> ExecResult:
    """A run that produced no result of its own (timeout, killed, crashed)."""
    data: dict[str, Any] = {
        "success": False,
        "output": "",
        "exit_code": None,
        "truncated": False,
        "stderr": "",
    }
    if refused:
        data["refused_hosts"] = list(refused)
    message = _with_refusals(message, refused)
    return ExecResult(
        status=status, text=message, error=message, data=data, hosts=hosts, hosts_refused=list(refused)
    )


def needs_oom_check(result: dict[str, Any]) -> bool:
    """A failed run that does not already say it ran out of memory (a subprocess may have been OOM-killed)."""
    return int(result.get("exit_code", 1)) != 0 and result.get("error_kind") != "memory"


def from_runner(
    result: dict[str, Any],
    *,
    hosts: list[str],
    refused: Mapping[str, str],
    output_limit: int,
    memory_limit: str,
    oom_killed: bool = False,
    timeout: float | None = None,
) -> ExecResult:
    """The `ExecResult` for the runner's result line (see sandbox/runner.py for its fields)."""
    stdout = str(result.get("stdout", ""))
    stderr = str(result.get("stderr", ""))
    truncated = bool(result.get("stdout_truncated"))
    exit_code = int(result.get("exit_code", 1))
    data: dict[str, Any] = {
        "success": exit_code == 0,
        "output": stdout,
        "exit_code": exit_code,
        "truncated": truncated,
        "stderr": tail(stderr),
    }
    if result.get("stderr_truncated"):
        data["stderr_truncated"] = True
    if refused:
        data["refused_hosts"] = list(refused)
    note = f"\n[output truncated at {output_limit} bytes]" if truncated else ""
    if exit_code == 0 and result.get("error_kind") is None:
        refusals = "".join(f"\n[{line}]" for line in refused.values())
        return ExecResult(
            status=RunStatus.OK,
            text=stdout + note + refusals,
            data=data,
            truncated=truncated,
            hosts=hosts,
            hosts_refused=list(refused),
        )
    if result.get("error_kind") == "timeout":
        message = f"timed out after {timeout or 0:g} s; the sandbox was stopped and removed"
        text = (
            message
            + (f"\n\nOutput before the timeout:\n{stdout}" if stdout else "")
            + "\n[truncated by the timeout]"
        )
        data["truncated"] = True
        return ExecResult(
            status=RunStatus.TIMEOUT, text=text, error=message, data=data, truncated=True, hosts=hosts
        )
    if result.get("error_kind") == "memory" or oom_killed:
        message = memory_message(memory_limit)
    else:
        stderr_tail = tail(stderr)
        message = f"the script exited with code {exit_code}" + (f":\n{stderr_tail}" if stderr_tail else "")
    message = _with_refusals(message, refused)
    text = message + (f"\n\nOutput before the failure:\n{stdout}{note}" if stdout else "")
    return ExecResult(
        status=RunStatus.ERROR,
        text=text,
        error=message,
        data=data,
        truncated=truncated,
        hosts=hosts,
        hosts_refused=list(refused),
    )
