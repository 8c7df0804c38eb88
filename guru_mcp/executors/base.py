"""The executor protocol and the stand-in used when an action type cannot run here."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from guru_mcp.errors import SandboxUnavailable
from guru_mcp.models import ExecResult, Job


@runtime_checkable
class Executor(Protocol):
    """Runs one job. Raises `RunFailure` (or a subclass) for failures the run record should show;
    a deadline is the caller's job (`runs` wraps `execute` in `anyio.fail_after`), but executors
    that hold external resources (containers) must clean them up when cancelled."""

    async def execute(self, job: Job) -> ExecResult: ...


class UnavailableExecutor:
    """Answers every job with a clear error: used for Python actions when no sandbox can run."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def execute(self, job: Job) -> ExecResult:
        raise SandboxUnavailable(self.reason)

    def status(self) -> dict[str, object]:
        return {"available": False, "reason": self.reason}
