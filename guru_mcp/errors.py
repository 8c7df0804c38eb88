"""The one error tree of guru-mcp.

Three kinds, after pydantic-ai:

- `ConfigError` and `ValidationFailed` — operator mistakes: a bad action definition, a bad setting,
  a missing image. They say what to fix, naming the field.
- `RunFailure` — something went wrong while running an action: a timeout, a refused host, a crashed
  container. They end up in the run record and, masked, in the tool result.
- `ToolError` — messages meant for the model: bad arguments, an unknown tool, no permission. The model
  can act on them (fix its arguments, pick another tool).
- `RequestRefused` — a request turned away at an HTTP surface before anything ran (a credential not
  accepted, a console form that fails its checks, a sandbox's malformed proxy request), with the HTTP
  status to answer. Each surface catches its own and answers with that status.

Every error raised on purpose, in every module, is a `GuruError`; a status recorded for a run is a
`RunStatus` (`guru_mcp/run_status.py`).

`to_tool_text` is the single place that turns any of them into the text a client sees; secrets are
masked by the caller before anything leaves the process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guru_mcp.run_status import RunStatus


class GuruError(Exception):
    """Base of every error raised on purpose by guru-mcp."""


class ConfigError(GuruError):
    """The operator must change something (settings, key file, database, image)."""


class StorageError(ConfigError):
    """The database or the state directory failed: disk full, read-only, server unreachable."""


@dataclass
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ValidationFailed(GuruError):
    """An action, schedule or import document is invalid. Each problem names its field."""

    def __init__(self, errors: list[FieldError] | FieldError | str, *, prefix: str = "") -> None:
        if isinstance(errors, str):
            errors = [FieldError("", errors)]
        elif isinstance(errors, FieldError):
            errors = [errors]
        self.errors = errors
        self.prefix = prefix
        super().__init__(self.describe())

    def describe(self) -> str:
        head = f"{self.prefix}: " if self.prefix else ""
        if len(self.errors) == 1:
            return f"{head}{self.errors[0]}"
        return head + "; ".join(str(e) for e in self.errors)


class NotFound(GuruError):
    """A named thing (action, secret, run, schedule) does not exist."""


class Conflict(GuruError):
    """The change clashes with what exists (a duplicate name, a version mismatch)."""


class RequestRefused(GuruError):
    """A request turned away at an HTTP surface before anything ran. `status` is the HTTP status to
    answer with; each surface subclasses this with the fields it needs."""

    status: int = 400


class ToolError(GuruError):
    """A message meant for the model calling a tool (bad arguments, unknown tool, no permission)."""


class BadArguments(ToolError):
    """A tool's (or command's) arguments do not fit its schema. Each problem names its argument."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("invalid arguments: " + "; ".join(str(e) for e in errors))


class Busy(ToolError):
    """The caller has too many runs going; the call waited its allowed time and gave up."""


class ShuttingDown(ToolError):
    """The server is stopping and takes no new runs."""

    def __init__(
        self, message: str = "the server is shutting down; try again (another server may take the call)"
    ) -> None:
        super().__init__(message)


@dataclass
class RunFailure(GuruError):
    """An action ran (or tried to) and failed. `status` is the run status to record."""

    message: str
    status: RunStatus = RunStatus.ERROR
    details: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class EgressDenied(RunFailure):
    """An outbound connection was refused by the egress policy. `host` is the host refused, if any."""

    def __init__(self, message: str, host: str = "") -> None:
        super().__init__(message, status=RunStatus.DENIED)
        self.host = host


class SandboxUnavailable(RunFailure):
    """No Docker engine or sandbox image: Python actions cannot run."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=RunStatus.ERROR)


def to_tool_text(exc: BaseException) -> str:
    """The text a client sees for an error. Never includes a traceback or internal detail."""
    if isinstance(exc, GuruError):
        return str(exc)
    return f"internal error ({type(exc).__name__}); see the server log"
