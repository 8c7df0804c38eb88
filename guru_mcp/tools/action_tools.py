"""Action tools: one MCP tool per enabled action, built from the catalog snapshot and cached per version."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Listing:
    """The action tools of one snapshot in their wire form (what `tools/list` sends), built once."""

    snapshot: Snapshot
    tools: list[dict[str, Any]]
    """One JSON object per enabled action, in catalog order."""
    group_scoped: frozenset[str]
    """Names of the enabled actions limited to some groups (usually none: the listing is shared)."""


class ActionTools:
    """The one cache of the tools listing: per guru, the wire form of its current snapshot's
    action tools. A `tools/list` is a dict lookup plus, for admins, the admin tools appended; a new
    snapshot (any catalog change) builds it again on first use."""

    def __init__(self) -> None:
        self._listings: dict[str, Listing] = {}

    def listing(self, snap: Snapshot) -> Listing:
        cached = self._listings.get(snap.guru)
        if cached is not None and cached.snapshot is snap:
            return cached
        enabled = snap.enabled()
        listing = Listing(
            snapshot=snap,
            tools=[wire_tool(action_tool(entry.stored.spec)) for entry in enabled],
            group_scoped=frozenset(e.stored.name for e in enabled if e.stored.spec.groups),
        )
        self._listings[snap.guru] = listing
        return listing


def wire_tool(tool: types.Tool) -> dict[str, Any]:
    """A tool as `tools/list` sends it (the SDK passes a dict result on as it is)."""
    return tool.model_dump(by_alias=True, mode="json", exclude_none=True)


RUN_ID_META = "guru-mcp/run_id"


def tool_result(outcome: RunOutcome) -> dict[str, Any]:
    """The tool result of a run, in its wire form: what `CallToolResult.model_dump(by_alias=True,
    mode="json", exclude_none=True)` gives (the SDK validates a dict result against the protocol's
    `CallToolResult` before sending it; building the model here only to have it dumped was a second
    pass over the same data on every call). An action with an `output_schema` returns the checked
    document as structured content (what the schema describes; the run id travels in `_meta`); any
    other action returns `{success, ..., run_id}`."""
    result = outcome.result
    if result.structured is not None and result.status is RunStatus.OK:
        return {
            "_meta": {RUN_ID_META: outcome.record.id},
            "content": [{"type": "text", "text": result.text or "(no output)"}],
            "structuredContent": result.structured,
            "isError": False,
            "resultType": "complete",
        }
    structured: dict[str, Any] = dict(result.data) if result.data else {}
    structured.setdefault("success", result.status is RunStatus.OK)
    structured["run_id"] = outcome.record.id
    if result.status is not RunStatus.OK:
        structured["status"] = result.status.value
        if result.error:
            structured["error"] = result.error
    text = result.text if result.text else ("(no output)" if result.status is RunStatus.OK else result.error)
    return {
        "content": [{"type": "text", "text": text}],
        "structuredContent": structured,
        "isError": result.status is not RunStatus.OK,
        "resultType": "complete",
    }


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)
