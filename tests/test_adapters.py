"""Pins the library shapes `guru_mcp/adapters.py` relies on: a real MCP SDK server and client, in
both protocol generations. If an SDK upgrade moves what the adapters read, these fail (rather than
list_changed notifications or progress reports silently stopping)."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server

from guru_mcp.adapters import connection_of, listens_for_progress

MODES = ["legacy", "2026-07-28"]


def probe_server(seen: list[dict[str, Any]]) -> Server[Any]:
    """A server whose tools record what the adapters see in each request."""

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        seen.append({"method": "tools/list", "connection": connection_of(ctx.session)})
        return types.ListToolsResult(tools=[types.Tool(name="probe", input_schema={"type": "object"})])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        connection = connection_of(ctx.session)
        seen.append(
            {"method": "tools/call", "connection": connection, "progress": listens_for_progress(ctx.session)}
        )
        if params.name == "notify" and connection is not None:
            await connection.send_tool_list_changed()
        return types.CallToolResult(content=[types.TextContent(type="text", text="ok")])

    return Server("adapter-probe", on_list_tools=list_tools, on_call_tool=call_tool)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_the_connection_behind_a_request_session_is_found(mode):
    seen: list[dict[str, Any]] = []
    async with Client(probe_server(seen), mode=mode) as client:
        await client.list_tools()
        await client.call_tool("probe", {})
    assert seen[0]["method"] == "tools/list" and seen[-1]["method"] == "tools/call"
    assert all(isinstance(s["connection"], Connection) for s in seen)


@pytest.mark.anyio
async def test_a_handshake_era_connection_is_one_object_across_its_requests():
    """What lets server.py keep handshake-era connections in a weak set between requests."""
    seen: list[dict[str, Any]] = []
    async with Client(probe_server(seen), mode="legacy") as client:
        await client.list_tools()
        await client.call_tool("probe", {})
        await client.call_tool("probe", {})
    connections = {id(s["connection"]) for s in seen}
    assert len(seen) >= 3 and len(connections) == 1
    assert isinstance(seen[0]["connection"], Connection)


@pytest.mark.anyio
async def test_two_clients_have_two_connections():
    seen: list[dict[str, Any]] = []
    server = probe_server(seen)
    async with Client(server) as one, Client(server) as other:
        await one.call_tool("probe", {})
        await other.call_tool("probe", {})
    calls = [s["connection"] for s in seen if s["method"] == "tools/call"]
    assert len(calls) == 2 and all(isinstance(c, Connection) for c in calls)
    assert calls[0] is not calls[1]


@pytest.mark.anyio
async def test_the_found_connection_delivers_list_changed_outside_the_request():
    seen: list[dict[str, Any]] = []
    notified = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            notified.set()

    async with Client(probe_server(seen), mode="legacy", message_handler=on_message) as client:
        await client.call_tool("notify", {})
        with anyio.fail_after(10):
            await notified.wait()
    assert isinstance(seen[0]["connection"], Connection)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_a_progress_callback_on_the_in_process_client_is_seen(mode):
    seen: list[dict[str, Any]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        pass

    async with Client(probe_server(seen), mode=mode) as client:
        await client.call_tool("probe", {})
        await client.call_tool("probe", {}, progress_callback=on_progress)
    assert [s["progress"] for s in seen if s["method"] == "tools/call"] == [False, True]
