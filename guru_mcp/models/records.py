"""What a run carries and leaves behind: the stored action, the job an executor gets, its result, and
the run record."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from guru_mcp.models.action import ActionSpec
from guru_mcp.models.caller import Caller
from guru_mcp.models.common import ARGS_JSON_VARIABLE, Trigger
from guru_mcp.run_status import RunStatus


class StoredAction(BaseModel):
    """An action as stored: its spec plus identity, version and state."""

    id: int
    guru: str
    spec: ActionSpec
    version: int
    """The definition's version: goes up with every change to the definition, never with state."""
    enabled: bool
    disabled_reason: str = ""
    created_at: datetime
    updated_at: datetime
    revision: int = 0
    """Goes up with every change, state included (enabling, pausing the schedule): what caches and
    schedule claims compare to know that what they read is still current."""

    @property
    def name(self) -> str:
        return self.spec.name


class Job(BaseModel):
    """What an executor needs to run one action: the spec and the resolved values. No I/O handles."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    run_id: str
    action: ActionSpec
    arguments: dict[str, Any]
    """Validated arguments with defaults applied, typed as in the schema."""
    builtins: dict[str, str]
    secrets: dict[str, str]
    """Only the secrets this action declares (Python `secrets`, API-call placeholders)."""
    secret_hosts: dict[str, list[str]] = Field(default_factory=dict)
    """For secrets limited to some hosts: the hosts (names, `*.suffix`, IPs) they may be sent to."""
    timeout: float
    guru: str = "default"
    caller: Caller = Field(default_factory=Caller)
    """Who asked: an agent's tool calls run with the same identity."""
    trigger: Trigger = Trigger.TOOL_CALL
    depth: int = 0
    """0 for a run started by a client or a schedule; an agent's tool calls run one deeper."""
    depth_limit: int | None = None
    """The deepest a run under this one may go (the strictest limit of the agents above it)."""
    mock_tools: dict[str, Any] | None = None
    """Test mode for agents: tool name -> the result to feed back instead of running the tool."""
    sampler: Any = None
    """The calling client's MCP session when it can sample (for agents using MCP sampling)."""

    def environment(self) -> dict[str, str]:
        """Environment variables for a Python action: arguments given (or defaulted) as text (see
        `env_text`), the built-in variables, the action's secrets, and `GURU_ARGS_JSON`: the
        arguments typed, as JSON (what the sandbox's `guru.args()` reads). Optional parameters with no
        value are left unset, so `os.environ.get(name, fallback)` works as scripts written for
        Gurubase expect."""
        env = {name: env_text(value) for name, value in self.arguments.items() if value is not None}
        env.update(self.builtins)
        env.update(self.secrets)
        typed = {name: value for name, value in self.arguments.items() if value is not None}
        env[ARGS_JSON_VARIABLE] = json.dumps(typed, ensure_ascii=False)
        return env


def env_text(value: Any) -> str:
    """How a typed argument is written into text (environment variables, URL and header placeholders):
    a boolean as `true`/`false`, a whole number without a decimal point (`3`, also for 3.0), any other
    number as Python writes it (`2.5`), a string as it is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class ExecResult(BaseModel):
    """What an executor returns. `data` is structured content for programs; `text` is for the model."""

    status: RunStatus
    text: str
    data: dict[str, Any] = Field(default_factory=dict)
    error: str = ""
    truncated: bool = False
    hosts: list[str] = Field(default_factory=list)
    """Hosts the run contacted (API-call target, sandbox egress)."""
    hosts_refused: list[str] = Field(default_factory=list)
    """Hosts the run tried to reach and the egress policy refused."""
    structured: dict[str, Any] | None = None
    """The result checked against the action's `output_schema` (only for actions that declare one)."""
    usage: dict[str, Any] = Field(default_factory=dict)
    """Model usage (agents only)."""


class RunRecord(BaseModel):
    id: str
    guru: str
    action_id: int | None
    action_name: str
    action_version: int | None
    trigger: Trigger
    caller: dict[str, Any]
    inputs: dict[str, Any]
    status: RunStatus
    output: str = ""
    truncated: bool = False
    error: str = ""
    hosts: list[str] = Field(default_factory=list)
    hosts_refused: list[str] = Field(default_factory=list)
    schedule_id: int | None = None
    due_at: datetime | None = None
    started_at: datetime
    ended_at: datetime | None = None
    duration_ms: float | None = None
    parent_run_id: str | None = None
    """The agent run that started this one as a tool call."""
    depth: int = 0
    usage: dict[str, Any] = Field(default_factory=dict)
    """Model usage of an agent run: model calls, input and output tokens, tool calls, stop reason."""
