"""Action tools: one MCP tool per enabled action, built from the catalog snapshot and cached per version."""

from __future__ import annotations

from typing import Any

import mcp_types as types

from guru_mcp.catalog import Snapshot
from guru_mcp.models import ActionSpec, RunStatus
from guru_mcp.runs import RunOutcome


def describe_for_model(spec: ActionSpec) -> str:
    return spec.describe_for_model()


def action_tool(spec: ActionSpec) -> types.Tool:
    hints = spec.hints()
    return types.Tool(
        name=spec.name,
        title=spec.display_title,
        description=describe_for_model(spec),
        input_schema=spec.input_schema(),
        output_schema=spec.output_schema,
        icons=[types.Icon(src=i.src, mime_type=i.mime_type, sizes=i.sizes) for i in spec.icons]
        if spec.icons
        else None,
        annotations=types.ToolAnnotations(
            title=spec.display_title,
            read_only_hint=hints.read_only,
            destructive_hint=hints.destructive,
            idempotent_hint=hints.idempotent,
            open_world_hint=hints.open_world,
        ),
    )


class ActionTools:
    """Caches the built tool list per (guru, catalog version): `tools/list` costs a dict lookup."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, list[types.Tool]]] = {}
        self._scoped: dict[str, tuple[int, frozenset[str]]] = {}

    def group_scoped(self, snap: Snapshot) -> frozenset[str]:
        """Names of the enabled actions limited to some groups (usually none: listing stays shared)."""
        cached = self._scoped.get(snap.guru)
        if cached is not None and cached[0] == snap.version:
            return cached[1]
        names = frozenset(e.stored.name for e in snap.enabled() if e.stored.spec.groups)
        self._scoped[snap.guru] = (snap.version, names)
        return names

    def tools(self, snap: Snapshot) -> list[types.Tool]:
        cached = self._cache.get(snap.guru)
        if cached is not None and cached[0] == snap.version and cached[1] is not None:
            return cached[1]
        tools = [action_tool(entry.stored.spec) for entry in snap.enabled()]
        self._cache[snap.guru] = (snap.version, tools)
        return tools


RUN_ID_META = "guru-mcp/run_id"


def tool_result(outcome: RunOutcome) -> types.CallToolResult:
    """The tool result of a run. An action with an `output_schema` returns the checked document as
    structured content (what the schema describes; the run id travels in `_meta`); any other
    action returns `{success, ..., run_id}`."""
    result = outcome.result
    if result.structured is not None and result.status is RunStatus.OK:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result.text or "(no output)")],
            structured_content=result.structured,
            _meta={RUN_ID_META: outcome.record.id},
        )
    structured: dict[str, Any] = dict(result.data) if result.data else {}
    structured.setdefault("success", result.status is RunStatus.OK)
    structured["run_id"] = outcome.record.id
    if result.status is not RunStatus.OK:
        structured["status"] = result.status.value
        if result.error:
            structured["error"] = result.error
    text = result.text if result.text else ("(no output)" if result.status is RunStatus.OK else result.error)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=result.status is not RunStatus.OK,
    )


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)
