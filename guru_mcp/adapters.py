"""The one place guru-mcp reaches past a library's public API.

Everything else in the package uses libraries through their documented seams (see "Seams" in
docs/architecture.md). What is here has no public equivalent in the pinned versions; each function is
small, says what it relies on, and `tests/test_adapters.py` fails as soon as the library changes the
shape relied on, so an upgrade breaks a test rather than a feature.

MCP Python SDK (mcp 2.3):

- `connection_of(session)`: the per-connection `mcp.server.connection.Connection` behind the
  per-request `ServerSession` a handler gets. A handshake-era client is told about tool-list changes
  outside any request (`notifications/tools/list_changed`); that needs an object that lives as long
  as the connection, and `ServerRequestContext` exposes only the per-request session.
- `listens_for_progress(session)`: whether the request's outbound channel carries a progress
  callback. A JSON-RPC request says so with `_meta.progressToken` (read publicly with
  `progress_token_from_params`); the in-process dispatcher carries a callback and no token.

docker-py (docker 7):

- `attach_socket_raw(attached)`: the socket under what `APIClient.attach_socket` returned (the
  response's stdlib `socket.SocketIO` keeps it as `_sock`), for the sandbox's non-blocking stream.
"""

from __future__ import annotations

import socket
from typing import Any, cast

from mcp.server.connection import Connection
from mcp.server.session import ServerSession

_PROGRESS_ATTRIBUTES = ("_on_progress", "_progress_token", "progress_token")
"""Where the SDK's dispatch contexts keep a request's progress route: `DirectDispatchContext`
(in-process) and `JSONRPCDispatchContext` (the last name in case a release makes it public)."""


def connection_of(session: ServerSession) -> Connection | None:
    """The connection `session` belongs to (None if the SDK no longer keeps it where it did)."""
    connection = getattr(session, "_connection", None)
    return connection if isinstance(connection, Connection) else None


def listens_for_progress(session: ServerSession) -> bool:
    """Whether the request `session` serves has somewhere to send progress to."""
    outbound: Any = getattr(session, "_request_outbound", None)
    outbound = getattr(outbound, "_inner", outbound)  # the 2026-07-28 path wraps the channel
    return any(getattr(outbound, name, None) is not None for name in _PROGRESS_ATTRIBUTES)


def attach_socket_raw(attached: object) -> socket.socket:
    """The socket under what docker-py's `APIClient.attach_socket` returned.

    Over a Unix socket or plain TCP, docker-py hands back the HTTP response's stdlib `socket.SocketIO`,
    a blocking file-like wrapper; the sandbox needs the socket itself (non-blocking, waited on with
    `anyio.wait_readable`), which `SocketIO` keeps only as `_sock` (no public accessor, and a
    `socket.fromfd` duplicate would break TLS and the close that ends the runner's stdin). Over TLS
    docker-py returns the SSL socket itself; other transports (npipe, ssh) are returned as they are.
    """
    if isinstance(attached, socket.SocketIO):
        return cast(socket.socket, attached._sock)  # type: ignore[attr-defined]  # noqa: SLF001
    return cast(socket.socket, attached)
