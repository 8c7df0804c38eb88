"""The provider-neutral form of an agent's conversation with its model. Pure data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model sees it: built from an action's name, description and input schema."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolOutcome:
    """What a tool call gave back, as fed to the model."""

    call: ToolCall
    text: str
    is_error: bool = False


@dataclass
class Turn:
    """One message. A user turn holds text or tool results; an assistant turn text and tool calls."""

    role: Literal["user", "assistant"]
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    results: list[ToolOutcome] = field(default_factory=list)


@dataclass
class Reply:
    """One answer of the model."""

    text: str
    tool_calls: list[ToolCall]
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str = ""

    def turn(self) -> Turn:
        return Turn(role="assistant", text=self.text, tool_calls=list(self.tool_calls))
