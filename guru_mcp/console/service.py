"""The console calls the admin tools' own handlers, so a page does what the MCP tool of the same name
does (validation, masking, the answer's shape) and the two cannot drift apart."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from guru_mcp.console.web import Ctx, Refused
from guru_mcp.tools.admin import all_admin_tools

_TOOLS = {tool.name: tool for tool in all_admin_tools()}


async def call(ctx: Ctx, tool_name: str, /, **arguments: Any) -> Any:
    """Run admin tool `tool_name` for the console's caller; GuruErrors propagate (the page shows them)."""
    tool = _TOOLS[tool_name]
    try:
        args = tool.args.model_validate(arguments)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
        )
        raise Refused(422, f"invalid input: {problems}") from None
    data = await tool.handler(ctx.app, ctx.caller, args)
    return (await ctx.masker()).data(data)
