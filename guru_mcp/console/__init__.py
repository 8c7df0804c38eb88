"""The web admin console, served at `/admin` by the HTTP transport.

Server-rendered pages (Jinja2, autoescaped) with htmx and uPlot committed pre-built under `static/`
(no build step at run time). Authentication is the MCP endpoint's own: an admin logs in with an admin
token and gets a sealed session cookie (see `security`), or sends `Authorization: Bearer` itself.
"""

from __future__ import annotations

from guru_mcp.console.app import CONSOLE_PREFIX, build_console

__all__ = ["CONSOLE_PREFIX", "build_console"]
