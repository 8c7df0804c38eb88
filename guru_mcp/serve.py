"""Running the server on a transport: stdio, or Streamable HTTP under uvicorn."""

from __future__ import annotations

import sys

import anyio
import uvicorn
from mcp.server.stdio import stdio_server

from guru_mcp.app import open_app
from guru_mcp.models import Caller
from guru_mcp.server import build_server, http_asgi
from guru_mcp.settings import Settings


async def serve_stdio(settings: Settings, caller: Caller) -> None:
    async with open_app(settings) as app:
        handle = build_server(app, stdio_caller=caller)
        async with anyio.create_task_group() as tg:
            tg.start_soon(handle.notifier)
            async with stdio_server() as (read, write):
                await handle.server.run(read, write, handle.init_options)
            tg.cancel_scope.cancel()


async def serve_http(settings: Settings, host: str, port: int, *, insecure_no_auth: bool = False) -> None:
    async with open_app(settings) as app:
        handle = build_server(app)
        anonymous = Caller(key="anonymous", guru=settings.default_guru) if insecure_no_auth else None
        asgi = http_asgi(handle, app, host=host, anonymous=anonymous)
        config = uvicorn.Config(asgi, host=host, port=port, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        async with anyio.create_task_group() as tg:
            tg.start_soon(handle.notifier)
            print(f"guru-mcp: serving MCP on http://{host}:{port}/mcp", file=sys.stderr, flush=True)
            await server.serve()
            tg.cancel_scope.cancel()
