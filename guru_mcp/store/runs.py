"""Run records: written when a run starts (before anything executes) and when it ends; read back
as `RunRecord`s for history, statistics and agent run trees."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import bindparam, func, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from guru_mcp.errors import Conflict, NotFound
from guru_mcp.models import RunRecord, RunStatus, Trigger
from guru_mcp.store.base import Database, aware
from guru_mcp.store.tables import RunRow, utcnow

# Run records are written twice per call (start, finish), so they use constant Core statements with
# parameters given at execution: no ORM unit of work, no statement built per call (about 4x less CPU).
_RUNS = RunRow.__table__  # type: ignore[attr-defined]
_INSERT_RUN = insert(_RUNS)
_FINISH_RUN = update(_RUNS).where(_RUNS.c.id == bindparam("run_id_"))


class _InlineSQLite:
    """The two run-record writes of a call on SQLite, done on the event loop itself, on one kept-open
    connection, as plain DBAPI statements: no worker-thread hop (two per call, each a wake-up of the
    loop from another thread) and no SQLAlchemy execution layer, the largest shares of a call's server
    CPU. Committed before `start_run` returns, as before (WAL with `synchronous=NORMAL`: a commit is in
    the WAL file when it returns, so it survives a crash of this process).

    It never waits: its busy timeout is 0, so when another connection holds the write lock (a CLI
    command, another replica) or anything else goes wrong, the write is rolled back here and done again
    on the usual path (a worker thread, the 30 s busy timeout, storage faults as `StorageError`)."""

    def __init__(self, db: Database) -> None:
        engine = db.engine
        self._engine = engine
        self._conn: Any = None
        dialect = engine.dialect
        self._convert: dict[str, Callable[[Any], Any]] = {}
        for column in _RUNS.c:
            processor = column.type.dialect_impl(dialect).bind_processor(dialect)  # as SQLAlchemy stores it
            if processor is not None:
                self._convert[column.name] = processor
        self._sql: dict[tuple[str, ...], str] = {}
        """The statement for each set of columns written, built on first use."""

    def _connection(self) -> Any:
        if self._conn is None:
            raw = self._engine.raw_connection()  # the engine's pragmas applied (WAL, foreign keys)
            driver: Any = raw.driver_connection
            driver.execute("PRAGMA busy_timeout=0")
            self._conn = raw
        return self._conn.driver_connection

    def _params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        convert = self._convert
        return {k: (convert[k](v) if k in convert and v is not None else v) for k, v in values.items()}

    def _write(self, sql: str, params: dict[str, Any]) -> bool:
        try:
            conn = self._connection()
        except Exception:
            return False
        try:
            conn.execute(sql, params)
            conn.commit()
        except sqlite3.Error:
            try:
                conn.rollback()
            except sqlite3.Error:
                self.close()
            return False
        return True

    def insert(self, row: dict[str, Any]) -> bool:
        keys = tuple(row)
        sql = self._sql.get(keys)
        if sql is None:
            sql = self._sql[keys] = (
                f"INSERT INTO {_RUNS.name} ({', '.join(keys)}) VALUES ({', '.join(':' + k for k in keys)})"
            )
        return self._write(sql, self._params(row))

    def finish(self, values: dict[str, Any]) -> bool:
        """Update the run `values["run_id_"]` with the other `values`."""
        keys = ("update", *values)
        sql = self._sql.get(keys)
        if sql is None:
            sets = ", ".join(f"{k} = :{k}" for k in values if k != "run_id_")
            sql = self._sql[keys] = f"UPDATE {_RUNS.name} SET {sets} WHERE id = :run_id_"
        return self._write(sql, self._params(values))

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection: nothing left to close
                conn.close()


class RunFact(NamedTuple):
    """What statistics and charts need of one finished run."""

    action: str
    trigger: str
    status: str
    duration_ms: float | None
    started_at: datetime


def _to_run(row: RunRow, guru: str) -> RunRecord:
    return RunRecord(
        id=row.id,
        guru=guru,
        action_id=row.action_id,
        action_name=row.action_name,
        action_version=row.action_version,
        trigger=Trigger(row.trigger),
        caller=json.loads(row.caller),
        inputs=json.loads(row.inputs),
        status=RunStatus(row.status),
        output=row.output,
        truncated=row.truncated,
        error=row.error,
        hosts=json.loads(row.hosts),
        hosts_refused=json.loads(row.hosts_refused or "[]"),
        schedule_id=row.schedule_id,
        due_at=aware(row.due_at),
        started_at=aware(row.started_at),
        ended_at=aware(row.ended_at),
        duration_ms=row.duration_ms,
        parent_run_id=row.parent_run_id,
        depth=row.depth,
        usage=json.loads(row.usage or "{}"),
    )


class RunStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.process_id: str | None = None
        """Stamped on every run this store starts (set once the process is registered as live)."""
        file_db = db.dialect == "sqlite" and (db.engine.url.database or ":memory:") != ":memory:"
        self._inline = _InlineSQLite(db) if file_db else None

    def close(self) -> None:
        """Close the kept-open connection of the inline writes (SQLite), if one was opened."""
        if self._inline is not None:
            self._inline.close()

    async def start_run(self, record: RunRecord) -> None:
        row = None
        if self._inline is not None and self.db.cached_guru_id(record.guru) is not None:
            row = self._row(record)
            if self._inline.insert(row):
                return

        def work() -> None:
            try:
                with self.db.engine.begin() as conn:
                    conn.execute(_INSERT_RUN, row or self._row(record))
            except IntegrityError:
                if record.schedule_id is None:
                    raise
                raise Conflict(
                    f"the due time {record.due_at} of schedule {record.schedule_id} has run already"
                ) from None

        await self.db.run(work)

    def _row(self, record: RunRecord) -> dict[str, Any]:
        return {
            "id": record.id,
            "guru_id": self.db.known_guru_id(record.guru),
            "action_id": record.action_id,
            "action_name": record.action_name,
            "action_version": record.action_version,
            "trigger": record.trigger.value,
            "caller": json.dumps(record.caller),
            "inputs": json.dumps(record.inputs),
            "status": record.status.value,
            "output": record.output,
            "truncated": record.truncated,
            "error": record.error,
            "hosts": json.dumps(record.hosts),
            "hosts_refused": json.dumps(record.hosts_refused),
            "schedule_id": record.schedule_id,
            "due_at": record.due_at,
            "started_at": record.started_at,
            "ended_at": record.ended_at,
            "duration_ms": record.duration_ms,
            "process_id": self.process_id,
            "parent_run_id": record.parent_run_id,
            "depth": record.depth,
            "usage": json.dumps(record.usage),
        }

    async def finish_run(
        self,
        run_id: str,
        *,
        status: RunStatus,
        output: str,
        truncated: bool,
        error: str,
        hosts: list[str],
        ended_at: datetime,
        duration_ms: float,
        hosts_refused: list[str] | None = None,
        usage: dict[str, Any] | None = None,
    ) -> None:
        values = {
            "run_id_": run_id,
            "usage": json.dumps(usage or {}),
            "status": status.value,
            "output": output,
            "truncated": truncated,
            "error": error,
            "hosts": json.dumps(hosts),
            "hosts_refused": json.dumps(hosts_refused or []),
            "ended_at": ended_at,
            "duration_ms": duration_ms,
        }
        if self._inline is not None and self._inline.finish(values):
            return

        def work() -> None:
            with self.db.engine.begin() as conn:
                conn.execute(_FINISH_RUN, values)

        await self.db.run(work)

    async def list_runs(
        self,
        guru: str,
        *,
        action: str | None = None,
        status: str | None = None,
        trigger: str | None = None,
        schedule_id: int | None = None,
        caller: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        text: str | None = None,
        parent_run_id: str | None = None,
        top_level: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs, newest first. `caller` matches the caller's key, email or name (substring);
        `text` is a case-insensitive substring of the inputs, output or error. `parent_run_id` lists one
        agent run's tool calls; `top_level` leaves them out."""

        def like(column: Any, value: str) -> Any:
            escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return func.lower(column).like(f"%{escaped}%", escape="\\")

        def work() -> list[RunRecord]:
            with self.db.session() as s:
                query = select(RunRow).where(RunRow.guru_id == self.db.guru_id(s, guru))
                if parent_run_id is not None:
                    query = query.where(RunRow.parent_run_id == parent_run_id)
                if top_level:
                    query = query.where(col(RunRow.parent_run_id).is_(None))
                if action:
                    query = query.where(RunRow.action_name == action)
                if status:
                    query = query.where(RunRow.status == status)
                if trigger:
                    query = query.where(RunRow.trigger == trigger)
                if schedule_id is not None:
                    query = query.where(RunRow.schedule_id == schedule_id)
                if caller:
                    query = query.where(like(RunRow.caller, caller))
                if since is not None:
                    query = query.where(RunRow.started_at >= since)
                if until is not None:
                    query = query.where(RunRow.started_at < until)
                if text:
                    query = query.where(
                        or_(like(RunRow.output, text), like(RunRow.error, text), like(RunRow.inputs, text))
                    )
                query = query.order_by(col(RunRow.started_at).desc()).offset(offset).limit(limit)
                return [_to_run(r, guru) for r in s.exec(query).all()]

        return await self.db.run(work)

    async def get_run(self, guru: str, run_id: str) -> RunRecord:
        def work() -> RunRecord:
            with self.db.session() as s:
                row = s.get(RunRow, run_id)
                if row is None or row.guru_id != self.db.guru_id(s, guru):
                    raise NotFound(f"no run {run_id!r}")
                return _to_run(row, guru)

        return await self.db.run(work)

    async def child_runs(self, guru: str, parent_ids: list[str]) -> list[RunRecord]:
        """The runs started by any of these runs, oldest first (one level of an agent's run tree)."""

        def work() -> list[RunRecord]:
            with self.db.session() as s:
                query = (
                    select(RunRow)
                    .where(
                        RunRow.guru_id == self.db.guru_id(s, guru), col(RunRow.parent_run_id).in_(parent_ids)
                    )
                    .order_by(col(RunRow.started_at))
                )
                return [_to_run(r, guru) for r in s.exec(query).all()]

        return await self.db.run(work) if parent_ids else []

    async def run_facts(
        self, guru: str, since: datetime | None, until: datetime | None = None, action: str | None = None
    ) -> list[RunFact]:
        """The facts of every finished run started in [since, until), oldest first: the raw material
        of statistics and charts."""

        def work() -> list[RunFact]:
            with self.db.session() as s:
                r = _RUNS.c
                query = sa.select(r.action_name, r.trigger, r.status, r.duration_ms, r.started_at).where(
                    r.guru_id == self.db.guru_id(s, guru), r.status != RunStatus.RUNNING.value
                )
                if since is not None:
                    query = query.where(r.started_at >= since)
                if until is not None:
                    query = query.where(r.started_at < until)
                if action:
                    query = query.where(r.action_name == action)
                rows = s.execute(query.order_by(r.started_at)).all()
                return [RunFact(a, t, st, d, aware(at)) for a, t, st, d, at in rows]

        return await self.db.run(work)

    async def last_run_times(self, guru: str) -> dict[str, datetime]:
        """When each action (by name) last started a run, whatever its outcome."""

        def work() -> dict[str, datetime]:
            with self.db.session() as s:
                query = (
                    select(RunRow.action_name, func.max(RunRow.started_at))
                    .where(RunRow.guru_id == self.db.guru_id(s, guru))
                    .group_by(RunRow.action_name)
                )
                return {name: aware(at) for name, at in s.exec(query).all() if at is not None}

        return await self.db.run(work)

    async def mark_stale_runs(self, older_than: timedelta) -> int:
        """Runs still `running` long after any run could have ended were cut off by a crash."""

        def work() -> int:
            cutoff = utcnow() - older_than
            with self.db.session() as s:
                result = s.execute(
                    update(RunRow)
                    .where(col(RunRow.status) == RunStatus.RUNNING.value, col(RunRow.started_at) < cutoff)
                    .values(
                        status=RunStatus.CANCELLED.value,
                        error="the server stopped during this run",
                        ended_at=utcnow(),
                    )
                )
                s.commit()
                return result.rowcount or 0  # type: ignore[attr-defined]

        return await self.db.run(work)
