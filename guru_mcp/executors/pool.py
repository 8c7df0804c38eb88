"""The warm pool: sandboxes started ahead of time, each handed out once and never taken back.

Each pooled sandbox has its runner waiting on stdin (its pre-imports done). A sandbox leaves the pool
by `take()` and never comes back: the executor has the fleet destroy it after its one run. Reuse is
impossible by construction, not by bookkeeping. The pool makes no Docker call itself: `make` and
`discard` are the fleet's (`fleet.ContainerFleet.make_warm` / `discard`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable

import anyio

from guru_mcp.executors.container import Sandbox

MAINTENANCE_DEFER = 0.05
"""Seconds background work (refill, removal) waits while a warm sandbox is still ready: on a small
machine, Docker's work for one container takes ~200 ms of CPU and would slow the run that just
ended (measured: its final record write went from 1 ms to 4 ms)."""


class WarmPool:
    """Keeps `size` sandboxes started and waiting. `take()` hands one out for good.

    Pre-imports (pandas, numpy: about a CPU-second per container) are what make a warm pandas run
    cost milliseconds, but under sustained load every pooled container is consumed at once and the
    pre-import is paid for each run, whatever the run needs. So the pool pre-imports only while it
    keeps up: after a `take()` found it empty, refills skip the pre-import for `pressure_window`
    seconds; once quiet again, it swaps its plain containers for pre-importing ones, one at a time.
    """

    def __init__(
        self,
        size: int,
        make: Callable[[bool], Awaitable[Sandbox | None]],
        discard: Callable[[Sandbox], None],
        *,
        preimport: bool,
        pressure_window: float = 10.0,
        defer: float = MAINTENANCE_DEFER,
    ) -> None:
        self.size = size
        self._make = make
        self._discard = discard
        self._preimport = preimport
        self.pressure_window = pressure_window
        self.defer = defer
        self._ready: deque[Sandbox] = deque()
        self._wake = anyio.Event()
        self._changed = anyio.Event()
        self._last_miss = float("-inf")
        self.starting = 0
        self.last_error: str | None = None

    @property
    def ready(self) -> int:
        return len(self._ready)

    @property
    def ready_preimported(self) -> int:
        return sum(1 for box in self._ready if box.preimport)

    def under_pressure(self) -> bool:
        return time.monotonic() - self._last_miss < self.pressure_window

    def idle(self) -> bool:
        """A warm sandbox is ready and nobody is short of one: background work can wait a little."""
        return bool(self._ready) and not self.under_pressure()

    def take(self) -> Sandbox | None:
        """The oldest waiting sandbox, removed from the pool for good; None if the pool is empty."""
        if self._ready:
            box: Sandbox | None = self._ready.popleft()
        else:
            box = None
            self._last_miss = time.monotonic()
        self._wake.set()
        return box

    def drain(self) -> list[Sandbox]:
        boxes = list(self._ready)
        self._ready.clear()
        return boxes

    async def wait_full(self, *, preimported: bool = False) -> None:
        """Until the pool is full (of pre-importing sandboxes, if asked and configured)."""
        while len(self._ready) < self.size or (
            preimported and self._preimport and self.ready_preimported < self.size
        ):
            changed = self._changed
            await changed.wait()

    def _add(self, box: Sandbox) -> None:
        self._ready.append(box)
        self._changed.set()
        self._changed = anyio.Event()

    async def run(self) -> None:
        """Refill forever (until cancelled), one sandbox at a time, backing off after failures."""
        backoff = 0.5
        while True:
            while len(self._ready) < self.size:
                if self._ready and self.defer and not self.under_pressure():
                    # A warm sandbox still waits, so nobody needs this one yet: let the run that just
                    # took one finish (its record, its answer) before the engine's work competes with it.
                    await anyio.sleep(self.defer)
                self.starting = 1
                try:
                    box = await self._make(self._preimport and not self.under_pressure())
                finally:
                    self.starting = 0
                if box is None:
                    await anyio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 0.5
                self._add(box)
            self._wake = anyio.Event()
            plain = [box for box in self._ready if not box.preimport] if self._preimport else []
            if not plain:
                await self._wake.wait()
                continue
            quiet_at = self._last_miss + self.pressure_window
            with anyio.move_on_after(max(quiet_at - time.monotonic(), 0.0) + 0.5):
                await self._wake.wait()
                continue
            if not self.under_pressure() and plain[0] in self._ready:
                # Quiet again: swap a plain container for one that pre-imports.
                self._ready.remove(plain[0])
                self._discard(plain[0])
