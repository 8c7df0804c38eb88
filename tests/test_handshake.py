"""The handshake is answered before the application exists (`guru_mcp.handshake`), with the same
answer as a server bound to one; other requests wait for the application, and a start-up failure
reaches them as a clear JSON-RPC error. Spoken to in JSON-RPC messages over the SDK's own stream
pair, as the stdio transport does."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.shared.message import SessionMessage

from guru_mcp.errors import ConfigError
from guru_mcp.handshake import ServerHandle, new_server
from guru_mcp.server import bind_server, build_server
from tests.conftest import ADMIN

INSTRUCTIONS = (
    "Each tool runs one admin-defined action (an HTTP call or a sandboxed Python script). "
    "Read a tool's description to know when to use it."
)


class Wire:
    """A client's end of a server's stream pair, in raw JSON-RPC messages."""

    def __init__(self, send: Any, receive: Any) -> None:
        self._send, self._receive = send, receive
        self._ids = itertools.count(1)

    async def request(self, method: str, params: dict[str, Any] | None = None) -> int:
        request_id = next(self._ids)
        await self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        return request_id

    async def notify(self, method: str) -> None:
        await self._write({"jsonrpc": "2.0", "method": method})

    async def _write(self, message: dict[str, Any]) -> None:
        await self._send.send(SessionMessage(types.jsonrpc_message_adapter.validate_python(message)))

    async def next_answer(self) -> dict[str, Any]:
        """The next response or error the server writes (notifications skipped)."""
        with anyio.fail_after(10):
            while True:
                item = await self._receive.receive()
                answer = item.message.model_dump(by_alias=True, mode="json", exclude_none=True)
                if "id" in answer:
                    return answer

    async def ask(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = await self.request(method, params)
        answer = await self.next_answer()
        assert answer["id"] == request_id, answer
        return answer


@asynccontextmanager
async def wire(handle: ServerHandle) -> AsyncIterator[Wire]:
    to_server, server_reads = anyio.create_memory_object_stream[Any](16)
    server_writes, from_server = anyio.create_memory_object_stream[Any](16)
    async with anyio.create_task_group() as tg:
        tg.start_soon(handle.server.run, server_reads, server_writes, handle.init_options)
        yield Wire(to_server, from_server)
        tg.cancel_scope.cancel()


def initialize(protocol_version: str) -> dict[str, Any]:
    return {
        "protocolVersion": protocol_version,
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    }


def discover(protocol_version: str) -> dict[str, Any]:
    return {
        "_meta": {
            types.PROTOCOL_VERSION_META_KEY: protocol_version,
            types.CLIENT_INFO_META_KEY: {"name": "t", "version": "1"},
            types.CLIENT_CAPABILITIES_META_KEY: {},
        }
    }


HANDSHAKES = [
    pytest.param("initialize", initialize("2025-06-18"), id="initialize 2025-06-18"),
    pytest.param("initialize", initialize("2025-11-25"), id="initialize 2025-11-25"),
    # unknown: the server offers its latest handshake version
    pytest.param("initialize", initialize("1999-01-01"), id="initialize unknown version"),
    pytest.param("server/discover", discover("2026-07-28"), id="discover 2026-07-28"),
]


@pytest.mark.anyio
async def test_the_initialize_answer_names_the_server_its_instructions_and_the_tools_capability() -> None:
    async with wire(new_server()) as client:
        answer = await client.ask("initialize", initialize("2025-06-18"))
    assert answer["result"] == {
        "capabilities": {"tools": {"listChanged": True}},
        "instructions": INSTRUCTIONS,
        "protocolVersion": "2025-06-18",
        "serverInfo": {"name": "guru-mcp", "version": version("guru-mcp")},
    }


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "params"), HANDSHAKES)
async def test_the_handshake_answer_before_the_application_is_the_answer_of_a_server_bound_to_it(
    app, method: str, params: dict[str, Any]
) -> None:
    async with wire(new_server()) as early:
        before = await early.ask(method, params)
    async with wire(build_server(app, stdio_caller=ADMIN)) as bound:
        after = await bound.ask(method, params)
    assert "result" in before and before == after


@pytest.mark.anyio
async def test_other_requests_wait_for_the_application_and_are_then_answered(app) -> None:
    handle = new_server()
    async with wire(handle) as client:
        await client.ask("initialize", initialize("2025-06-18"))
        await client.notify("notifications/initialized")
        listing = await client.request("tools/list")
        pong = await client.ask("ping")  # answered while the listing waits for the application
        assert pong["result"] == {}
        bind_server(handle, app, stdio_caller=ADMIN)
        answer = await client.next_answer()
    assert answer["id"] == listing
    assert "admin_actions_list" in [tool["name"] for tool in answer["result"]["tools"]]


@pytest.mark.anyio
async def test_a_failed_start_answers_the_waiting_request_and_every_later_one_with_why() -> None:
    handle = new_server()
    async with wire(handle) as client:
        await client.ask("initialize", initialize("2025-06-18"))
        await client.notify("notifications/initialized")
        listing = await client.request("tools/list")
        handle.fail(ConfigError("cannot open the database 127.0.0.1:1/guru: unreachable"))
        waited = await client.next_answer()
        later = [
            await client.ask("tools/call", {"name": "anything", "arguments": {}}),
            await client.ask("initialize", initialize("2025-06-18")),
            await client.ask("ping"),
        ]
    why = "guru-mcp could not start: cannot open the database 127.0.0.1:1/guru: unreachable"
    assert waited == {
        "jsonrpc": "2.0",
        "id": listing,
        "error": {"code": types.INTERNAL_ERROR, "message": why},
    }
    assert [answer["error"] for answer in later] == [{"code": types.INTERNAL_ERROR, "message": why}] * 3


@pytest.mark.anyio
async def test_an_unexpected_start_failure_is_named_by_its_kind_only() -> None:
    handle = new_server()
    async with wire(handle) as client:
        await client.ask("initialize", initialize("2025-06-18"))
        handle.fail(RuntimeError("details for the log, s3cret"))
        answer = await client.ask("tools/list")
    assert answer["error"]["message"] == (
        "guru-mcp could not start (internal error: RuntimeError); see the server's log"
    )
