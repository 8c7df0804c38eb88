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
"""

from __future__ import annotations

from typing import Any

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
