"""How an admin tool is declared: a name, a description for the model, a pydantic model of its
arguments (which gives the input schema and validates), and an async handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    import mcp_types as types

    from guru_mcp.app import App
    from guru_mcp.models import Caller


@dataclass
class AdminTool:
    name: str
    description: str
    args: type[BaseModel]
    handler: Callable[[App, Caller, Any], Awaitable[Any]]
    destructive: bool = False
    read_only: bool = False
    server_only: bool = False
    """Only for server-wide admins (gurus): invisible and uncallable for admins of one guru."""
    confirm: bool | None = None
    """Ask the user before it runs (default: when destructive)."""

    def __post_init__(self) -> None:
        if self.confirm is None:
            self.confirm = self.destructive

    def tool(self) -> types.Tool:
        import mcp_types as types  # only servers list tools; CLI commands call handlers directly

        schema = self.args.model_json_schema()
        schema.pop("title", None)
        return types.Tool(
            name=self.name,
            title=self.name.removeprefix("admin_").replace("_", " ").capitalize(),
            description=self.description,
            input_schema=schema,
            annotations=types.ToolAnnotations(
                read_only_hint=self.read_only,
                destructive_hint=self.destructive,
                idempotent_hint=self.read_only,
                open_world_hint=False,
            ),
        )


class NoArgs(BaseModel):
    """No arguments."""
