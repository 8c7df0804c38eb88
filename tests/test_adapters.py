"""Pins the library shapes `guru_mcp/adapters.py` relies on: a real MCP SDK server and client, in
both protocol generations. If an SDK upgrade moves what the adapters read, these fail (rather than
list_changed notifications or progress reports silently stopping). The docker-py pins at the end use
a socket pair and the local engine."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import docker
import mcp_types as types
import pytest
from docker.errors import DockerException
from mcp import Client
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server

from guru_mcp.adapters import attach_socket_raw, connection_of, listens_for_progress
from tests.conftest import unavailable

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


# --- docker-py -------------------------------------------------------------------------------------


def test_the_socket_under_a_stdlib_socketio_is_its_private_sock():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        wrapped = socket.SocketIO(ours, "rwb")
        assert attach_socket_raw(wrapped) is ours
        raw = attach_socket_raw(wrapped)
        raw.sendall(b"ping")  # the very socket: usable without the wrapper
        assert theirs.recv(4) == b"ping"
        wrapped.close()


def test_a_socket_handed_back_as_itself_is_kept():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert attach_socket_raw(ours) is ours


@pytest.mark.docker
def test_docker_attach_socket_still_returns_a_socketio_over_the_local_engine():
    """docker-py's `attach_socket` over a Unix socket returns the response's `socket.SocketIO`; if it
    ever returns something else, the sandbox's stream code must be revisited."""
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as exc:
        unavailable(f"no Docker engine reachable ({exc}); start one with scripts/ensure-docker.sh")
    try:
        if not client.api.base_url.startswith("http+docker://localhost"):
            pytest.skip(f"the engine is not on a Unix socket here ({client.api.base_url})")
        from guru_mcp.sandbox_image import expected_tag

        image = expected_tag()
        created = client.api.create_container(
            image,
            command=["python3", "-c", "print('hi')"],
            host_config=client.api.create_host_config(network_mode="none"),
        )
        try:
            attached = client.api.attach_socket(created["Id"], params={"stdout": 1, "stream": 1})
            assert isinstance(attached, socket.SocketIO)
            raw = attach_socket_raw(attached)
            assert isinstance(raw, socket.socket) and raw.fileno() == attached.fileno()
            attached.close()
        finally:
            client.api.remove_container(created["Id"], force=True)
    finally:
        client.close()
