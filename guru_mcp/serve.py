"""Running the server on a transport: stdio, or Streamable HTTP under uvicorn.

Both stop cleanly on SIGTERM/SIGINT (see `guru_mcp.shutdown`); stdio also when the client closes
stdin, after the calls in flight have been answered.

Start-up over stdio is kept short (docs/architecture.md, "Start-up"): the transport serves the
handshake as soon as the MCP SDK is imported (`guru_mcp.handshake`), while the application is
opened (the rest of the package imported in a worker thread, the database opened); every other
request waits for it. Then, in the background, the catalog snapshot is loaded and the sandbox
(engine probe, warm pool) started. The HTTP server announces itself once all of it is ready.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio
from mcp.server.stdio import stdio_server

from guru_mcp.errors import ConfigError
from guru_mcp.handshake import ServerHandle, new_server
from guru_mcp.settings import Settings
from guru_mcp.shutdown import on_signals, stop_gracefully
from guru_mcp.stdio_drain import GracefulStdio
from guru_mcp.stdio_pipes import pipe_stdio, pipes_possible

HTTP_CLOSE_TIMEOUT = 3
"""Seconds uvicorn waits for open connections (idle event streams) once runs have drained."""

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import uvicorn

    from guru_mcp.app import App
    from guru_mcp.models import Caller


async def _settle(app: App, guru: str) -> None:
    """Load the catalog once, then move everything built so far out of the garbage collector's way:
    the long-lived objects (libraries, settings, snapshot) would otherwise be re-scanned by every
    full collection, which measurably stalls large `tools/list` answers. Only the young generations
    are collected first: a full collection right after start-up found nothing to free and cost a
    noticeable share of the start-up. Runs in the background once the application is open."""
    await app.catalog.snapshot(guru)
    gc.collect(1)
    gc.freeze()


async def _forward_changes(handle: ServerHandle) -> None:
    await handle.notifier()


def _start_background(app: App) -> None:
    """Start what the server can answer without: the sandbox's engine probe and warm pool."""
    from guru_mcp.executors.background import BackgroundExecutor

    if isinstance(app.sandbox, BackgroundExecutor):
        app.sandbox.begin()


async def _sandbox_started(app: App) -> None:
    """Wait until the sandbox has probed the engine and started filling its pool. The HTTP server
    does, before it announces itself: it is long-lived, so being ready when it says so matters more
    than its start-up time (a stdio server is started per client session, and does not wait)."""
    from guru_mcp.executors.background import BackgroundExecutor

    if isinstance(app.sandbox, BackgroundExecutor):
        await app.sandbox.ready()


class _Opening:
    """The application of a stdio server, opened while the transport already serves the handshake.

    `run` opens it, binds the server's handlers to it and keeps it open until `close()`. If it
    cannot be opened, the requests waiting for it are answered with why (`ServerHandle.fail`), the
    transport is stopped once they are, and `failure` holds the error, which `serve_stdio` raises
    as it would have before serving (one line and an exit status from the command).
    """

    def __init__(self, settings: Settings, caller: Callable[[], Caller], handle: ServerHandle) -> None:
        self._settings, self._caller, self._handle = settings, caller, handle
        self.app: App | None = None
        self.failure: Exception | None = None
        self._settled = anyio.Event()
        self._closing = anyio.Event()
        self._opening = anyio.CancelScope()
        self.stopping = False
        """Set once the server stops (stdin closed, a signal): nothing more is started."""

    async def settled(self) -> App | None:
        """The application once open, or None if it could not be."""
        await self._settled.wait()
        return self.app

    def close(self) -> None:
        self._closing.set()

    def abandon(self) -> None:
        """A signal before the application is open: stop opening it (waiting requests are told so)."""
        if not self._settled.is_set():
            self._opening.cancel()

    async def run(self, graceful: GracefulStdio, serving: anyio.CancelScope) -> None:
        try:
            with self._opening:
                # The rest of the package (storage, tools, executors) imports off the event loop,
                # which meanwhile answers the handshake.
                server = await anyio.to_thread.run_sync(importlib.import_module, "guru_mcp.server")
                from guru_mcp.app import open_app

                caller = self._caller()
                async with open_app(self._settings) as app:
                    server.bind_server(self._handle, app, stdio_caller=caller)
                    self.app = app
                    self._settled.set()
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._warm_up, app, caller.guru, graceful)
                        await self._closing.wait()
                        tg.cancel_scope.cancel()
            if self.app is None:  # abandoned
                self._fail(ConfigError("stopped by a signal while starting"))
        except Exception as exc:
            self.failure = exc
            if self.app is not None:  # an error while closing: the transport has stopped already
                return
            log.debug("the application could not be opened", exc_info=True)
            self._fail(exc)
            await graceful.answered()  # the requests held for the application have their error answers
            serving.cancel()

    async def _warm_up(self, app: App, guru: str, graceful: GracefulStdio) -> None:
        """The catalog snapshot, then the sandbox, once the requests that waited for the
        application are answered (the sandbox's start would slow them down; a Python call starts
        it at once). A client already gone needs neither."""
        if self.stopping:
            return
        await _settle(app, guru)
        await graceful.answered()
        if not self.stopping:
            _start_background(app)

    def _fail(self, exc: Exception) -> None:
        self._handle.fail(exc)
        self._settled.set()


async def serve_stdio(settings: Settings, caller: Callable[[], Caller]) -> None:
    """Serve one client over stdio until it closes stdin or a signal comes. The handshake is
    answered while the application opens (`_Opening`); a signal before it is open stops the opening,
    and the requests waiting for it are told so. `caller` makes the client's identity (called once
    the models are imported, off the handshake's path)."""
    handle = new_server()
    serving = anyio.CancelScope()
    graceful: GracefulStdio

    async def stop() -> None:  # stdin closed or a signal: drain the runs, once there are any
        opening.stopping = True
        app = await opening.settled()
        if app is not None:
            await stop_gracefully(app)  # calls arriving meanwhile are refused, and answered

    async def on_signal() -> None:
        opening.abandon()
        await stop()
        await graceful.answered()
        serving.cancel()  # the transport would otherwise wait for the client to close stdin

    opening = _Opening(settings, caller, handle)
    graceful = GracefulStdio(stop)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_forward_changes, handle)
        tg.start_soon(on_signals, on_signal)
        async with anyio.create_task_group() as app_tg:
            app_tg.start_soon(opening.run, graceful, serving)
            with serving:
                async with AsyncExitStack() as stack:
                    files = (
                        await stack.enter_async_context(pipe_stdio()) if pipes_possible() else (None, None)
                    )
                    read, write = await stack.enter_async_context(stdio_server(*files))
                    read, write = await stack.enter_async_context(graceful.wrap(read, write))
                    await handle.server.run(read, write, handle.init_options)
            opening.close()  # the application closes once the transport has (runs drained by then)
        tg.cancel_scope.cancel()
    # The process exits next: the interpreter's last collections then skip the whole heap (measured:
    # ~0.25 s of CPU per process when nothing had frozen it, as when the client left early).
    gc.freeze()
    if opening.failure is not None:
        raise opening.failure


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

    from guru_mcp.app import open_app
    from guru_mcp.models import Caller
    from guru_mcp.server import build_server, http_asgi

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
