"""Test helpers shipped with the package: a fake executor, like httpx's `MockTransport`.

    from guru_mcp.testing import FakeExecutor

    def handler(action, arguments):
        if arguments.get("city") == "Atlantis":
            raise RunFailure("no such city")
        return f"sunny in {arguments['city']}"

    fake = FakeExecutor(handler)
    async with open_app(settings, sandbox=False, executors={ActionType.PYTHON_CODE: fake}) as app:
        outcome = await app.runs.run("default", "weather", {"city": "Paris"}, caller, Trigger.TOOL_CALL)
    assert fake.calls[0].arguments == {"city": "Paris"}

`FakeExecutor` implements the executor protocol (`guru_mcp.executors.Executor`), so the run service
does everything it does for a real run around it — argument validation, the job (secrets and
built-in variables included), masking, the run record — without Docker or a network.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from guru_mcp.models import ActionSpec, ExecResult, Job, RunStatus

__all__ = ["FakeCall", "FakeExecutor", "Handler", "Output"]

Output = ExecResult | str | dict[str, Any]
"""What a handler returns: an `ExecResult` as is; a string, an OK result with that text; a dict, an OK
result with that structured data (and its JSON as the text)."""
Handler = Callable[[ActionSpec, dict[str, Any]], Output | Awaitable[Output]]
"""`handler(action, arguments)`, plain or async. Raise `guru_mcp.errors.RunFailure` (or a subclass)
for a failed run: its `status` is recorded, as for a real executor."""


@dataclass(frozen=True)
class FakeCall:
    """One job the fake executor received."""

    action: ActionSpec
    arguments: dict[str, Any]
    job: Job
    """The whole job: secrets, built-in variables, timeout."""


class FakeExecutor:
    """An executor answering every job with `handler(action, arguments)`; records each job in `calls`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[FakeCall] = []

    async def execute(self, job: Job) -> ExecResult:
        self.calls.append(FakeCall(job.action, dict(job.arguments), job))
        output = self.handler(job.action, dict(job.arguments))
        if inspect.isawaitable(output):
            output = await output
        return as_result(output)

    def status(self) -> dict[str, object]:
        """What the admin status tool shows for it."""
        return {"available": True, "fake": True, "runs": len(self.calls)}


def as_result(output: Output) -> ExecResult:
    """A handler's output as the `ExecResult` an executor returns."""
    if isinstance(output, ExecResult):
        return output
    if isinstance(output, str):
        return ExecResult(status=RunStatus.OK, text=output)
    if isinstance(output, dict):
        return ExecResult(status=RunStatus.OK, text=json.dumps(output), data=output)
    raise TypeError(
        f"a FakeExecutor handler returned {type(output).__name__}; return an ExecResult, str or dict"
    )
