"""The `processes` table: which server processes are alive, and what to settle when one is not.

A process registers at start-up, beats its heartbeat every few seconds and removes its row when it
stops cleanly. A process is *live* while its row's heartbeat is recent; anything stamped with the id
of a process that is not live (runs still `running`, schedule claims with a lease) was cut off by a
stop and is recovered by whichever live process sweeps first: runs are marked `cancelled`, leases
expire so the schedulers may claim again and settle the due time (see `guru_mcp.scheduler`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import anyio
import sqlalchemy as sa

from guru_mcp.models import RunStatus
from guru_mcp.store.base import Database, aware
from guru_mcp.store.tables import ProcessRow, RunRow, schedule_state

T = TypeVar("T")

_processes = ProcessRow.__table__  # type: ignore[attr-defined]
_runs = RunRow.__table__  # type: ignore[attr-defined]

STOPPED_REASON = "the server running it stopped"


@dataclass(frozen=True)
class Recovered:
    """What one sweep settled."""

    processes: list[str]
    """Ids of the processes found stopped (their rows are gone now)."""
    runs: int
    """Runs of theirs that were still `running`, now `cancelled`."""
    claims: list[tuple[int, datetime]]
    """(schedule's action id, due time) of each claim of theirs whose lease was expired."""


class ProcessStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.engine = db.engine
        self._limiter = anyio.CapacityLimiter(1)
        """Its own threads: the heartbeat never waits behind other storage work."""

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.db.run(fn, *args, limiter=self._limiter)

    async def beat(self, process_id: str, *, host: str, pid: int, now: datetime) -> bool:
        """Register or refresh the heartbeat. False if the row had gone (first beat, or another
        process took this one for stopped)."""

        def work() -> bool:
            with self.engine.begin() as conn:
                result = conn.execute(
                    sa.update(_processes).where(_processes.c.id == process_id).values(heartbeat_at=now)
                )
                if result.rowcount == 1:
                    return True
                conn.execute(
                    sa.insert(_processes).values(
                        id=process_id, host=host, pid=pid, started_at=now, heartbeat_at=now
                    )
                )
                return False

        return await self._run(work)

    async def remove(self, process_id: str) -> None:
        def work() -> None:
            with self.engine.begin() as conn:
                conn.execute(sa.delete(_processes).where(_processes.c.id == process_id))

        await self._run(work)

    async def recover(
        self,
        *,
        me: str,
        now: datetime,
        lapse: timedelta,
        host: str,
        dead: Callable[[int], bool],
    ) -> Recovered:
        """Settle everything owned by processes that are not live: those whose heartbeat is older
        than `lapse`, those of this `host` whose pid is `dead`, and ids stamped on runs or claims
        that have no row at all. One transaction."""

        def work() -> Recovered:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    sa.select(_processes.c.id, _processes.c.host, _processes.c.pid, _processes.c.heartbeat_at)
                ).all()
                stopped = [
                    r.id
                    for r in rows
                    if r.id != me
                    and (aware(r.heartbeat_at) < now - lapse or (r.host == host and dead(r.pid)))
                ]
                live = [r.id for r in rows if r.id not in stopped]
                if stopped:
                    conn.execute(sa.delete(_processes).where(_processes.c.id.in_(stopped)))
                not_live = sa.and_(_runs.c.process_id.is_not(None), _runs.c.process_id.not_in(live))
                cancelled = conn.execute(
                    sa.update(_runs)
                    .where(_runs.c.status == RunStatus.RUNNING.value, not_live)
                    .values(status=RunStatus.CANCELLED.value, error=STOPPED_REASON, ended_at=now)
                ).rowcount
                orphaned = sa.and_(
                    schedule_state.c.lease_until.is_not(None),
                    schedule_state.c.lease_until > now,
                    schedule_state.c.claimed_by.is_not(None),
                    schedule_state.c.claimed_by.not_in(live),
                )
                claims = [
                    (r.action_id, aware(r.last_due_at))
                    for r in conn.execute(
                        sa.update(schedule_state)
                        .where(orphaned)
                        .values(lease_until=now)
                        .returning(schedule_state.c.action_id, schedule_state.c.last_due_at)
                    )
                ]
                return Recovered(stopped, cancelled or 0, claims)

        return await self._run(work)

    async def live(self) -> list[str]:
        def work() -> list[str]:
            with self.engine.connect() as conn:
                return list(conn.execute(sa.select(_processes.c.id)).scalars())

        return await self._run(work)
