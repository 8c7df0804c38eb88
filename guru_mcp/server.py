"""The MCP server: tools computed per request from the catalog snapshot, called through `runs`.

Identity comes from the transport: over HTTP from the bearer token (checked by `HttpAccess` before
the MCP app sees the request), over stdio from the settings and the `--admin` flag. Admin tools are
neither listed nor callable for other callers, and an action limited to some groups is neither
listed nor callable for callers outside them: to them the names do not exist (a call is recorded as
`denied`).

Catalog changes reach clients of both protocol generations: handshake-era connections get
`notifications/tools/list_changed` directly, 2026-07-28 clients through their `subscriptions/listen`
stream.

The SDK `Server` itself (name, instructions, capabilities, the change notifier) is built in
`guru_mcp.handshake`, before the application exists; `bind_server` binds its handlers to one.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import mcp_types as types
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import progress_token_from_params
from starlette.types import ASGIApp, Receive, Scope, Send

from guru_mcp.adapters import listens_for_progress
from guru_mcp.app import App
from guru_mcp.errors import GuruError, to_tool_text
from guru_mcp.handshake import MODERN, SERVER_NAME, Bound, ServerHandle, ToolCallResult, new_server
from guru_mcp.identity.http import CALLER_SCOPE_KEY, HttpAccess
from guru_mcp.models import Caller, Trigger
from guru_mcp.tools import confirmation
from guru_mcp.tools.action_tools import ActionTools, error_result, tool_result, wire_tool
from guru_mcp.tools.admin import all_admin_tools, call_admin_tool

log = logging.getLogger(__name__)

__all__ = ["SERVER_NAME", "ServerHandle", "bearer_token", "bind_server", "build_server", "http_asgi"]


def build_server(app: App, *, stdio_caller: Caller | None = None) -> ServerHandle:
    """The MCP server for `app`. `stdio_caller` is the identity of a stdio client; HTTP callers
    are identified per request from the scope set by `HttpAccess`."""
    handle = new_server()
    bind_server(handle, app, stdio_caller=stdio_caller)
    return handle


def bind_server(handle: ServerHandle, app: App, *, stdio_caller: Caller | None = None) -> None:
    """Bind the handlers of `handle`'s server (built before `app`, see `guru_mcp.handshake`) to
    `app`: the requests waiting for it go on."""
    action_tools = ActionTools()
    admin_tools = {tool.name: tool for tool in all_admin_tools()}
    # The admin tools' definitions (a JSON schema per argument model) are built at the first admin
    # `tools/list`, once, in their wire form: building them at start-up delayed `initialize`, and most
    # clients are not admins.
    admin_listings: dict[bool, list[dict[str, Any]]] = {}

    def admin_listing(server_admin: bool) -> list[dict[str, Any]]:
        if not admin_listings:
            every = [(tool, wire_tool(tool.tool())) for tool in admin_tools.values()]
            admin_listings[True] = [listed for _, listed in every]
            admin_listings[False] = [listed for tool, listed in every if not tool.server_only]
        return admin_listings[server_admin]

    def identify(ctx: Any) -> Caller:
        request = getattr(ctx, "request", None)
        scope = getattr(request, "scope", None)
        caller = scope.get(CALLER_SCOPE_KEY) if scope is not None else None
        if isinstance(caller, Caller):
            return caller
        if stdio_caller is not None:
            return stdio_caller
        raise MCPError(types.INVALID_REQUEST, "unauthenticated")

    # The tools listing is cached once, in `action_tools` (the wire form of the current snapshot's
    # action tools); the admin tools' once, at the first admin list (above). The SDK copies a
    # returned dict before shaping it, so handing out the cached objects is safe.
    envelope = types.ListToolsResult(tools=[]).model_dump(by_alias=True, mode="json", exclude_none=True)

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> dict[str, Any]:
        caller = identify(ctx)
        handle.track(ctx)
        snap = await app.catalog.snapshot(caller.guru)
        listing = action_tools.listing(snap)
        tools = listing.tools
        if listing.group_scoped:
            scoped = listing.group_scoped
            tools = [
                t
                for t in tools
                if t["name"] not in scoped or snap.entries[t["name"]].stored.spec.visible_to(caller)
            ]
        if caller.is_admin:
            tools = [*tools, *admin_listing(caller.server_admin)]
        return {**envelope, "tools": tools}

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> ToolCallResult:
        caller = identify(ctx)
        name, arguments = params.name, dict(params.arguments or {})
        if name.startswith("admin_"):
            tool = admin_tools.get(name) if caller.is_admin else None
            if tool is None or (tool.server_only and not caller.server_admin):
                raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}")
            return await call_admin(ctx, params, caller, tool)
        snap = await app.catalog.snapshot(caller.guru)
        entry = snap.entries.get(name)
        if entry is None or not entry.stored.enabled:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}")
        if not entry.stored.spec.visible_to(caller):
            await app.runs.deny(
                caller.guru, entry, arguments, caller, "the caller's groups may not use this action"
            )
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}")
        try:
            if entry.stored.spec.needs_confirmation and entry.validator.is_valid(arguments):
                masked = (await app.runs.masker_for(caller.guru, entry)).data(arguments)
                decision = await confirmation.ask(ctx, params, confirmation.question("action", name, masked))
                if isinstance(decision, types.InputRequiredResult):
                    return decision
                refusal = _refusal(app, caller, decision)
                if refusal:
                    outcome = await app.runs.record_denied(
                        caller.guru, name, arguments, caller, Trigger.TOOL_CALL, refusal
                    )
                    _raise_if_capability_missing(ctx, decision, refusal)
                    return tool_result(outcome)
            outcome = await app.runs.run(
                caller.guru,
                name,
                arguments,
                caller,
                Trigger.TOOL_CALL,
                progress=_progress_sender(ctx),
                sampler=getattr(ctx, "session", None),  # for agents that sample the client's own model
                entry=entry,  # looked up and checked (enabled, visible) above: not again in runs
            )
        except GuruError as exc:
            return error_result(to_tool_text(exc))
        return tool_result(outcome)

    async def call_admin(
        ctx: Any, params: types.CallToolRequestParams, caller: Caller, tool: Any
    ) -> ToolCallResult:
        arguments = dict(params.arguments or {})
        if tool.confirm and not arguments.get("dry_run"):  # a dry run changes nothing: no question
            masked = (await app.masker(caller.guru)).data(arguments)
            decision = await confirmation.ask(
                ctx, params, confirmation.question("admin tool", tool.name, masked)
            )
            if isinstance(decision, types.InputRequiredResult):
                return decision
            refusal = _refusal(app, caller, decision)
            if refusal:
                log.info("admin tool %s not run: %s", tool.name, refusal)
                _raise_if_capability_missing(ctx, decision, refusal)
                return error_result(refusal)
        return await _call_admin(app, caller, tool, arguments)

    handle.bind(
        Bound(
            list_tools,
            call_tool,
            RequestStateBoundary(
                RequestStateSecurity(
                    keys=[app.keyring.derive("mcp-request-state")],
                    bind_principal=lambda ctx: identify(ctx).key,
                ),
                default_audience=SERVER_NAME,
            ),
        )
    )
    app.catalog.add_listener(handle.changed)


def _refusal(app: App, caller: Caller, decision: confirmation.Decision) -> str:
    """Why a call is not run ("" when it may run)."""
    if decision is confirmation.Decision.APPROVED:
        return ""
    if decision is confirmation.Decision.DECLINED:
        return "not run: the user declined to confirm it"
    if app.settings.allows_unconfirmed(caller.guru):
        return ""
    return (
        "not run: this call needs the user's confirmation and this MCP client cannot ask (it does not "
        "support elicitation); use a client that does, or an admin can allow unconfirmed runs for this "
        "guru (GURU_MCP_UNCONFIRMED_GURUS)"
    )


def _raise_if_capability_missing(ctx: Any, decision: confirmation.Decision, refusal: str) -> None:
    """2026-07-28 has an error for this: a request that needs a capability the client did not
    declare is answered with -32021 naming it (handshake-era clients get a tool error instead)."""
    if decision is confirmation.Decision.UNSUPPORTED and ctx.protocol_version in MODERN:
        raise MCPError(
            types.MISSING_REQUIRED_CLIENT_CAPABILITY,
            refusal,
            data={"requiredCapabilities": {"elicitation": {}}},
        )


def _progress_sender(ctx: Any) -> Any:
    """Where this request's progress goes: the client's progress token, if it sent one."""
    if not _listens_for_progress(ctx):
        return None
    session = ctx.session

    async def send(progress: float, total: float | None, message: str) -> None:
        await session.report_progress(progress, total, message)

    return send


def _listens_for_progress(ctx: Any) -> bool:
    """Whether the caller asked for progress: a token in `_meta` (JSON-RPC transports), or a
    callback on the in-process dispatcher, which carries no token (asked through the adapter; a miss
    only means no progress)."""
    if progress_token_from_params(getattr(ctx, "params", None)) is not None:
        return True
    return listens_for_progress(ctx.session)


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
        content=[
            types.TextContent(type="text", text=json.dumps(data, indent=1, ensure_ascii=False, default=str))
        ],
        structured_content=structured,
    )


def bearer_token(header: str) -> str:
    """The token of an `Authorization: Bearer <token>` header value, or ""."""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def http_asgi(
    handle: ServerHandle,
    app: App,
    *,
    host: str,
    public_url: str | None = None,
    anonymous: Caller | None = None,
) -> ASGIApp:
    """The HTTP transport: MCP at `/mcp` and `/g/{slug}/mcp` behind `HttpAccess` (endpoints per guru,
    authentication, resource metadata), and the admin console at `/admin`, which authenticates the same
    tokens through the same `Authenticator` (to offer a login page and session cookies)."""
    from guru_mcp.console import CONSOLE_PREFIX, build_console  # the console's templates load only for HTTP

    starlette_app = handle.server.streamable_http_app(streamable_http_path="/mcp", host=host)
    mcp_app = HttpAccess(
        starlette_app, app.auth, public_url=public_url or f"http://{host}", anonymous=anonymous
    )
    resource = mcp_app.resource_url(None)

    async def authenticate(token: str) -> Caller | None:
        return await app.auth.caller(token, resource=resource)

    console = build_console(app, authenticate)

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] in ("http", "websocket") else ""
        if path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/"):
            await console(scope, receive, send)
        else:
            await mcp_app(scope, receive, send)

    return route
