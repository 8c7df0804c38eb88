"""The config of an `AGENT` action: a model calling other actions of its guru in a loop, within limits."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guru_mcp.models.common import ACTION_NAME_RE, ActionType

MAX_AGENT_TOOL_CALLS = 100
MAX_AGENT_DEPTH = 10


class AgentConfig(BaseModel):
    """An agent: a language model that may call the listed actions (or agents) of the same guru, in a
    loop, until it gives a final answer or hits one of its limits."""

    KIND: ClassVar[ActionType] = ActionType.AGENT
    """The action type this config is for (the tag of the config union, not a field)."""

    model_config = ConfigDict(extra="ignore")

    system_prompt: str
    tools: list[str] = Field(default_factory=list)
    """Names of the actions and agents of the same guru that the model may call."""
    provider: str = "default"
    """The name of a model provider configured for this guru (`admin_provider_set`)."""
    model: str | None = None
    """Overrides the provider's model for this agent."""
    output_schema: dict[str, Any] | None = None
    """When given, the final answer must be JSON valid against this JSON Schema."""
    max_tool_calls: int = Field(default=10, ge=1, le=MAX_AGENT_TOOL_CALLS)
    max_depth: int = Field(default=5, ge=1, le=MAX_AGENT_DEPTH)
    """How deep runs started under this agent may nest (its own tools run at depth 1)."""
    timeout: float | None = Field(default=None, gt=0)
    """For the whole loop, model calls and tool runs together."""

    @field_validator("system_prompt")
    @classmethod
    def _check_prompt(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("system_prompt is empty")
        return value

    @field_validator("tools")
    @classmethod
    def _check_tools(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("an agent needs at least one tool")
        for name in value:
            if not ACTION_NAME_RE.fullmatch(name):
                raise ValueError(f"{name!r} is not an action name")
        dupes = sorted({n for n in value if value.count(n) > 1})
        if dupes:
            raise ValueError(f"listed more than once: {', '.join(dupes)}")
        return value

    @field_validator("output_schema")
    @classmethod
    def _check_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"output_schema is not a valid JSON Schema: {exc.message}") from None
        return value


AGENT_DEFAULT_PARAMETERS = [
    {
        "name": "request",
        "type": "string",
        "required": True,
        "description": "What the agent should do, in the user's words, with every detail it needs.",
    }
]
"""An agent defined without parameters takes one: the request in plain words."""
