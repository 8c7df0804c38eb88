"""Firing state of schedules, and the row claim that makes each due time fire exactly once.

A schedule lives in its action's spec; this table holds only what firing needs to survive a
restart and to be shared by several processes on one database:

- `fingerprint` — the schedule as last seen active (cron and zone; "" while paused, disabled or
  cleared) and `since`, when that fingerprint took effect. Due times at or before `since` never
  fire: a new, changed or resumed schedule does not catch up on the past.
- `last_due_at` — the latest due time claimed. A claim is one conditional UPDATE
  (`... WHERE last_due_at < :due`), committed before the run starts, so of two processes racing for
  one due time exactly one wins, on SQLite and on PostgreSQL alike.
- `claimed_by`/`lease_until` — who claimed that due time, and until when it may still be firing it
  (None once it has released the lease). A schedule whose overlap policy is "skip" is not claimed
  while another process's lease stands. A lease that expires with no run record for its due time
  means its owner died between claim and run: another process takes it over and fires that due
  time (`recover`).

Rows go with their action (ON DELETE CASCADE).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

import anyio
import sqlalchemy as sa
from sqlalchemy import Connection

from guru_mcp.store.base import Database, aware
from guru_mcp.store.tables import ActionRow, RunRow, schedule_state

T = TypeVar("T")

_actions = ActionRow.__table__  # type: ignore[attr-defined]
_runs = RunRow.__table__  # type: ignore[attr-defined]
_CHUNK = 500


@dataclass(frozen=True)
class ScheduleState:
    action_id: int
    fingerprint: str
    since: datetime
    last_due_at: datetime | None
    last_fired_at: datetime | None
    claimed_by: str | None
    """The process that claimed `last_due_at`."""
    lease_until: datetime | None
    """Until when that process may still be firing it; None once released."""
    last_error: str

    @property
    def anchor(self) -> datetime:
        """Due times at or before this instant are settled (fired, skipped, or before the schedule)."""
        return max(self.since, self.last_due_at) if self.last_due_at else self.since


@dataclass(frozen=True)
class SyncItem:
    """An action as the caller sees it: the revision it read and its schedule's fingerprint."""

    action_id: int
    revision: int
    fingerprint: str
    changed_at: datetime


@dataclass(frozen=True)
class Claim:
    action_id: int
    due: datetime
    fingerprint: str
    lease_until: datetime
    exclusive: bool
    """Overlap policy "skip": refuse while another process's fire of this schedule holds a live
    lease. (The claimer knows about its own runs and skips for them before claiming.)"""


@dataclass(frozen=True)
class Finished:
    """A fire that has ended: its lease can go. `error` says why it could not run, if it could not."""

    action_id: int
    due: datetime
    error: str = ""


@dataclass(frozen=True)
class LastRun:
    """The newest scheduled run of a schedule."""

    run_id: str
    status: str
    due_at: datetime | None
    started_at: datetime
    error: str


Recovery = Literal["done", "held", "orphaned"]


def _state(row: Any) -> ScheduleState:
    return ScheduleState(
        action_id=row.action_id,
        fingerprint=row.fingerprint,
        since=aware(row.since),
        last_due_at=aware(row.last_due_at),
        last_fired_at=aware(row.last_fired_at),
        claimed_by=row.claimed_by,
        lease_until=aware(row.lease_until),
        last_error=row.last_error,
    )


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _action_at(action_id: int, revision: int) -> sa.Exists:
    return sa.exists().where(_actions.c.id == action_id, _actions.c.revision == revision)


class ScheduleStore:
    """Async access to `schedule_state` (and, read-only, to the runs it produced)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.engine = db.engine
        self._limiter = anyio.CapacityLimiter(4)
        """Its own threads: schedule work does not wait behind run records."""

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.db.run(fn, *args, limiter=self._limiter)

    def _insert(self) -> Any:
        name = self.engine.dialect.name
        if name == "sqlite":
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(schedule_state)
        if name == "postgresql":  # the PostgreSQL dialect is imported only for a PostgreSQL engine
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(schedule_state)
        raise NotImplementedError(f"schedules need SQLite or PostgreSQL, not {name}")

    @staticmethod
    def _select(conn: Connection, ids: Sequence[int]) -> dict[int, ScheduleState]:
        out: dict[int, ScheduleState] = {}
        for chunk in _chunks(ids):
            for row in conn.execute(sa.select(schedule_state).where(schedule_state.c.action_id.in_(chunk))):
                out[row.action_id] = _state(row)
        return out

    async def states(self, action_ids: Iterable[int]) -> dict[int, ScheduleState]:
        ids = list(action_ids)

        def work() -> dict[int, ScheduleState]:
            with self.engine.connect() as conn:
                return self._select(conn, ids)

        return await self._run(work)

    async def sync(self, items: Sequence[SyncItem]) -> dict[int, ScheduleState]:
        """Record each schedule's fingerprint; a new or changed one takes effect at `changed_at`.
        Only a caller that read the action's current revision writes, so a process with a stale view
        never undoes a newer change. Returns the states of the items that have a row."""

        def work() -> dict[int, ScheduleState]:
            with self.engine.begin() as conn:
                existing = self._select(conn, [i.action_id for i in items])
                for item in items:
                    row = existing.get(item.action_id)
                    if row is None and item.fingerprint:
                        source = sa.select(
                            _actions.c.id,
                            sa.literal(item.fingerprint, sa.Text),
                            sa.literal(item.changed_at, sa.DateTime(timezone=True)),
                        ).where(_actions.c.id == item.action_id, _actions.c.revision == item.revision)
                        conn.execute(
                            self._insert()
                            .from_select(["action_id", "fingerprint", "since"], source)
                            .on_conflict_do_nothing()
                        )
                    elif row is not None and row.fingerprint != item.fingerprint:
                        conn.execute(
                            sa.update(schedule_state)
                            .where(
                                schedule_state.c.action_id == item.action_id,
                                schedule_state.c.fingerprint != item.fingerprint,
                                _action_at(item.action_id, item.revision),
                            )
                            .values(fingerprint=item.fingerprint, since=item.changed_at)
                        )
                return self._select(conn, [i.action_id for i in items])

        return await self._run(work)

    async def claim(
        self, claims: Sequence[Claim], *, now: datetime, owner: str
    ) -> list[ScheduleState | None]:
        """Claim due times, all in one transaction (one UPDATE ... RETURNING per group of claims that
        share due time, lease and policy). For each claim: None if it was won, else the row as it
        stands (absent when the schedule is gone), to tell whose lease holds it."""
        groups: dict[tuple[datetime, datetime, bool], list[Claim]] = {}
        for c in claims:
            groups.setdefault((c.due, c.lease_until, c.exclusive), []).append(c)

        def work() -> list[ScheduleState | None]:
            won: set[int] = set()
            with self.engine.begin() as conn:
                for (due, lease_until, exclusive), group in groups.items():
                    conditions = [
                        sa.or_(schedule_state.c.last_due_at.is_(None), schedule_state.c.last_due_at < due),
                        sa.exists().where(
                            _actions.c.id == schedule_state.c.action_id, _actions.c.enabled.is_(True)
                        ),
                    ]
                    if exclusive:  # the caller vouches for its own runs; others' count while leased
                        conditions.append(
                            sa.or_(
                                schedule_state.c.lease_until.is_(None),
                                schedule_state.c.claimed_by == owner,
                                schedule_state.c.lease_until <= now,
                            )
                        )
                    for chunk in _chunks(group):
                        keys = sa.tuple_(schedule_state.c.action_id, schedule_state.c.fingerprint)
                        result = conn.execute(
                            sa.update(schedule_state)
                            .where(keys.in_([(c.action_id, c.fingerprint) for c in chunk]), *conditions)
                            .values(
                                last_due_at=due,
                                last_fired_at=now,
                                claimed_by=owner,
                                lease_until=lease_until,
                                last_error="",
                            )
                            .returning(schedule_state.c.action_id)
                        )
                        won.update(result.scalars())
                lost = self._select(conn, [c.action_id for c in claims if c.action_id not in won])
            return [None if c.action_id in won else lost.get(c.action_id) for c in claims]

        return await self._run(work)

    async def finish(self, done: Sequence[Finished], owner: str) -> None:
        """Release the leases of fires that have ended, noting why one failed if it did."""

        def work() -> None:
            with self.engine.begin() as conn:
                clean = [(f.action_id, f.due) for f in done if not f.error]
                keys = sa.tuple_(schedule_state.c.action_id, schedule_state.c.last_due_at)
                for chunk in _chunks(clean):
                    conn.execute(
                        sa.update(schedule_state)
                        .where(keys.in_(chunk), schedule_state.c.claimed_by == owner)
                        .values(lease_until=None, last_error="")
                    )
                for f in done:
                    if f.error:
                        conn.execute(
                            sa.update(schedule_state)
                            .where(
                                schedule_state.c.action_id == f.action_id,
                                schedule_state.c.last_due_at == f.due,
                                schedule_state.c.claimed_by == owner,
                            )
                            .values(lease_until=None, last_error=f.error[:2000])
                        )

        await self._run(work)

    async def recover(
        self, action_id: int, due: datetime, *, now: datetime, owner: str, lease_until: datetime
    ) -> tuple[Recovery, datetime | None]:
        """Settle the lease on a claimed due time: "done" (released, superseded, or its run is
        recorded — the lease is then cleared), "held" (still valid until the returned instant), or
        "orphaned" (expired with no run recorded: the lease is now ours, the caller fires it)."""

        def work() -> tuple[Recovery, datetime | None]:
            with self.engine.begin() as conn:
                row = conn.execute(
                    sa.select(schedule_state).where(schedule_state.c.action_id == action_id)
                ).first()
                state = _state(row) if row is not None else None
                if state is None or state.last_due_at != due or state.lease_until is None:
                    return "done", None
                if state.lease_until > now:
                    return "held", state.lease_until
                recorded = conn.execute(
                    sa.select(_runs.c.id)
                    .where(_runs.c.schedule_id == action_id, _runs.c.due_at == due)
                    .limit(1)
                ).first()
                result = conn.execute(
                    sa.update(schedule_state)
                    .where(
                        schedule_state.c.action_id == action_id,
                        schedule_state.c.last_due_at == due,
                        schedule_state.c.claimed_by == state.claimed_by,
                        schedule_state.c.lease_until == state.lease_until,
                    )
                    .values(
                        claimed_by=state.claimed_by if recorded else owner,
                        lease_until=None if recorded else lease_until,
                    )
                )
                return ("orphaned" if result.rowcount == 1 and not recorded else "done"), None

        return await self._run(work)

    async def last_runs(self, action_ids: Iterable[int]) -> dict[int, LastRun]:
        """The newest scheduled run of each schedule that has one."""
        ids = list(action_ids)

        def work() -> dict[int, LastRun]:
            out: dict[int, LastRun] = {}
            with self.engine.connect() as conn:
                for chunk in _chunks(ids):
                    rank = (
                        sa.func.row_number()
                        .over(partition_by=_runs.c.schedule_id, order_by=_runs.c.started_at.desc())
                        .label("rank")
                    )
                    inner = (
                        sa.select(
                            _runs.c.schedule_id,
                            _runs.c.id,
                            _runs.c.status,
                            _runs.c.due_at,
                            _runs.c.started_at,
                            _runs.c.error,
                            rank,
                        )
                        .where(_runs.c.schedule_id.in_(chunk), _runs.c.trigger == "schedule")
                        .subquery()
                    )
                    for row in conn.execute(sa.select(inner).where(inner.c.rank == 1)):
                        out[row.schedule_id] = LastRun(
                            run_id=row.id,
                            status=row.status,
                            due_at=aware(row.due_at),
                            started_at=aware(row.started_at),
                            error=row.error,
                        )
            return out

        return await self._run(work)
