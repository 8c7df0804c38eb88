"""The MCP server object up to its handshake, built before the application is open.

A stdio server is started by its client for every session, and the client waits for the answer to
`initialize` (or `server/discover`). That answer depends only on the SDK `Server`: its name,
version, instructions and the handlers registered (the capabilities are derived from them). So
`new_server()` builds that `Server` with every handler registered, importing nothing but the SDK,
and puts a gate first in its middleware: the handshake (`initialize`, `server/discover`, `ping`)
and notifications pass at once; every other request waits until `ServerHandle.bind` installs the
handlers bound to an application (`guru_mcp.server.bind_server`), or is answered with a JSON-RPC
error saying why the server could not start (`ServerHandle.fail`; the handshake is refused too from
then on). `serve.py` opens the application while the client initializes.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp.shared.exceptions import MCPError

from guru_mcp.adapters import connection_of

log = logging.getLogger(__name__)

SERVER_NAME = "guru-mcp"

INSTRUCTIONS = (
    "Each tool runs one admin-defined action (an HTTP call or a sandboxed Python script). "
    "Read a tool's description to know when to use it."
)

HANDSHAKE_METHODS = frozenset({"initialize", "server/discover", "ping"})
"""Requests answered without the application: their answers come from the SDK `Server` alone."""

MODERN = frozenset({"2026-07-28"})
"""Protocol versions without the handshake era's per-connection notifications."""

ToolCallResult = types.CallToolResult | types.InputRequiredResult | dict[str, Any]
"""What a tools/call answers: the result (an action's in its wire form, see `tool_result`), or
(2026-07-28) a request for the user's input first."""


@dataclass(frozen=True)
class Bound:
    """The handlers that need the application (built by `guru_mcp.server.bind_server`)."""

    list_tools: Callable[[Any, types.PaginatedRequestParams | None], Awaitable[dict[str, Any]]]
    call_tool: Callable[[Any, types.CallToolRequestParams], Awaitable[ToolCallResult]]
    middleware: ServerMiddleware[Any]
    """Wraps every request once bound (the request-state boundary)."""


@dataclass
class ServerHandle:
    """The MCP server plus what the transports need to run it."""

    server: Server[Any]
    notifier: Callable[[], Coroutine[Any, Any, None]]
    """Runs until cancelled: forwards catalog changes to connected clients."""
    init_options: Any
    track: Callable[[Any], None]
    """Remember the connection of a handshake-era request, to tell it about tool-list changes."""
    changed: Callable[[str], None]
    """Offer a catalog change (of a guru) to the notifier; a catalog listener."""
    _bound: Bound | None = None
    _failure: str | None = None
    """Why the application could not be opened (the error message requests are answered with)."""
    _settled: anyio.Event | None = None
    """Made by the first request that waits (so the handle can be built outside an event loop)."""

    def bind(self, bound: Bound) -> None:
        """Install the application's handlers: the requests waiting at the gate go on."""
        self._bound = bound
        if self._settled is not None:
            self._settled.set()

    def fail(self, exc: BaseException) -> None:
        """The application could not be opened: every request waiting or still to come, the
        handshake included, is answered with why."""
        self._failure = start_failure(exc)
        if self._settled is not None:
            self._settled.set()

    async def bound(self) -> Bound:
        """The application's handlers, once bound; raises the start-up failure's MCPError."""
        if self._bound is None and self._failure is None:
            if self._settled is None:
                self._settled = anyio.Event()
            await self._settled.wait()
        if self._failure is not None:
            raise MCPError(types.INTERNAL_ERROR, self._failure)
        assert self._bound is not None
        return self._bound

    async def gate(self, ctx: Any, call_next: CallNext) -> HandlerResult:
        """Server middleware: the handshake and notifications pass; the rest waits for `bind`."""
        bound = self._bound
        if bound is not None:
            return await bound.middleware(ctx, call_next)
        if self._failure is None and (
            ctx.method in HANDSHAKE_METHODS or ctx.method.startswith("notifications/")
        ):
            return await call_next(ctx)
        return await (await self.bound()).middleware(ctx, call_next)


def start_failure(exc: BaseException) -> str:
    """What a client is told when the application could not be opened (one line). The operator's
    error (configuration, database) is named as the command line would; anything else only by its
    kind, the details being in the server's log."""
    from guru_mcp.errors import GuruError

    if isinstance(exc, GuruError):
        reason = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
        return f"guru-mcp could not start: {reason}"
    return f"guru-mcp could not start (internal error: {type(exc).__name__}); see the server's log"


def new_server() -> ServerHandle:
    """The SDK server as the handshake sees it, with nothing bound yet."""
    bus = InMemorySubscriptionBus()
    connections: weakref.WeakSet[Connection] = weakref.WeakSet()
    send_change, receive_change = anyio.create_memory_object_stream[str](256)

    def track(ctx: Any) -> None:
        # Handshake-era connections get list_changed on their own channel. The SDK hands handlers a
        # per-request ServerSession; the connection behind it lives as long as the client stays
        # connected, so a weak set forgets closed ones.
        connection = connection_of(ctx.session)
        if connection is not None and ctx.protocol_version not in MODERN:
            connections.add(connection)

    def changed(guru: str) -> None:
        with contextlib.suppress(anyio.WouldBlock):  # a burst of changes: one queued says the same
            send_change.send_nowait(guru)

    # The handlers run behind the gate: the application's handlers are bound by then (no wait).
    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> dict[str, Any]:
        return await (await handle.bound()).list_tools(ctx, params)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> ToolCallResult:
        return await (await handle.bound()).call_tool(ctx, params)

    async def initialized(ctx: Any, params: Any) -> None:
        track(ctx)

    server: Server[Any] = _GuruServer(
        SERVER_NAME,
        version=_version(),
        instructions=INSTRUCTIONS,
        # The SDK takes a dict result as its wire form (its HandlerResult); the annotations name only
        # the models.
        on_list_tools=list_tools,  # type: ignore[arg-type]
        on_call_tool=call_tool,  # type: ignore[arg-type]
        on_subscriptions_listen=ListenHandler(bus),
    )
    server.add_notification_handler("notifications/initialized", types.NotificationParams, initialized)

    async def notifier() -> None:
        async with receive_change:
            async for _guru in receive_change:
                await bus.publish(ToolsListChanged())
                for connection in list(connections):
                    try:
                        with anyio.fail_after(5):
                            await connection.send_tool_list_changed()
                    except Exception:  # a gone client must not stop the others' notifications
                        log.debug("dropping a connection that could not be notified", exc_info=True)
                        connections.discard(connection)

    handle = ServerHandle(server, notifier, server.create_initialization_options(), track, changed)
    server.middleware.append(handle.gate)
    return handle


class _GuruServer(Server[Any]):
    """The SDK server, advertising `tools.listChanged` by default. The Streamable HTTP session manager
    builds initialization options itself, without ours, so the default is where this must live."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> Any:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True),
            experimental_capabilities,
            extensions,
        )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("guru-mcp")
    except PackageNotFoundError:
        return "0"
