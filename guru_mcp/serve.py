"""Running the server on a transport: stdio, or Streamable HTTP under uvicorn."""

from __future__ import annotations

import gc
import sys
from contextlib import AsyncExitStack

import anyio
import uvicorn
from mcp.server.stdio import stdio_server

from guru_mcp.app import App, open_app
from guru_mcp.models import Caller
from guru_mcp.server import build_server, http_asgi
from guru_mcp.settings import Settings
from guru_mcp.stdio_pipes import pipe_stdio, pipes_possible


async def _settle(app: App, guru: str) -> None:
    """Load the catalog once, then move everything built so far out of the garbage collector's way:
    the long-lived objects (libraries, settings, snapshot) would otherwise be re-scanned by every
    full collection, which measurably stalls large `tools/list` answers."""
    await app.catalog.snapshot(guru)
    gc.collect()
    gc.freeze()


async def serve_stdio(settings: Settings, caller: Caller) -> None:
    async with open_app(settings) as app:
        handle = build_server(app, stdio_caller=caller)
        await _settle(app, caller.guru)
        async with anyio.create_task_group() as tg:
            tg.start_soon(handle.notifier)
            async with AsyncExitStack() as stack:
                files = await stack.enter_async_context(pipe_stdio()) if pipes_possible() else (None, None)
                read, write = await stack.enter_async_context(stdio_server(*files))
                await handle.server.run(read, write, handle.init_options)
            tg.cancel_scope.cancel()


async def serve_http(settings: Settings, host: str, port: int, *, insecure_no_auth: bool = False) -> None:
    async with open_app(settings) as app:
        handle = build_server(app)
        await _settle(app, settings.default_guru)
        anonymous = Caller(key="anonymous", guru=settings.default_guru) if insecure_no_auth else None
        asgi = http_asgi(handle, app, host=host, anonymous=anonymous)
        config = uvicorn.Config(asgi, host=host, port=port, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        async with anyio.create_task_group() as tg:
            tg.start_soon(handle.notifier)
            print(f"guru-mcp: serving MCP on http://{host}:{port}/mcp", file=sys.stderr, flush=True)
            await server.serve()
            tg.cancel_scope.cancel()
