"""Time for the scheduler: the real clock, and a fake one that tests move by hand (no real waiting)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Protocol

import anyio
import anyio.lowlevel


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, UTC-aware."""
        ...

    async def sleep_until(self, when: datetime | None, wake: anyio.Event) -> None:
        """Return at `when` (never if None), or as soon as `wake` is set, whichever comes first.
        May return early; callers re-check the time."""
        ...


class SystemClock:
    """Wall-clock time. Sleeps at most `max_sleep` seconds at once, so a wall-clock step (NTP, a
    suspended laptop) is noticed within that time."""

    def __init__(self, max_sleep: float = 60.0) -> None:
        self.max_sleep = max_sleep

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime | None, wake: anyio.Event) -> None:
        delay = math.inf if when is None else (when - self.now()).total_seconds()
        with anyio.move_on_after(max(0.0, min(delay, self.max_sleep))):
            await wake.wait()


class FakeClock:
    """A clock that stands still until a test moves it. Moving it wakes the sleepers whose time has
    come, at once."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime | None, anyio.Event]] = []

    def now(self) -> datetime:
        return self._now

    def next_deadline(self) -> datetime | None:
        """The earliest time a sleeper waits for, if any."""
        return min((when for when, _ in self._sleepers if when is not None), default=None)

    async def sleep_until(self, when: datetime | None, wake: anyio.Event) -> None:
        if when is not None and when <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        entry = (when, wake)
        self._sleepers.append(entry)
        try:
            await wake.wait()
        finally:
            self._sleepers.remove(entry)

    def set(self, when: datetime) -> None:
        """Move to `when` (never backwards) and wake those due."""
        when = when.astimezone(UTC)
        if when < self._now:
            raise ValueError("a FakeClock does not go backwards")
        self._now = when
        for deadline, wake in self._sleepers:
            if deadline is not None and deadline <= when:
                wake.set()

    def advance(self, delta: timedelta | float) -> None:
        self.set(self._now + (delta if isinstance(delta, timedelta) else timedelta(seconds=delta)))
