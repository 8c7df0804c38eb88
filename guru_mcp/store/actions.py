"""Actions and their version history: specs stored as JSON, handed out as `StoredAction`s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from guru_mcp.errors import Conflict, NotFound
from guru_mcp.models import ActionSpec, StoredAction
from guru_mcp.store.base import Database, aware
from guru_mcp.store.gurus import bump_catalog
from guru_mcp.store.tables import ActionRow, ActionVersionRow, utcnow
from guru_mcp.versions import diff, summarize


@dataclass(frozen=True)
class VersionInfo:
    """One version of an action as listed: no spec."""

    version: int
    changed_by: str
    summary: str
    created_at: datetime


@dataclass(frozen=True)
class ActionVersion:
    """One version of an action's definition: the whole spec as it was saved."""

    action_id: int
    action_name: str
    version: int
    spec: ActionSpec
    changed_by: str
    summary: str
    created_at: datetime


def _to_action(row: ActionRow, guru: str, spec: ActionSpec | None = None) -> StoredAction:
    assert row.id is not None
    return StoredAction(
        id=row.id,
        guru=guru,
        spec=spec if spec is not None else ActionSpec.model_validate_json(row.spec),
        version=row.version,
        revision=row.revision,
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
    )


@dataclass(frozen=True)
class ActionSave:
    """One action of a batch save (`ActionStore.save_actions`)."""

    spec: ActionSpec
    enabled: bool
    disabled_reason: str = ""
    summary: str = ""


def _save_row(
    s: Session,
    gid: int,
    guru: str,
    spec: ActionSpec,
    row: ActionRow | None,
    *,
    created: bool,
    enabled: bool,
    disabled_reason: str,
    replace: bool = True,
    expected_version: int | None = None,
    actor: str,
    summary: str,
    parsed: bool = False,
) -> tuple[StoredAction, bool]:
    """Write one action (and its version row) into the session, uncommitted. Returns the action and
    whether anything changed. `parsed`: the returned action carries `spec` as given instead of the
    stored JSON parsed again (the same document; a batch need not parse it twice)."""
    if row is None:
        raise NotFound(f"no action named {spec.name!r}")
    if not created and not replace:
        raise Conflict(f"an action named {spec.name!r} exists already (update it instead)")
    if expected_version is not None and row.version != expected_version:
        raise Conflict(
            f"action {spec.name!r} is at version {row.version}, not {expected_version}; reload it and try again"
        )
    new_json = spec.model_dump_json()
    if (
        not created
        and new_json == row.spec
        and (row.enabled, row.disabled_reason) == (enabled, disabled_reason)
    ):
        return _to_action(row, guru, spec if parsed else None), False
    changes = (
        None if created else diff(ActionSpec.model_validate_json(row.spec).definition(), spec.definition())
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
    return _to_action(row, guru, spec if parsed else None), True


_ACTIONS = ActionRow.__table__  # type: ignore[attr-defined]
_VERSIONS = ActionVersionRow.__table__  # type: ignore[attr-defined]


def _insert_new(
    s: Session,
    gid: int,
    guru: str,
    fresh: Sequence[tuple[int, ActionSave]],
    next_id: int | None,
    actor: str,
) -> dict[int, StoredAction]:
    """Insert new actions, each at version 1 with its version row, as `_save_row` writes a created
    one, in two executemany statements. `next_id`: the first id to use (SQLite, see `_new_action_id`),
    or None to take the database's (then read back in order). Returns the actions by batch position."""
    conn = s.connection()  # the session's transaction
    created_at = utcnow()
    updated_at = utcnow()
    values: list[dict[str, Any]] = []
    for n, (_, item) in enumerate(fresh):
        row: dict[str, Any] = {
            "guru_id": gid,
            "name": item.spec.name,
            "spec": item.spec.model_dump_json(),
            "version": 1,
            "revision": 1,
            "enabled": item.enabled,
            "disabled_reason": item.disabled_reason,
            "created_at": created_at,
            "updated_at": updated_at,
        }
        if next_id is not None:
            row["id"] = next_id + n
        values.append(row)
    if next_id is None:
        statement = insert(_ACTIONS).returning(_ACTIONS.c.id, sort_by_parameter_order=True)
        ids = [r[0] for r in conn.execute(statement, values)]
    else:
        conn.execute(insert(_ACTIONS), values)
        ids = [r["id"] for r in values]
    conn.execute(
        insert(_VERSIONS),
        [
            {
                "guru_id": gid,
                "action_id": action_id,
                "action_name": row["name"],
                "version": 1,
                "spec": row["spec"],
                "changed_by": actor,
                "created_at": updated_at,
                "summary": item.summary or "created",
            }
            for action_id, row, (_, item) in zip(ids, values, fresh, strict=True)
        ],
    )
    return {
        i: StoredAction(
            id=action_id,
            guru=guru,
            spec=item.spec,
            version=1,
            revision=1,
            enabled=item.enabled,
            disabled_reason=item.disabled_reason,
            created_at=created_at,
            updated_at=updated_at,
        )
        for action_id, (i, item) in zip(ids, fresh, strict=True)
    }


class ActionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list_actions(self, guru: str) -> list[StoredAction]:
        def work() -> list[StoredAction]:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                rows = s.exec(
                    select(ActionRow).where(ActionRow.guru_id == gid).order_by(ActionRow.name)
                ).all()
                return [_to_action(r, guru) for r in rows]

        return await self.db.run(work)

    async def list_actions_reusing(
        self, guru: str, known: dict[tuple[int, int], StoredAction]
    ) -> list[StoredAction]:
        """Like `list_actions`, but rows whose (id, revision) is in `known` are not read or parsed again."""

        def work() -> list[StoredAction]:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                keys = [
                    (i, v)
                    for i, v in s.exec(
                        select(col(ActionRow.id), ActionRow.revision)
                        .where(ActionRow.guru_id == gid)
                        .order_by(ActionRow.name)
                    ).all()
                    if i is not None  # a stored row always has an id
                ]
                fresh_ids = [i for i, v in keys if (i, v) not in known]
                fresh: dict[tuple[int, int], StoredAction] = {}
                if fresh_ids:
                    rows = s.exec(select(ActionRow).where(col(ActionRow.id).in_(fresh_ids))).all()
                    fresh = {(a.id, a.revision): a for a in (_to_action(r, guru) for r in rows)}
                out = []
                for key in keys:
                    action = known.get(key) or fresh.get(key)
                    if action is not None:  # a row changed between the two reads: the next poll catches it
                        out.append(action)
                return out

        return await self.db.run(work)

    async def get_action(self, guru: str, name: str) -> StoredAction:
        def work() -> StoredAction:
            with self.db.session() as s:
                return _to_action(self._row(s, guru, name), guru)

        return await self.db.run(work)

    def _row(self, s: Session, guru: str, name: str) -> ActionRow:
        gid = self.db.guru_id(s, guru)
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
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                row = s.exec(
                    select(ActionRow).where(ActionRow.guru_id == gid, ActionRow.name == spec.name)
                ).first()
                created = row is None and create
                if row is None and create:
                    row = ActionRow(
                        id=self._new_action_id(s), guru_id=gid, name=spec.name, spec="", version=0
                    )
                saved, changed = _save_row(
                    s,
                    gid,
                    guru,
                    spec,
                    row,
                    created=created,
                    enabled=enabled,
                    disabled_reason=disabled_reason,
                    replace=replace,
                    expected_version=expected_version,
                    actor=actor,
                    summary=summary,
                )
                if changed:
                    bump_catalog(s, gid)
                    s.commit()
                return saved, created

        return await self.db.run(work)

    async def save_actions(
        self, guru: str, saves: Sequence[ActionSave], *, actor: str = ""
    ) -> list[StoredAction]:
        """Create or replace several actions in one transaction (an import): all are saved or none.
        Each is saved as `save_action` saves one (versions, revisions); the guru's catalog version
        goes up once."""

        def work() -> list[StoredAction]:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                rows: dict[str, ActionRow] = {}
                names = [item.spec.name for item in saves]
                for chunk in range(0, len(names), 500):
                    wanted = names[chunk : chunk + 500]
                    for found in s.exec(
                        select(ActionRow).where(ActionRow.guru_id == gid, col(ActionRow.name).in_(wanted))
                    ).all():
                        rows[found.name] = found
                next_id = self._new_action_id(s)
                out: dict[int, StoredAction] = {}
                # New actions (an import's usual case) are written in two statements, one for the
                # actions and one for their first versions, instead of one ORM flush each.
                fresh = [(i, item) for i, item in enumerate(saves) if item.spec.name not in rows]
                if fresh:
                    out.update(_insert_new(s, gid, guru, fresh, next_id, actor))
                any_change = bool(fresh)
                for i, item in enumerate(saves):
                    existing = rows.get(item.spec.name)
                    if existing is None:
                        continue
                    saved, changed = _save_row(
                        s,
                        gid,
                        guru,
                        item.spec,
                        existing,
                        created=False,
                        enabled=item.enabled,
                        disabled_reason=item.disabled_reason,
                        actor=actor,
                        summary=item.summary,
                        parsed=True,
                    )
                    any_change = any_change or changed
                    out[i] = saved
                if any_change:
                    bump_catalog(s, gid)
                    s.commit()
                return [out[i] for i in range(len(saves))]

        return await self.db.run(work)

    def _new_action_id(self, s: Session) -> int | None:
        """SQLite hands a deleted highest row id out again; versions and runs of the deleted action
        still carry it, so on SQLite ids are allocated past both. Other databases use a sequence."""
        if self.db.dialect != "sqlite":
            return None
        top = s.exec(select(func.max(ActionRow.id))).one() or 0
        kept = s.exec(select(func.max(ActionVersionRow.action_id))).one() or 0
        return max(top, kept) + 1

    async def set_enabled(
        self, guru: str, names: list[str], enabled: bool, reason: str = ""
    ) -> list[StoredAction]:
        """State, not definition: no new version. Returns the actions that changed."""

        def work() -> list[StoredAction]:
            with self.db.session() as s:
                changed = []
                for name in names:
                    row = self._row(s, guru, name)
                    if row.enabled == enabled and row.disabled_reason == reason:
                        continue
                    row.enabled, row.disabled_reason = enabled, reason
                    row.revision += 1
                    row.updated_at = utcnow()
                    s.add(row)
                    changed.append(row)
                if changed:
                    bump_catalog(s, self.db.guru_id(s, guru))
                s.commit()
                return [_to_action(r, guru) for r in changed]

        return await self.db.run(work)

    async def delete_action(self, guru: str, name: str) -> None:
        def work() -> None:
            with self.db.session() as s:
                row = self._row(s, guru, name)
                s.delete(row)
                bump_catalog(s, row.guru_id)
                s.commit()

        await self.db.run(work)

    # -- versions ----------------------------------------------------------------------------------

    async def list_versions(self, guru: str, action_id: int) -> list[VersionInfo]:
        """Every version of one action, newest first: version, time, who, summary (no specs)."""
        v = ActionVersionRow

        def work() -> list[VersionInfo]:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                rows = s.exec(
                    select(v.version, v.changed_by, v.summary, v.created_at)
                    .where(v.guru_id == gid, v.action_id == action_id)
                    .order_by(col(v.version).desc())
                ).all()
                return [VersionInfo(n, by, what, aware(at)) for n, by, what, at in rows]

        return await self.db.run(work)

    async def get_version(self, guru: str, action_id: int, version: int) -> ActionVersion | None:
        def work() -> ActionVersion | None:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                row = s.exec(
                    select(ActionVersionRow).where(
                        ActionVersionRow.guru_id == gid,
                        ActionVersionRow.action_id == action_id,
                        ActionVersionRow.version == version,
                    )
                ).first()
                if row is None:
                    return None
                return ActionVersion(
                    action_id=row.action_id,
                    action_name=row.action_name,
                    version=row.version,
                    spec=ActionSpec.model_validate_json(row.spec),
                    changed_by=row.changed_by,
                    summary=row.summary,
                    created_at=aware(row.created_at),
                )

        return await self.db.run(work)
