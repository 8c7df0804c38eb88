"""Progress of one run, on its way to the client that asked for it.

The MCP server hands `RunService.run` a `ProgressSend` when the client sent a progress token; the run
service wraps it in a `ProgressStream` (masking, rate limit, increasing values) and makes it the
current stream while the executor runs. Executors report through `report(...)` and ask `wanted()`
before doing extra work (the sandbox only streams its output when someone listens), so the
`Executor` protocol stays `execute(job) -> result`.

Values: `progress` increases with every notification, as MCP requires. A script that reports a
fraction (`progress(0.4, "...")` in the sandbox) gets percent values with `total=100`; otherwise
the value counts events and `total` is unknown.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar

import anyio

from guru_mcp.secrets import Masker

log = logging.getLogger(__name__)

ProgressSend = Callable[[float, float | None, str], Awaitable[None]]
"""Sends one progress notification: (progress, total, message)."""

MIN_INTERVAL = 0.1
"""Seconds between two notifications of one run; what comes sooner is held back, and a newer report
replaces a held one (forced reports, like start and end, are never dropped)."""
SEND_TIMEOUT = 2.0
"""A client that does not take a notification within this time misses it (the run goes on)."""
MESSAGE_LIMIT = 500

_current: ContextVar[ProgressStream | None] = ContextVar("guru_mcp_progress", default=None)


class ProgressStream:
    """One run's notifications: masked, at most one per `min_interval`, values increasing.

    `report` never blocks and never raises: a sender task (started by `open_stream`) delivers, so a
    slow client cannot slow the run down, and a report held back by the rate limit still goes out
    when its turn comes, even if nothing follows it."""

    def __init__(
        self,
        send: ProgressSend,
        masker: Masker,
        *,
        min_interval: float = MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._masker = masker
        self._min_interval = min_interval
        self._clock = clock
        self._value = -1.0
        self._total: float | None = None
        self._last_sent = float("-inf")
        self._queue: deque[tuple[float | None, str]] = deque()
        self._held: tuple[float | None, str] | None = None
        self._wake = anyio.Event()
        self._closing = False
        self.sent = 0

    def report(self, fraction: float | None, message: str, *, force: bool = False) -> None:
        """Report `message` (and, if known, the fraction done, 0..1). `force`: never dropped nor
        delayed (what is held back goes first)."""
        if force:
            if self._held is not None:
                self._queue.append(self._held)
                self._held = None
            self._queue.append((fraction, message))
        else:
            self._held = (fraction, message)
        self._wake.set()

    async def run(self) -> None:
        """Deliver until `close` and everything reported before it is sent."""
        while True:
            if self._queue:
                fraction, message = self._queue.popleft()
                await self._emit(fraction, message)
                continue
            if self._held is not None:
                wait = self._last_sent + self._min_interval - self._clock()
                if wait > 0 and not self._closing:
                    with anyio.move_on_after(wait):
                        await self._wait()
                    continue
                fraction, message = self._held
                self._held = None
                await self._emit(fraction, message)
                continue
            if self._closing:
                return
            await self._wait()

    def close(self) -> None:
        self._closing = True
        self._wake.set()

    async def _wait(self) -> None:
        await self._wake.wait()
        self._wake = anyio.Event()

    async def _emit(self, fraction: float | None, message: str) -> None:
        if fraction is not None:
            self._total = 100.0
            target = min(max(float(fraction), 0.0), 1.0) * 100.0
        else:
            target = self._value + (1.0 if self._total is None else 0.01)
        value = max(target, self._value + 0.01) if self._value >= 0 else max(target, 0.0)
        self._value = value
        self._last_sent = self._clock()
        text = self._masker.text(message)[:MESSAGE_LIMIT]
        try:
            with anyio.fail_after(SEND_TIMEOUT):
                await self._send(round(value, 4), self._total, text)
            self.sent += 1
        except Exception:  # a gone or slow client must not fail the run
            log.debug("a progress notification could not be sent", exc_info=True)


@asynccontextmanager
async def open_stream(send: ProgressSend | None, masker: Masker) -> AsyncIterator[ProgressStream | None]:
    """A run's progress stream with its sender task, made current for the block (None when nobody
    listens). On a normal exit, what was reported is delivered before the block ends."""
    if send is None:
        yield None
        return
    stream = ProgressStream(send, masker)
    async with anyio.create_task_group() as tg:
        tg.start_soon(stream.run)
        token = _current.set(stream)
        try:
            yield stream
        finally:
            _current.reset(token)
            stream.close()


def wanted() -> bool:
    """Whether the current run's progress is listened to."""
    return _current.get() is not None


async def report(fraction: float | None, message: str) -> None:
    """Report progress of the current run; nothing happens when nobody listens."""
    stream = _current.get()
    if stream is not None:
        stream.report(fraction, message)
