"""The scheduler: fires scheduled actions at their due times, exactly once across processes.

One loop, one timer. Due times sit in a heap; the loop sleeps until the nearest one (or until the
catalog changes), pops what is due, claims those due times in the database in one transaction, and
fires each claimed one as its own task through the same path as a tool call. Nothing scans all
schedules on a timer; a catalog change re-plans only the actions that changed.

Policies, as stated in the schedule:

- **overlap** "skip" (default): a due time that comes while the previous run of the same schedule
  is still going is skipped — in this process by a counter, across processes by the lease on the
  schedule's row. A skipped due time leaves no run record (the run history lists runs, and nothing
  ran); it is logged and counted in `status()`. "allow": runs may overlap.
- **misfire**: due times that passed while no scheduler was running (or while this one was stalled)
  collapse into one run of the most recent of them. It runs if it is less than `LATE` old (late,
  not missed) under either policy; older, it runs under "run_once" (default) if it is at most
  `settings.scheduler_misfire_grace` seconds old, and is skipped under "skip".

Exactly once: each due time is claimed with a conditional UPDATE committed before the run starts
(see `guru_mcp.store.schedules`), and the last claimed due time survives restarts, so a restart
neither repeats a due time nor (within the misfire policy) drops one. A process that dies between
its claim and the run's record leaves an expiring lease; another process (or the next start)
finds no record for that due time and fires it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.lowlevel

from guru_mcp.clock import Clock, SystemClock
from guru_mcp.cron import get_zone, next_fire, prev_fire
from guru_mcp.errors import Conflict, to_tool_text
from guru_mcp.models import Caller, StoredAction, Trigger
from guru_mcp.runs import longest_run
from guru_mcp.settings import Settings
from guru_mcp.store.schedules import Claim, Finished, ScheduleState, ScheduleStore, SyncItem

if TYPE_CHECKING:
    from guru_mcp.app import App
    from guru_mcp.catalog import Catalog
    from guru_mcp.runs import RunService

log = logging.getLogger(__name__)

FireFn = Callable[[StoredAction, datetime], Awaitable[Any]]
"""Runs a scheduled action for one due time and returns its outcome (with `.record.status`)."""

LATE = timedelta(seconds=5)
"""A due time acted on later than this was missed (the misfire policy decides), not merely late."""
LEASE_MARGIN = 30.0
"""Seconds added to an action's longest possible run (timeout + queue wait) to make its lease."""
RETRY_DELAY = 5.0
"""Seconds before retrying a catalog reload that failed (database unreachable)."""

_FIRE, _VERIFY = 0, 1


def schedule_caller(action: StoredAction) -> Caller:
    """Scheduled runs have no user: empty email and name, groups `Everyone` (as the seed says for
    non-UI callers)."""
    return Caller(key=f"schedule:{action.id}", guru=action.guru, via="schedule")


def fire_with(runs: RunService) -> FireFn:
    """A `FireFn` that runs through `RunService` with trigger `schedule`, like any tool call."""

    async def fire(action: StoredAction, due: datetime) -> Any:
        schedule = action.spec.schedule
        arguments = dict(schedule.arguments) if schedule else {}
        return await runs.run(
            action.guru,
            action.name,
            arguments,
            schedule_caller(action),
            Trigger.SCHEDULE,
            schedule_id=action.id,
            due_at=due,
        )

    return fire


def fingerprint(action: StoredAction) -> str:
    """What identifies an active schedule; "" when there is none to fire."""
    schedule = action.spec.schedule
    if schedule is None or not schedule.enabled or not action.enabled:
        return ""
    return f"{schedule.cron}\x1f{schedule.timezone}"


@dataclass(eq=False)
class _Entry:
    action: StoredAction
    fingerprint: str
    next_due: datetime | None = None
    gen: int = 0
    in_flight: int = 0
    fired: int = 0
    skipped: int = 0
    failed: int = 0
    last_status: str | None = None


class Scheduler:
    """Fires the scheduled actions of every guru. Run `run()` in a task group until cancelled.

    Args:
        catalog: the action catalog (`list_actions(guru)`, `add_listener`, `store.gurus.slugs()`).
        schedules: the firing state in the database.
        fire: what runs one due time; a `RunService` is wrapped with `fire_with`.
        settings: misfire grace and the timeouts that size leases.
        clock: `SystemClock()` by default; tests pass a `FakeClock`.
        owner_id: this process's name on leases; unique per process.
    """

    def __init__(
        self,
        catalog: Catalog,
        schedules: ScheduleStore,
        fire: FireFn | RunService,
        settings: Settings,
        clock: Clock | None = None,
        owner_id: str | None = None,
    ) -> None:
        self._catalog = catalog
        self._store = schedules
        self._fire: FireFn = fire_with(fire) if hasattr(fire, "run") else fire  # type: ignore[arg-type]
        self._settings = settings
        self._clock: Clock = clock or SystemClock()
        self.owner = (owner_id or f"{socket.gethostname()}:{os.getpid()}")[:64]
        self._entries: dict[int, _Entry] = {}
        self._versions: dict[int, tuple[str, int]] = {}  # action id -> (guru, revision) last synced
        self._heap: list[tuple[datetime, int, int, int, int, datetime]] = []
        self._seq = itertools.count()
        self._dirty: set[str] = set()
        self._dirty_all = True
        self._retry_at: datetime | None = None
        self._wake = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._pending = 0
        self._to_release: list[Finished] = []
        self._sleeping = False
        self._state_changed = anyio.Event()
        self._stopped = False

    # -- public surface ----------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Load every guru's schedules, report started, then fire until cancelled."""
        remove = self._catalog.add_listener(self.notify)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                await self._refresh()
                task_status.started()
                while True:
                    await self._tick()
        finally:
            remove()
            self._tg = None

    def notify(self, guru: str) -> None:
        """The catalog of `guru` changed: re-plan its schedules. Call on the event loop thread."""
        self._dirty.add(guru)
        self._retry_at = None
        self._wake.set()
        self._changed()

    def stop_firing(self) -> None:
        """Claim no more due times (the server is stopping: other replicas take them); runs already
        started go on. Call on the event loop thread."""
        self._stopped = True
        self._wake.set()

    def take_over(self, claims: list[tuple[int, datetime]]) -> None:
        """Claims of a stopped process were released (`guru_mcp.liveness`): settle each due time
        now — fire it if it was claimed but never run (misfire policy permitting) — and catch up
        on the due times missed while its lease stood, as after an outage (one run of the latest).
        Call on the event loop thread."""
        for action_id, due in claims:
            entry = self._entries.get(action_id)
            if entry is not None and self._tg is not None:
                self._spawn(self._recover, entry, due, True)

    def status(self) -> list[dict[str, Any]]:
        """The schedules this process fires, with their next due time (UTC and local)."""
        rows = []
        for entry in self._entries.values():
            schedule = entry.action.spec.schedule
            assert schedule is not None
            due = entry.next_due
            rows.append(
                {
                    "action_id": entry.action.id,
                    "guru": entry.action.guru,
                    "action": entry.action.name,
                    "cron": schedule.cron,
                    "timezone": schedule.timezone,
                    "next_fire_utc": due.isoformat() if due else None,
                    "next_fire_local": due.astimezone(get_zone(schedule.timezone)).isoformat()
                    if due
                    else None,
                    "running": entry.in_flight,
                    "fired": entry.fired,
                    "skipped": entry.skipped,
                    "failed": entry.failed,
                    "last_status": entry.last_status,
                }
            )
        return sorted(rows, key=lambda r: (r["guru"], r["action"]))

    def now(self) -> datetime:
        """The time as the scheduler sees it (its clock)."""
        return self._clock.now()

    async def wait_idle(self) -> None:
        """Return once the loop sleeps with nothing left to do before its timer: changes applied,
        claims committed, claimed runs started (they may still be running)."""
        while not (self._sleeping and self._pending == 0 and not self._wake.is_set()):
            await self._state_changed.wait()

    # -- the loop ----------------------------------------------------------------------------------

    def _changed(self) -> None:
        self._state_changed.set()
        self._state_changed = anyio.Event()

    async def _tick(self) -> None:
        if self._stopped:
            self._sleeping = True
            self._changed()
            await anyio.sleep_forever()
        wake = self._wake = anyio.Event()  # before reloading: a change arriving meanwhile is kept
        now = self._clock.now()
        if (self._dirty or self._dirty_all) and (self._retry_at is None or self._retry_at <= now):
            await self._refresh()
            now = self._clock.now()
        batch: list[tuple[_Entry, datetime]] = []
        while self._heap and self._heap[0][0] <= now:
            _, _, kind, action_id, gen, due = heapq.heappop(self._heap)
            entry = self._entries.get(action_id)
            if entry is None:
                continue
            if kind == _VERIFY:
                self._spawn(self._recover, entry, due)
            elif gen == entry.gen:
                try:
                    self._on_due(entry, due, now, batch)
                except Exception:  # one broken schedule must not stop the others
                    log.exception("%s: cannot plan its schedule; it stops", entry.action.name)
                    self._drop(action_id)
        if batch:
            self._spawn(self._claim_and_fire, batch)
        deadline = self._heap[0][0] if self._heap else None
        if self._retry_at is not None and (self._dirty or self._dirty_all):
            deadline = min(deadline, self._retry_at) if deadline else self._retry_at
        self._sleeping = True
        self._changed()
        try:
            await self._clock.sleep_until(deadline, wake)
        finally:
            self._sleeping = False

    def _on_due(
        self, entry: _Entry, due: datetime, now: datetime, batch: list[tuple[_Entry, datetime]]
    ) -> None:
        schedule = entry.action.spec.schedule
        assert schedule is not None
        following = next_fire(schedule.cron, schedule.timezone, due)
        if following <= now or now - due > LATE:  # behind (start-up, stall): the misfire policy decides
            latest = prev_fire(schedule.cron, schedule.timezone, now)
            if not self._may_run_late(entry, latest, now):
                log.info(
                    "%s: skipped missed due times from %s to %s (misfire policy %s)",
                    entry.action.name,
                    due.isoformat(),
                    latest.isoformat(),
                    schedule.misfire,
                )
                self._plan(entry, next_fire(schedule.cron, schedule.timezone, now))
                return
            if latest != due or now - due > LATE:
                log.info(
                    "%s: due times missed since %s; running once for %s",
                    entry.action.name,
                    due.isoformat(),
                    latest.isoformat(),
                )
            due, following = latest, next_fire(schedule.cron, schedule.timezone, latest)
        self._plan(entry, following)
        if schedule.overlap == "skip" and entry.in_flight:
            entry.skipped += 1
            log.info(
                "%s: skipped due time %s, the previous run is still going", entry.action.name, due.isoformat()
            )
            return
        entry.in_flight += 1
        batch.append((entry, due))

    def _may_run_late(self, entry: _Entry, due: datetime, now: datetime) -> bool:
        """Late by at most `LATE`, or missed but within the grace window under "run_once"."""
        schedule = entry.action.spec.schedule
        late = now - due
        if late <= LATE:
            return True
        grace = self._settings.scheduler_misfire_grace
        return schedule is not None and schedule.misfire == "run_once" and late.total_seconds() <= grace

    def _plan(self, entry: _Entry, due: datetime) -> None:
        entry.next_due = due
        heapq.heappush(self._heap, (due, next(self._seq), _FIRE, entry.action.id, entry.gen, due))

    def _verify_later(self, action_id: int, due: datetime, at: datetime) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), _VERIFY, action_id, -1, due))

    def _spawn(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Start a task counted as pending until `fn` returns."""
        assert self._tg is not None
        self._pending += 1

        async def task() -> None:
            try:
                await fn(*args)
            finally:
                self._pending -= 1
                self._changed()

        self._tg.start_soon(task)

    # -- catalog -> plan ---------------------------------------------------------------------------

    async def _refresh(self) -> None:
        try:
            if self._dirty_all:
                self._dirty |= set(await self._catalog.store.gurus.slugs())
                self._dirty_all = False
            for guru in sorted(self._dirty):
                self._dirty.discard(guru)
                try:
                    await self._load_guru(guru)
                except BaseException:
                    self._dirty.add(guru)
                    raise
            self._retry_at = None
        except Exception:
            log.exception("could not load schedules; retrying in %g s", RETRY_DELAY)
            self._retry_at = self._clock.now() + timedelta(seconds=RETRY_DELAY)

    async def _load_guru(self, guru: str) -> None:
        actions = await self._catalog.list_actions(guru)
        present = {a.id for a in actions}
        for action_id, (owner_guru, _) in list(self._versions.items()):
            if owner_guru == guru and action_id not in present:
                del self._versions[action_id]
                self._drop(action_id)
        changed = [a for a in actions if self._versions.get(a.id) != (guru, a.revision)]
        if not changed:
            return
        now = self._clock.now()
        # A schedule takes effect when it was saved, but not later than now as this process sees it
        # (clocks of processes differ a little).
        states = await self._store.sync(
            [SyncItem(a.id, a.revision, fingerprint(a), min(a.updated_at, now)) for a in changed]
        )
        for action in changed:
            self._versions[action.id] = (guru, action.revision)
            self._apply(action, states.get(action.id))

    def _apply(self, action: StoredAction, state: ScheduleState | None) -> None:
        fp = fingerprint(action)
        entry = self._entries.get(action.id)
        if not fp:
            self._drop(action.id)
            return
        if state is None or state.fingerprint != fp:
            # Our view is older than the database's; the catalog will tell us about the newer one.
            del self._versions[action.id]
            return
        if entry is not None and entry.fingerprint == fp:
            entry.action = action  # same timing; new arguments or policies apply from the next fire
            return
        if entry is None:
            entry = self._entries[action.id] = _Entry(action, fp)
        else:
            entry.action, entry.fingerprint = action, fp
            entry.gen += 1
        schedule = action.spec.schedule
        assert schedule is not None
        try:  # a due time already past is settled by the misfire policy when it is popped
            self._plan(entry, next_fire(schedule.cron, schedule.timezone, state.anchor))
        except Exception:  # validated on save, so only a definition stored by an older build
            log.exception("%s: cannot plan its schedule; it will not fire", action.name)
            self._drop(action.id)
            return
        if state.lease_until and state.claimed_by != self.owner and state.last_due_at:
            self._verify_later(action.id, state.last_due_at, state.lease_until)

    def _drop(self, action_id: int) -> None:
        entry = self._entries.pop(action_id, None)
        if entry is not None:
            entry.gen += 1
            entry.next_due = None

    async def _replan(self, entry: _Entry) -> None:
        """Plan `entry` again from the last due time claimed by anyone: the due times since then that
        are already past are settled by the misfire policy when popped."""
        try:
            state = (await self._store.states([entry.action.id])).get(entry.action.id)
        except Exception:
            log.exception("%s: could not read its schedule state", entry.action.name)
            return
        schedule = entry.action.spec.schedule
        if state is None or schedule is None or self._entries.get(entry.action.id) is not entry:
            return
        entry.gen += 1
        self._plan(entry, next_fire(schedule.cron, schedule.timezone, state.anchor))
        self._wake.set()

    # -- firing ------------------------------------------------------------------------------------

    def _lease_until(self, action: StoredAction, now: datetime) -> datetime:
        s = self._settings
        return now + timedelta(seconds=longest_run(s, action.spec) + s.run_queue_timeout + LEASE_MARGIN)

    async def _claim_and_fire(self, batch: list[tuple[_Entry, datetime]]) -> None:
        now = self._clock.now()
        claims = [
            Claim(
                action_id=entry.action.id,
                due=due,
                fingerprint=entry.fingerprint,
                lease_until=self._lease_until(entry.action, now),
                exclusive=entry.action.spec.schedule is not None
                and entry.action.spec.schedule.overlap == "skip",
            )
            for entry, due in batch
        ]
        try:
            results = await self._store.claim(claims, now=now, owner=self.owner)
        except Exception:
            log.exception("could not claim %d due time(s); they are skipped", len(batch))
            for entry, _ in batch:
                entry.in_flight -= 1
            return
        for i, ((entry, due), lost) in enumerate(zip(batch, results, strict=True)):
            if lost is None:
                self._start_fire(entry, entry.action, due)
                if i % 256 == 255:  # in a large batch, let the first runs start while the rest are spawned
                    await anyio.lowlevel.checkpoint()
                continue
            entry.in_flight -= 1
            if lost.lease_until and lost.claimed_by != self.owner and lost.last_due_at:
                self._verify_later(entry.action.id, lost.last_due_at, lost.lease_until)
        self._wake.set()  # verify timers may now be the nearest

    def _start_fire(self, entry: _Entry, action: StoredAction, due: datetime) -> None:
        assert self._tg is not None
        self._pending += 1
        self._tg.start_soon(self._fire_one, entry, action, due)

    async def _fire_one(self, entry: _Entry, action: StoredAction, due: datetime) -> None:
        error = ""
        try:
            try:
                running = self._fire(action, due)
            finally:  # the run's synchronous start happens before any other task runs
                self._pending -= 1
                self._changed()
            outcome = await running
            status = getattr(getattr(outcome, "record", None), "status", None)
            entry.last_status = getattr(status, "value", status)
            entry.fired += 1
            log.debug("%s: fired for %s -> %s", action.name, due.isoformat(), entry.last_status)
        except anyio.get_cancelled_exc_class():
            with anyio.move_on_after(5, shield=True):  # stopping: free the lease for other processes now
                await self._finish([Finished(action.id, due)])
            raise
        except Conflict:  # exactly once, enforced by the runs table: another process ran it
            log.info("%s: the run for %s had started elsewhere already", action.name, due.isoformat())
        except Exception as exc:
            error = to_tool_text(exc)
            entry.failed += 1
            entry.last_status = "failed"
            log.exception("%s: the run for %s failed to start", action.name, due.isoformat())
        finally:
            entry.in_flight -= 1
        self._release(Finished(action.id, due, error))

    def _release(self, done: Finished) -> None:
        """Queue a lease release; the ones that pile up while a release is written go in one batch."""
        self._to_release.append(done)
        if len(self._to_release) == 1:
            self._spawn(self._flush_releases)

    async def _flush_releases(self) -> None:
        while self._to_release:
            batch, self._to_release = self._to_release, []
            await self._finish(batch)

    async def _finish(self, batch: list[Finished]) -> None:
        try:
            await self._store.finish(batch, self.owner)
        except Exception:
            log.exception("could not release %d lease(s); they expire by themselves", len(batch))

    async def _recover(self, entry: _Entry, due: datetime, taking_over: bool = False) -> None:
        """A lease on `due` held by another process has expired (or is about to): settle it. When
        `taking_over` from a stopped process, re-plan from the last claimed due time afterwards."""
        now = self._clock.now()
        action = entry.action
        try:
            outcome, held_until = await self._store.recover(
                action.id, due, now=now, owner=self.owner, lease_until=self._lease_until(action, now)
            )
        except Exception:
            log.exception("%s: could not check the lease on %s", action.name, due.isoformat())
            return
        if outcome == "held" and held_until is not None:
            self._verify_later(action.id, due, held_until)
            self._wake.set()
        elif outcome == "done" and taking_over:
            await self._replan(entry)
        elif outcome == "orphaned":
            if not self._may_run_late(entry, due, now):
                reason = "claimed by a process that stopped before running it; not re-run (misfire policy)"
                self._release(Finished(action.id, due, reason))
                return
            log.warning(
                "%s: the process that claimed %s stopped before running it; running it now",
                action.name,
                due.isoformat(),
            )
            entry.in_flight += 1
            self._start_fire(entry, action, due)


async def start_scheduler(app: App, tg: anyio.abc.TaskGroup) -> Scheduler:
    """Build the scheduler for `app` and start it in `tg`; returns once every schedule is planned."""
    scheduler = Scheduler(
        app.catalog,
        app.store.schedules,
        app.runs,
        app.settings,
        owner_id=app.process_id,
    )
    await tg.start(scheduler.run)
    return scheduler
