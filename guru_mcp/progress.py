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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import anyio

from guru_mcp.secrets import Masker

log = logging.getLogger(__name__)

ProgressSend = Callable[[float, float | None, str], Awaitable[None]]
"""Sends one progress notification: (progress, total, message)."""

MIN_INTERVAL = 0.1
"""Seconds between two notifications of one run; what comes sooner is held and sent with the next."""
SEND_TIMEOUT = 2.0
"""A client that does not take a notification within this time misses it (the run goes on)."""
MESSAGE_LIMIT = 500

_current: ContextVar[ProgressStream | None] = ContextVar("guru_mcp_progress", default=None)


class ProgressStream:
    """One run's notifications: masked, at most one per `min_interval`, values increasing."""

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
        self._held: tuple[float | None, str] | None = None
        self.sent = 0

    async def report(self, fraction: float | None, message: str, *, force: bool = False) -> None:
        """Report `message` (and, if known, the fraction done, 0..1). Never raises."""
        now = self._clock()
        if not force and now - self._last_sent < self._min_interval:
            self._held = (fraction, message)
            return
        self._held = None
        await self._emit(fraction, message, now)

    async def flush(self) -> None:
        """Send what the rate limit held back (at the end of the run)."""
        if self._held is not None:
            fraction, message = self._held
            self._held = None
            await self._emit(fraction, message, self._clock())

    async def _emit(self, fraction: float | None, message: str, now: float) -> None:
        if fraction is not None:
            self._total = 100.0
            target = min(max(float(fraction), 0.0), 1.0) * 100.0
        else:
            target = self._value + (1.0 if self._total is None else 0.01)
        value = max(target, self._value + 0.01) if self._value >= 0 else max(target, 0.0)
        self._value = value
        self._last_sent = now
        text = self._masker.text(message)[:MESSAGE_LIMIT]
        try:
            with anyio.fail_after(SEND_TIMEOUT):
                await self._send(round(value, 4), self._total, text)
            self.sent += 1
        except Exception:  # a gone or slow client must not fail the run
            log.debug("a progress notification could not be sent", exc_info=True)


@contextmanager
def reporting(stream: ProgressStream | None) -> Iterator[None]:
    """Make `stream` the current run's progress stream (None: nobody listens)."""
    token = _current.set(stream)
    try:
        yield
    finally:
        _current.reset(token)


def wanted() -> bool:
    """Whether the current run's progress is listened to."""
    return _current.get() is not None


async def report(fraction: float | None, message: str) -> None:
    """Report progress of the current run; nothing happens when nobody listens."""
    stream = _current.get()
    if stream is not None:
        await stream.report(fraction, message)
