"""Stopping cleanly on SIGTERM/SIGINT (and, over stdio, when the client closes stdin).

`stop_gracefully(app)`: the scheduler stops claiming due times (other replicas take them), new calls
are refused with a clear "shutting down" error (and recorded), runs in flight get up to
`settings.shutdown_grace` seconds to finish, then the rest are cancelled (recorded `cancelled`,
their callers told why). The transport then closes, and leaving `open_app` stops the background
tasks, removes every container this process created and this process's liveness row; the process
exits 0. A second signal while this goes on exits at once (exit status 128 + signal number).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from guru_mcp.app import App

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def stop_gracefully(app: App) -> None:
    """Stop taking work and let the runs in flight end (see the module's docstring). Idempotent."""
    if app.runs.stopping:
        await app.runs.drain(0)
        return
    if app.scheduler is not None:
        app.scheduler.stop_firing()
    grace = app.settings.shutdown_grace
    print(f"guru-mcp: shutting down (runs in flight get up to {grace:g} s)", file=sys.stderr, flush=True)
    cancelled = await app.runs.drain(grace)
    if cancelled:
        log.warning("cancelled %d run(s) still going after the %g s grace period", cancelled, grace)


async def on_signals(stop: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `stop` on the first SIGTERM/SIGINT; exit at once on the second. Runs until cancelled."""
    with anyio.open_signal_receiver(*SIGNALS) as signals:
        stopping = False
        async with anyio.create_task_group() as tg:
            async for signum in signals:
                if stopping:
                    print("guru-mcp: second signal, exiting now", file=sys.stderr, flush=True)
                    os._exit(128 + int(signum))
                stopping = True
                tg.start_soon(stop)
