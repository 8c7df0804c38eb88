"""Running the server on a transport: stdio, or Streamable HTTP under uvicorn.

Both stop cleanly on SIGTERM/SIGINT (see `guru_mcp.shutdown`); stdio also when the client closes
stdin, after the calls in flight have been answered.

Start-up over stdio is kept short (docs/architecture.md, "Start-up"): the transport serves as soon
as the database is open; the catalog snapshot is loaded and the sandbox (engine probe, warm pool)
started in the background while the client initializes. The HTTP server announces itself once both
are ready.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio
from mcp.server.stdio import stdio_server

from guru_mcp.app import App, open_app
from guru_mcp.executors.background import BackgroundExecutor
from guru_mcp.models import Caller
from guru_mcp.server import ServerHandle, build_server, http_asgi
from guru_mcp.settings import Settings
from guru_mcp.shutdown import on_signals, stop_gracefully
from guru_mcp.stdio_drain import GracefulStdio
from guru_mcp.stdio_pipes import pipe_stdio, pipes_possible

HTTP_CLOSE_TIMEOUT = 3
"""Seconds uvicorn waits for open connections (idle event streams) once runs have drained."""


if TYPE_CHECKING:
    import uvicorn


async def _settle(app: App, guru: str) -> None:
    """Load the catalog once, then move everything built so far out of the garbage collector's way:
    the long-lived objects (libraries, settings, snapshot) would otherwise be re-scanned by every
    full collection, which measurably stalls large `tools/list` answers. Only the young generations
    are collected first: a full collection right after start-up found nothing to free and cost a
    noticeable share of the start-up. Runs in the background while the client initializes."""
    await app.catalog.snapshot(guru)
    gc.collect(1)
    gc.freeze()


async def _forward_changes(handle: ServerHandle) -> None:
    await handle.notifier()


def _start_background(app: App) -> None:
    """Start what the server can answer without: the sandbox's engine probe and warm pool."""
    if isinstance(app.sandbox, BackgroundExecutor):
        app.sandbox.begin()


async def _sandbox_started(app: App) -> None:
    """Wait until the sandbox has probed the engine and started filling its pool. The HTTP server
    does, before it announces itself: it is long-lived, so being ready when it says so matters more
    than its start-up time (a stdio server is started per client session, and does not wait)."""
    if isinstance(app.sandbox, BackgroundExecutor):
        await app.sandbox.ready()


async def serve_stdio(settings: Settings, caller: Caller) -> None:
    async with open_app(settings) as app:
        handle = build_server(app, stdio_caller=caller)
        graceful = GracefulStdio(lambda: stop_gracefully(app))
        serving = anyio.CancelScope()

        async def on_signal() -> None:
            await stop_gracefully(app)  # calls arriving meanwhile are refused, and answered
            await graceful.answered()
            serving.cancel()  # the transport would otherwise wait for the client to close stdin

        async with anyio.create_task_group() as tg:
            tg.start_soon(_forward_changes, handle)
            tg.start_soon(on_signals, on_signal)
            tg.start_soon(_settle, app, caller.guru)
            with serving:
                async with AsyncExitStack() as stack:
                    files = (
                        await stack.enter_async_context(pipe_stdio()) if pipes_possible() else (None, None)
                    )
                    read, write = await stack.enter_async_context(stdio_server(*files))
                    read, write = await stack.enter_async_context(graceful.wrap(read, write))
                    _start_background(app)
                    await handle.server.run(read, write, handle.init_options)
            tg.cancel_scope.cancel()


def _uvicorn_server(config: uvicorn.Config) -> uvicorn.Server:
    import uvicorn

    class _Server(uvicorn.Server):
        """uvicorn without its own signal handling: it would re-raise the signal after serving,
        killing the process before the application's clean-up ran. `serve_http` handles the signals."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return _Server(config)


async def serve_http(settings: Settings, host: str, port: int, *, insecure_no_auth: bool = False) -> None:
    import uvicorn  # only the HTTP transport needs it

    async with open_app(settings) as app:
        handle = build_server(app)
        await _settle(app, settings.default_guru)
        await _sandbox_started(app)
        anonymous = (
            Caller(key="anonymous", guru=settings.default_guru, via="none") if insecure_no_auth else None
        )
        public_url = settings.public_url or f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        asgi = http_asgi(handle, app, host=host, public_url=public_url, anonymous=anonymous)
        config = uvicorn.Config(
            asgi,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=HTTP_CLOSE_TIMEOUT,
        )
        server = _uvicorn_server(config)

        async def stop() -> None:
            await stop_gracefully(app)  # calls in flight are answered while uvicorn still serves
            server.should_exit = True

        async with anyio.create_task_group() as tg:
            tg.start_soon(_forward_changes, handle)
            tg.start_soon(on_signals, stop)
            oauth = f"; OAuth issuer {app.auth.oauth.issuer}" if app.auth.oauth else ""
            print(
                f"guru-mcp: serving MCP on http://{host}:{port}/mcp and /g/{{guru}}/mcp (public URL {public_url}{oauth})",
                file=sys.stderr,
                flush=True,
            )
            await server.serve()
            tg.cancel_scope.cancel()
