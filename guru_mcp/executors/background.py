"""An executor that starts in the background: the server answers clients while it starts.

The sandbox's start (importing the Docker SDK, probing the engine, checking the image, filling the
warm pool) takes a good part of a second or more; a server must answer `initialize` and
`tools/list` without waiting for it. `BackgroundExecutor` stands in for the real executor from the
start: `begin()` (called by the transport once it serves, or by the first job) opens the real one
in a task, a job that arrives meanwhile waits for it (within the run's own deadline, applied by
`runs`), and `status()` says "starting" until it is there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
from anyio.abc import TaskGroup

from guru_mcp.errors import SandboxUnavailable
from guru_mcp.models import ExecResult, Job

STARTING = "the sandbox is starting (checking the Docker engine and the image); ask again in a moment"


class BackgroundExecutor:
    """Stands in for the executor `open_inner()` yields, opened in `tg` at `begin()`."""

    def __init__(
        self, open_inner: Callable[[], AbstractAsyncContextManager[Any]], tg: TaskGroup, pool_size: int
    ) -> None:
        self._open_inner = open_inner
        self._tg = tg
        self._pool_size = pool_size
        self._inner: Any = None
        self._ready = anyio.Event()
        self._begun = False

    def begin(self) -> None:
        """Start opening the real executor (once; later calls do nothing)."""
        if not self._begun:
            self._begun = True
            self._tg.start_soon(self._run)

    async def _run(self) -> None:
        try:
            async with self._open_inner() as inner:
                self._inner = inner
                self._ready.set()
                await anyio.sleep_forever()  # until the application closes: then the inner one closes
        finally:
            self._ready.set()  # waiting jobs learn that there is nothing to wait for

    async def ready(self) -> Any:
        """The real executor, once open (starting it if nobody has)."""
        self.begin()
        await self._ready.wait()
        if self._inner is None:
            raise SandboxUnavailable("Python actions cannot run: the sandbox has stopped")
        return self._inner

    async def execute(self, job: Job) -> ExecResult:
        inner = await self.ready()
        result: ExecResult = await inner.execute(job)
        return result

    def status(self) -> dict[str, Any]:
        if self._inner is not None:
            status: dict[str, Any] = self._inner.status()
            return status
        return {
            "available": False,
            "reason": STARTING,
            "starting": True,
            "pool": {"size": self._pool_size, "ready": 0, "starting": 0, "in_use": 0},
            "runs": 0,
            "cold_starts": 0,
        }


@asynccontextmanager
async def in_background(
    open_inner: Callable[[], AbstractAsyncContextManager[Any]], pool_size: int
) -> AsyncIterator[BackgroundExecutor]:
    """A `BackgroundExecutor` for the lifetime of the block; leaving it closes the real executor."""
    async with anyio.create_task_group() as tg:
        executor = BackgroundExecutor(open_inner, tg, pool_size)
        try:
            yield executor
        finally:
            tg.cancel_scope.cancel()
