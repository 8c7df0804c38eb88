"""The MCP server: tools computed per request from the catalog snapshot, called through `runs`.

Identity comes from the transport: over HTTP from the bearer token (checked by `BearerAuth` before
the MCP app sees the request), over stdio from the settings and the `--admin` flag. Admin tools are
neither listed nor callable for other callers: to them the names do not exist.

Catalog changes reach clients of both protocol generations: handshake-era connections get
`notifications/tools/list_changed` directly, 2026-07-28 clients through their `subscriptions/listen`
stream.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp.shared.exceptions import MCPError
from starlette.types import ASGIApp, Receive, Scope, Send

from guru_mcp.app import App
from guru_mcp.errors import GuruError, to_tool_text
from guru_mcp.logs import log_refusal
from guru_mcp.models import Caller, Trigger
from guru_mcp.tools.action_tools import ActionTools, error_result, tool_result
from guru_mcp.tools.admin import all_admin_tools, call_admin_tool

log = logging.getLogger(__name__)

CALLER_SCOPE_KEY = "guru_mcp.caller"
SERVER_NAME = "guru-mcp"


@dataclass
class ServerHandle:
    """The MCP server plus what the transports need to run it."""

    server: Server[Any]
    notifier: Callable[[], Awaitable[None]]
    """Runs until cancelled: forwards catalog changes to connected clients."""
    init_options: Any


def build_server(app: App, *, stdio_caller: Caller | None = None) -> ServerHandle:
    """The MCP server for `app`. `stdio_caller` is the identity of a stdio client; HTTP callers
    are identified per request from the scope set by `BearerAuth`."""
    action_tools = ActionTools()
    admin_tools = {tool.name: tool for tool in all_admin_tools()}
    admin_listing = [tool.tool() for tool in admin_tools.values()]
    bus = InMemorySubscriptionBus()
    connections: weakref.WeakSet[Any] = weakref.WeakSet()
    send_change, receive_change = anyio.create_memory_object_stream[str](256)

    def identify(ctx: Any) -> Caller:
        request = getattr(ctx, "request", None)
        scope = getattr(request, "scope", None)
        if scope is not None and CALLER_SCOPE_KEY in scope:
            return scope[CALLER_SCOPE_KEY]
        if stdio_caller is not None:
            return stdio_caller
        raise MCPError(types.INVALID_REQUEST, "unauthenticated")

    # The wire form of each listing, per (guru, admin?), kept while its snapshot is current: with a
    # large catalog, dumping the Tool models on every tools/list was a measurable share of its cost.
    # The SDK copies a returned dict before shaping it, so handing out the same one is safe.
    listings: dict[tuple[str, bool], tuple[Any, dict[str, Any]]] = {}

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> dict[str, Any]:
        caller = identify(ctx)
        _track(ctx)
        snap = await app.catalog.snapshot(caller.guru)
        key = (caller.guru, caller.is_admin)
        cached = listings.get(key)
        if cached is not None and cached[0] is snap:
            return cached[1]
        tools = action_tools.tools(snap)
        if caller.is_admin:
            tools = [*tools, *admin_listing]
        wire = types.ListToolsResult(tools=tools).model_dump(by_alias=True, mode="json", exclude_none=True)
        listings[key] = (snap, wire)
        return wire

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        caller = identify(ctx)
        name, arguments = params.name, dict(params.arguments or {})
        if name.startswith("admin_"):
            tool = admin_tools.get(name) if caller.is_admin else None
            if tool is None:
                raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}")
            return await _call_admin(app, caller, tool, arguments)
        snap = await app.catalog.snapshot(caller.guru)
        entry = snap.entries.get(name)
        if entry is None or not entry.stored.enabled:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}")
        try:
            outcome = await app.runs.run(caller.guru, name, arguments, caller, Trigger.TOOL_CALL)
        except GuruError as exc:
            return error_result(to_tool_text(exc))
        return tool_result(outcome)

    def _track(ctx: Any) -> None:
        # Handshake-era connections get list_changed on their own channel. The SDK hands handlers a
        # per-request ServerSession; the per-connection object behind it (no public accessor in
        # mcp 2.3) lives as long as the client stays connected, so a weak set forgets closed ones.
        connection = getattr(ctx.session, "_connection", None)
        if connection is not None and ctx.protocol_version not in _MODERN:
            connections.add(connection)

    async def initialized(ctx: Any, params: Any) -> None:
        _track(ctx)

    server: Server[Any] = _GuruServer(
        SERVER_NAME,
        version=_version(),
        instructions="Each tool runs one admin-defined action (an HTTP call or a sandboxed Python script). "
        "Read a tool's description to know when to use it.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_subscriptions_listen=ListenHandler(bus),
    )
    server.add_notification_handler("notifications/initialized", types.NotificationParams, initialized)
    app.catalog.add_listener(lambda guru: _offer(send_change, guru))

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

    return ServerHandle(server, notifier, server.create_initialization_options())


_MODERN = {"2026-07-28"}


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
            notification_options or NotificationOptions(tools_changed=True), experimental_capabilities, extensions
        )


def _offer(stream: Any, guru: str) -> None:
    try:
        stream.send_nowait(guru)
    except anyio.WouldBlock:
        pass  # a burst of changes: one notification already queued says the same


async def _call_admin(app: App, caller: Caller, tool: Any, arguments: dict[str, Any]) -> types.CallToolResult:
    try:
        data = await call_admin_tool(app, caller, tool, arguments)
    except GuruError as exc:
        return error_result((await app.masker(caller.guru)).text(to_tool_text(exc)))
    except Exception as exc:
        log.exception("admin tool %s failed", tool.name)
        return error_result(to_tool_text(exc))
    structured = data if isinstance(data, dict) else {"result": data}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(data, indent=1, ensure_ascii=False, default=str))],
        structured_content=structured,
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("guru-mcp")
    except PackageNotFoundError:
        return "0"


class BearerAuth:
    """ASGI middleware: every HTTP request needs `Authorization: Bearer <token>` naming a known token.

    Successful look-ups are cached for `ttl` seconds (a revoked token stops working within that time).
    """

    def __init__(self, inner: ASGIApp, app: App, *, ttl: float = 30.0, anonymous: Caller | None = None) -> None:
        self.inner = inner
        self.app = app
        self.ttl = ttl
        self.anonymous = anonymous
        self._cache: dict[str, tuple[float, Caller]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        caller = self.anonymous or await self._caller(scope)
        if caller is None:
            _log_unauthorized(scope)
            await _unauthorized(send)
            return
        scope[CALLER_SCOPE_KEY] = caller
        # The SDK's session manager binds each Streamable HTTP session to the principal that opened it
        # and answers 404 to any other (DELETE included); this is the principal it compares.
        scope["user"] = AuthenticatedUser(
            AccessToken(token="", client_id=caller.key, scopes=[], subject=caller.key, claims={"guru": caller.guru})
        )
        await self.inner(scope, receive, send)

    async def _caller(self, scope: Scope) -> Caller | None:
        header = ""
        for key, value in scope.get("headers", []):
            if key == b"authorization":
                header = value.decode("latin-1")
                break
        return await self.authenticate(bearer_token(header))

    async def authenticate(self, token: str) -> Caller | None:
        """The caller a bearer token stands for, or None. The one place a token becomes a Caller:
        the MCP endpoint and the admin console both use it."""
        if not token:
            return None
        now = time.monotonic()
        cached = self._cache.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self.app.store.find_token(token)
        if found is None:
            return None
        row, guru = found
        caller = Caller(
            key=f"token:{row.id}",
            email=row.user_email,
            name=row.user_name,
            groups=tuple(g for g in row.user_groups.split(",") if g),
            is_admin=row.is_admin,
            guru=guru,
        )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (now + self.ttl, caller)
        return caller


def bearer_token(header: str) -> str:
    """The token of an `Authorization: Bearer <token>` header value, or ""."""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _log_unauthorized(scope: Scope) -> None:
    """One line per refused request; never the token itself."""
    has_header = any(key == b"authorization" for key, _ in scope.get("headers", []))
    client = scope.get("client") or ("?", 0)
    log_refusal(
        "unauthorized",
        f"{scope.get('method', '?')} {scope.get('path', '?')} from {client[0]}: "
        + ("unknown, revoked or malformed token" if has_header else "no bearer token"),
        status=401,
        method=scope.get("method"),
        path=scope.get("path"),
        client=client[0],
    )


async def _unauthorized(send: Send) -> None:
    body = json.dumps({"error": "unauthorized", "message": "send Authorization: Bearer <token>"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="guru-mcp"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def http_asgi(handle: ServerHandle, app: App, *, host: str, anonymous: Caller | None = None) -> ASGIApp:
    """The HTTP transport: MCP at `/mcp` behind `BearerAuth`, the admin console at `/admin` (which
    authenticates the same tokens itself, to offer a login page and session cookies)."""
    from guru_mcp.console import CONSOLE_PREFIX, build_console  # the console's templates load only for HTTP

    starlette_app = handle.server.streamable_http_app(streamable_http_path="/mcp", host=host)
    mcp_app = BearerAuth(starlette_app, app, anonymous=anonymous)
    console = build_console(app, mcp_app.authenticate)

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] in ("http", "websocket") else ""
        if path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/"):
            await console(scope, receive, send)
        else:
            await mcp_app(scope, receive, send)

    return route
