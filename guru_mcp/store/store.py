"""The only database API: an async facade over synchronous SQLAlchemy sessions run in worker threads."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import anyio
from sqlalchemy import Engine, bindparam, func, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from guru_mcp.errors import Conflict, NotFound
from guru_mcp.models import ActionSpec, RunRecord, RunStatus, StoredAction, Trigger
from guru_mcp.store.faults import guarded
from guru_mcp.store.tables import ActionRow, ActionVersionRow, GuruRow, RunRow, SecretRow, utcnow
from guru_mcp.versions import diff, summarize

T = TypeVar("T")

# Run records are written twice per call (start, finish), so they use constant Core statements with
# parameters given at execution: no ORM unit of work, no statement built per call (about 4x less CPU).
_RUNS = RunRow.__table__  # type: ignore[attr-defined]
_INSERT_RUN = insert(_RUNS)
_FINISH_RUN = update(_RUNS).where(_RUNS.c.id == bindparam("run_id_"))


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    """Async access to gurus, actions, secrets, runs and tokens. Never executes anything."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.process_id: str | None = None
        """Stamped on every run this store starts (set once the process is registered as live)."""
        self._guru_ids: dict[str, int] = {}
        self._limiter = anyio.CapacityLimiter(8)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(partial(guarded(fn), *args), limiter=self._limiter)

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- gurus -------------------------------------------------------------------------------------

    def _guru_id(self, session: Session, slug: str, *, create: bool = False) -> int:
        if slug in self._guru_ids:
            return self._guru_ids[slug]
        row = session.exec(select(GuruRow).where(GuruRow.slug == slug)).first()
        if row is None:
            if not create:
                raise NotFound(f"no guru {slug!r} (create it: guru-mcp gurus create {slug})")
            row = GuruRow(slug=slug)
            session.add(row)
            session.flush()
        assert row.id is not None
        self._guru_ids[slug] = row.id
        return row.id

    async def ensure_guru(self, slug: str) -> int:
        def work() -> int:
            with self._session() as s:
                gid = self._guru_id(s, slug, create=True)
                s.commit()
                return gid

        return await self._run(work)

    async def list_gurus(self) -> list[str]:
        def work() -> list[str]:
            with self._session() as s:
                return list(s.exec(select(GuruRow.slug).order_by(GuruRow.slug)).all())

        return await self._run(work)

    async def catalog_version(self, guru: str) -> int:
        def work() -> int:
            with self._session() as s:
                gid = self._guru_id(s, guru)
                return s.exec(select(GuruRow.catalog_version).where(GuruRow.id == gid)).one()

        return await self._run(work)

    @staticmethod
    def _bump(session: Session, guru_id: int) -> None:
        session.execute(
            update(GuruRow)
            .where(col(GuruRow.id) == guru_id)
            .values(catalog_version=GuruRow.catalog_version + 1)
        )

    # -- actions -----------------------------------------------------------------------------------

    @staticmethod
    def _to_action(row: ActionRow, guru: str) -> StoredAction:
        assert row.id is not None
        return StoredAction(
            id=row.id,
            guru=guru,
            spec=ActionSpec.model_validate_json(row.spec),
            version=row.version,
            revision=row.revision,
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            created_at=aware(row.created_at),  # type: ignore[arg-type]
            updated_at=aware(row.updated_at),  # type: ignore[arg-type]
        )

    async def list_actions(self, guru: str) -> list[StoredAction]:
        def work() -> list[StoredAction]:
            with self._session() as s:
                gid = self._guru_id(s, guru)
                rows = s.exec(
                    select(ActionRow).where(ActionRow.guru_id == gid).order_by(ActionRow.name)
                ).all()
                return [self._to_action(r, guru) for r in rows]

        return await self._run(work)

    async def list_actions_reusing(
        self, guru: str, known: dict[tuple[int, int], StoredAction]
    ) -> list[StoredAction]:
        """Like `list_actions`, but rows whose (id, revision) is in `known` are not read or parsed again."""

        def work() -> list[StoredAction]:
            with self._session() as s:
                gid = self._guru_id(s, guru)
                keys = s.exec(
                    select(ActionRow.id, ActionRow.revision)
                    .where(ActionRow.guru_id == gid)
                    .order_by(ActionRow.name)
                ).all()
                fresh_ids = [i for i, v in keys if (i, v) not in known]
                fresh = {}
                if fresh_ids:
                    rows = s.exec(select(ActionRow).where(col(ActionRow.id).in_(fresh_ids))).all()
                    fresh = {(r.id, r.revision): self._to_action(r, guru) for r in rows}
                out = []
                for key in keys:
                    action = known.get(key) or fresh.get(key)
                    if action is not None:  # a row changed between the two reads: the next poll catches it
                        out.append(action)
                return out

        return await self._run(work)

    async def get_action(self, guru: str, name: str) -> StoredAction:
        def work() -> StoredAction:
            with self._session() as s:
                row = self._action_row(s, guru, name)
                return self._to_action(row, guru)

        return await self._run(work)

    def _action_row(self, s: Session, guru: str, name: str) -> ActionRow:
        gid = self._guru_id(s, guru)
        row = s.exec(select(ActionRow).where(ActionRow.guru_id == gid, ActionRow.name == name)).first()
        if row is None:
            raise NotFound(f"no action named {name!r}")
        return row

    async def save_action(
        self,
        guru: str,
        spec: ActionSpec,
        *,
        enabled: bool,
        disabled_reason: str = "",
        create: bool = True,
        replace: bool = True,
        expected_version: int | None = None,
        actor: str = "",
        summary: str = "",
    ) -> tuple[StoredAction, bool]:
        """Insert or update an action. Returns (action, created).

        A change to the definition (`ActionSpec.definition()`) makes a new version and stores the whole
        spec in `action_versions`, with `actor` and a summary (`summary`, or one computed from the
        diff); a change of state only (enabled, schedule paused) does not. `expected_version` refuses
        the save unless the action is still at that version."""

        def work() -> tuple[StoredAction, bool]:
            with self._session() as s:
                gid = self._guru_id(s, guru)
                row = s.exec(
                    select(ActionRow).where(ActionRow.guru_id == gid, ActionRow.name == spec.name)
                ).first()
                created = row is None
                if row is None:
                    if not create:
                        raise NotFound(f"no action named {spec.name!r}")
                    row = ActionRow(
                        id=self._new_action_id(s), guru_id=gid, name=spec.name, spec="", version=0
                    )
                elif not replace:
                    raise Conflict(f"an action named {spec.name!r} exists already (update it instead)")
                if expected_version is not None and row.version != expected_version:
                    raise Conflict(
                        f"action {spec.name!r} is at version {row.version}, not {expected_version}; "
                        "reload it and try again"
                    )
                new_json = spec.model_dump_json()
                if (
                    not created
                    and new_json == row.spec
                    and (row.enabled, row.disabled_reason) == (enabled, disabled_reason)
                ):
                    return self._to_action(row, guru), False
                changes = (
                    None
                    if created
                    else diff(ActionSpec.model_validate_json(row.spec).definition(), spec.definition())
                )
                row.spec = new_json
                row.revision += 1
                row.enabled = enabled
                row.disabled_reason = disabled_reason
                row.updated_at = utcnow()
                if changes is None or changes:
                    row.version += 1
                s.add(row)
                s.flush()
                if changes is None or changes:
                    assert row.id is not None
                    s.add(
                        ActionVersionRow(
                            guru_id=gid,
                            action_id=row.id,
                            action_name=spec.name,
                            version=row.version,
                            spec=new_json,
                            changed_by=actor,
                            created_at=row.updated_at,
                            summary=summary or ("created" if changes is None else summarize(changes)),
                        )
                    )
                self._bump(s, gid)
                s.commit()
                return self._to_action(row, guru), created

        return await self._run(work)

    def _new_action_id(self, s: Session) -> int | None:
        """SQLite hands a deleted highest row id out again; versions and runs of the deleted action
        still carry it, so on SQLite ids are allocated past both. Other databases use a sequence."""
        if self.engine.dialect.name != "sqlite":
            return None
        top = s.exec(select(func.max(ActionRow.id))).one() or 0
        kept = s.exec(select(func.max(ActionVersionRow.action_id))).one() or 0
        return max(top, kept) + 1

    async def set_enabled(
        self, guru: str, names: list[str], enabled: bool, reason: str = ""
    ) -> list[StoredAction]:
        """State, not definition: no new version."""

        def work() -> list[StoredAction]:
            with self._session() as s:
                changed = []
                for name in names:
                    row = self._action_row(s, guru, name)
                    if row.enabled == enabled and row.disabled_reason == reason:
                        continue
                    row.enabled, row.disabled_reason = enabled, reason
                    row.revision += 1
                    row.updated_at = utcnow()
                    s.add(row)
                    changed.append(row)
                if changed:
                    self._bump(s, self._guru_id(s, guru))
                s.commit()
                return [self._to_action(r, guru) for r in changed]

        return await self._run(work)

    # -- versions ----------------------------------------------------------------------------------

    @staticmethod
    def _version_dict(row: ActionVersionRow) -> dict[str, Any]:
        return {
            "action_id": row.action_id,
            "action_name": row.action_name,
            "version": row.version,
            "spec": row.spec,
            "changed_by": row.changed_by,
            "summary": row.summary,
            "created_at": aware(row.created_at),
        }

    async def list_versions(self, guru: str, action_id: int) -> list[dict[str, Any]]:
        """Every version of one action, newest first: version, time, who, summary (no specs)."""
        v = ActionVersionRow

        def work() -> list[dict[str, Any]]:
            with self._session() as s:
                gid = self._guru_id(s, guru)
                rows = s.exec(
                    select(v.version, v.changed_by, v.summary, v.created_at)
                    .where(v.guru_id == gid, v.action_id == action_id)
                    .order_by(col(v.version).desc())
                ).all()
                return [
                    {"version": n, "changed_by": by, "summary": what, "created_at": aware(at)}
                    for n, by, what, at in rows
                ]

        return await self._run(work)

    async def get_version(self, guru: str, action_id: int, version: int) -> dict[str, Any] | None:
        def work() -> dict[str, Any] | None:
            with self._session() as s:
                gid = self._guru_id(s, guru)
                row = s.exec(
                    select(ActionVersionRow).where(
                        ActionVersionRow.guru_id == gid,
                        ActionVersionRow.action_id == action_id,
                        ActionVersionRow.version == version,
                    )
                ).first()
                return None if row is None else self._version_dict(row)

        return await self._run(work)

    async def delete_action(self, guru: str, name: str) -> None:
        def work() -> None:
            with self._session() as s:
                row = self._action_row(s, guru, name)
                s.delete(row)
                self._bump(s, row.guru_id)
                s.commit()

        await self._run(work)

    # -- secrets -----------------------------------------------------------------------------------

    async def put_secret(
        self, guru: str, name: str, ciphertext: str, key_id: str, hosts: list[str] | None = None
    ) -> bool:
        """Store a secret's ciphertext; returns True if it was created, False if replaced. `hosts`
        None keeps a replaced secret's host list."""

        def work() -> bool:
            with self._session() as s:
                gid = self._guru_id(s, guru)
                row = s.exec(
                    select(SecretRow).where(SecretRow.guru_id == gid, SecretRow.name == name)
                ).first()
                created = row is None
                if row is None:
                    row = SecretRow(guru_id=gid, name=name, ciphertext=ciphertext, key_id=key_id)
                else:
                    row.ciphertext, row.key_id, row.updated_at = ciphertext, key_id, utcnow()
                if hosts is not None:
                    row.hosts = json.dumps(hosts)
                s.add(row)
                s.commit()
                return created

        return await self._run(work)

    async def list_secrets(self, guru: str) -> list[dict[str, Any]]:
        """Names and metadata only."""

        def work() -> list[dict[str, Any]]:
            with self._session() as s:
                gid = self._guru_id(s, guru)
                rows = s.exec(
                    select(SecretRow).where(SecretRow.guru_id == gid).order_by(SecretRow.name)
                ).all()
                return [
                    {
                        "name": r.name,
                        "key_id": r.key_id,
                        "hosts": json.loads(r.hosts or "[]"),
                        "created_at": aware(r.created_at).isoformat(),  # type: ignore[union-attr]
                        "updated_at": aware(r.updated_at).isoformat(),  # type: ignore[union-attr]
                    }
                    for r in rows
                ]

        return await self._run(work)

    async def secret_ciphertexts(
        self, guru: str, names: list[str] | None = None
    ) -> dict[str, tuple[str, str, list[str]]]:
        """name -> (ciphertext, key id, hosts it may be sent to)."""

        def work() -> dict[str, tuple[str, str, list[str]]]:
            with self._session() as s:
                gid = self._guru_id(s, guru)
                query = select(SecretRow).where(SecretRow.guru_id == gid)
                if names is not None:
                    query = query.where(col(SecretRow.name).in_(names))
                return {
                    r.name: (r.ciphertext, r.key_id, json.loads(r.hosts or "[]")) for r in s.exec(query).all()
                }

        return await self._run(work)

    async def delete_secret(self, guru: str, name: str) -> None:
        def work() -> None:
            with self._session() as s:
                gid = self._guru_id(s, guru)
                row = s.exec(
                    select(SecretRow).where(SecretRow.guru_id == gid, SecretRow.name == name)
                ).first()
                if row is None:
                    raise NotFound(f"no secret named {name!r}")
                s.delete(row)
                s.commit()

        await self._run(work)

    # -- runs --------------------------------------------------------------------------------------

    @staticmethod
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
            started_at=aware(row.started_at),  # type: ignore[arg-type]
            ended_at=aware(row.ended_at),
            duration_ms=row.duration_ms,
            parent_run_id=row.parent_run_id,
            depth=row.depth,
            usage=json.loads(row.usage or "{}"),
        )

    def _known_guru_id(self, slug: str) -> int:
        gid = self._guru_ids.get(slug)
        if gid is None:
            with self._session() as s:
                gid = self._guru_id(s, slug)
        return gid

    async def start_run(self, record: RunRecord) -> None:
        def work() -> None:
            row = {
                "id": record.id,
                "guru_id": self._known_guru_id(record.guru),
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
            try:
                with self.engine.begin() as conn:
                    conn.execute(_INSERT_RUN, row)
            except IntegrityError:
                if record.schedule_id is None:
                    raise
                raise Conflict(
                    f"the due time {record.due_at} of schedule {record.schedule_id} has run already"
                ) from None

        await self._run(work)

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
        def work() -> None:
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
            with self.engine.begin() as conn:
                conn.execute(_FINISH_RUN, values)

        await self._run(work)

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
            with self._session() as s:
                query = select(RunRow).where(RunRow.guru_id == self._guru_id(s, guru))
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
                return [self._to_run(r, guru) for r in s.exec(query).all()]

        return await self._run(work)

    async def get_run(self, guru: str, run_id: str) -> RunRecord:
        def work() -> RunRecord:
            with self._session() as s:
                row = s.get(RunRow, run_id)
                if row is None or row.guru_id != self._guru_id(s, guru):
                    raise NotFound(f"no run {run_id!r}")
                return self._to_run(row, guru)

        return await self._run(work)

    async def child_runs(self, guru: str, parent_ids: list[str]) -> list[RunRecord]:
        """The runs started by any of these runs, oldest first (one level of an agent's run tree)."""

        def work() -> list[RunRecord]:
            with self._session() as s:
                query = (
                    select(RunRow)
                    .where(
                        RunRow.guru_id == self._guru_id(s, guru), col(RunRow.parent_run_id).in_(parent_ids)
                    )
                    .order_by(col(RunRow.started_at))
                )
                return [self._to_run(r, guru) for r in s.exec(query).all()]

        return await self._run(work) if parent_ids else []

    async def run_facts(
        self, guru: str, since: datetime | None, until: datetime | None = None, action: str | None = None
    ) -> list[tuple[str, str, str, float | None, datetime]]:
        """(action, trigger, status, duration_ms, started_at) of every finished run started in
        [since, until), oldest first: the raw material of statistics and charts."""

        def work() -> list[tuple[str, str, str, float | None, datetime]]:
            with self._session() as s:
                query = select(
                    RunRow.action_name, RunRow.trigger, RunRow.status, RunRow.duration_ms, RunRow.started_at
                )
                query = query.where(
                    RunRow.guru_id == self._guru_id(s, guru), RunRow.status != RunStatus.RUNNING.value
                )
                if since is not None:
                    query = query.where(RunRow.started_at >= since)
                if until is not None:
                    query = query.where(RunRow.started_at < until)
                if action:
                    query = query.where(RunRow.action_name == action)
                query = query.order_by(col(RunRow.started_at))
                return [(a, t, st, d, aware(at)) for a, t, st, d, at in s.exec(query).all()]  # type: ignore[misc]

        return await self._run(work)

    async def last_run_times(self, guru: str) -> dict[str, datetime]:
        """When each action (by name) last started a run, whatever its outcome."""

        def work() -> dict[str, datetime]:
            with self._session() as s:
                query = (
                    select(RunRow.action_name, func.max(RunRow.started_at))
                    .where(RunRow.guru_id == self._guru_id(s, guru))
                    .group_by(RunRow.action_name)
                )
                return {name: aware(at) for name, at in s.exec(query).all() if at is not None}  # type: ignore[misc]

        return await self._run(work)

    async def mark_stale_runs(self, older_than: timedelta) -> int:
        """Runs still `running` long after any run could have ended were cut off by a crash."""

        def work() -> int:
            cutoff = utcnow() - older_than
            with self._session() as s:
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

        return await self._run(work)
