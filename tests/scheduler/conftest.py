"""Scheduler harness: a real app on SQLite, a FakeClock moved by hand, and a fake `fire` that records
each call. Nothing waits in real time: moving the clock wakes the loop, `idle()` waits (with a
deadline) until every scheduler has acted on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.abc
import pytest

from guru_mcp.app import App, open_app
from guru_mcp.clock import FakeClock
from guru_mcp.models import RunStatus, StoredAction, parse_spec
from guru_mcp.scheduler import Scheduler
from guru_mcp.settings import Settings
from tests.conftest import api_action
from tests.support.records import run_record

START = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)
"""A Saturday, the day before New York's spring-forward (and in the past: saves are stamped with
real time, and a schedule takes effect at the earlier of its save and the scheduler's clock)."""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@dataclass
class Fired:
    action: str
    due: datetime
    at: datetime
    owner: str


@dataclass
class Running:
    scheduler: Scheduler
    scope: anyio.CancelScope
    done: anyio.Event


@dataclass
class Harness:
    app: App
    clock: FakeClock
    tg: anyio.abc.TaskGroup
    calls: list[Fired] = field(default_factory=list)
    crash: set[str] = field(default_factory=set)
    gates: dict[str, anyio.Event] = field(default_factory=dict)
    running: dict[str, Running] = field(default_factory=dict)
    active: int = 0
    active_changed: anyio.Event = field(default_factory=anyio.Event)
    waiting: dict[str, int] = field(default_factory=dict)

    @property
    def guru(self) -> str:
        return self.app.settings.default_guru

    def fake_fire(self, owner: str) -> Any:
        """Records each call and a run record; actions in `crash` raise, those with a gate block until it
        opens."""

        async def fire(action: StoredAction, due: datetime) -> Any:
            self.calls.append(Fired(action.name, due, self.clock.now(), owner))
            if action.name in self.crash:
                raise RuntimeError("boom")
            await self.app.store.runs.start_run(  # as RunService does when a run starts
                run_record(action, due_at=due, started_at=self.clock.now())
            )
            if (gate := self.gates.get(action.name)) is not None:
                self._active(-1)  # blocked on purpose: `release` counts it again
                self.waiting[action.name] = self.waiting.get(action.name, 0) + 1
                await gate.wait()
            return SimpleNamespace(record=SimpleNamespace(status=RunStatus.OK))

        return fire

    def _tracked(self, fire: Any) -> Any:
        """Count runs in progress, so `idle` waits for them (they take real time, not fake time)."""

        async def tracked(action: StoredAction, due: datetime) -> Any:
            self._active(+1)
            try:
                return await fire(action, due)
            finally:
                self._active(-1)

        return tracked

    async def start(self, owner: str = "a", *, fire: Any = None, **settings: Any) -> Scheduler:
        """Start a scheduler (a stand-in for one server process) and wait until it has planned."""
        scheduler = Scheduler(
            self.app.catalog,
            self.app.store.schedules,
            self._tracked(fire or self.fake_fire(owner)),
            self.app.settings.model_copy(update=settings),
            self.clock,
            owner,
        )
        scope, done = anyio.CancelScope(), anyio.Event()

        async def run(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            try:
                with scope:
                    await scheduler.run(task_status=task_status)
            finally:
                done.set()

        await self.tg.start(run)
        self.running[owner] = Running(scheduler, scope, done)
        await self.idle()
        return scheduler

    async def stop(self, owner: str = "a") -> None:
        """Stop a scheduler as a process exit would (its runs are cancelled)."""
        running = self.running.pop(owner)
        running.scope.cancel()
        with anyio.fail_after(5):
            await running.done.wait()

    def _active(self, delta: int) -> None:
        self.active += delta
        self.active_changed.set()
        self.active_changed = anyio.Event()

    def release(self, name: str) -> None:
        """Let the blocked runs of `name` finish."""
        self._active(self.waiting.pop(name, 0))
        self.gates.pop(name).set()

    async def idle(self) -> None:
        """Wait until every scheduler is idle and every fake run not blocked on purpose has ended."""
        with anyio.fail_after(10):
            while True:
                for running in list(self.running.values()):
                    await running.scheduler.wait_idle()
                if self.active == 0:
                    return
                await self.active_changed.wait()

    async def until(self, when: datetime) -> None:
        """Move the clock to `when`, stopping at every deadline on the way, as time would pass."""
        await self.idle()
        while (deadline := self.clock.next_deadline()) is not None and deadline <= when:
            self.clock.set(deadline)
            await self.idle()
        self.clock.set(when)
        await self.idle()

    async def schedule(self, name: str, cron: str | None, tz: str = "UTC", **options: Any) -> StoredAction:
        """Create or replace an action `name` with this schedule (None: no schedule)."""
        extra = {k: options.pop(k) for k in ("parameters", "enabled") if k in options}
        schedule = None if cron is None else {"cron": cron, "timezone": tz, **options}
        spec = parse_spec(api_action(name, "http://127.0.0.1:9/never", schedule=schedule, **extra))
        saved = await self.app.catalog.save_spec(self.guru, spec)
        await self.idle()
        return saved.action

    def dues(self, name: str) -> list[datetime]:
        return [c.due for c in self.calls if c.action == name]


@pytest.fixture
async def h(settings: Settings) -> AsyncIterator[Harness]:
    assert datetime.now(UTC) > START, "the harness needs START in the past"
    async with open_app(settings, background=False, sandbox=False) as app, anyio.create_task_group() as tg:
        yield Harness(app, FakeClock(START), tg)
        tg.cancel_scope.cancel()
