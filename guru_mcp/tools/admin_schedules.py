"""Admin tools for schedules: set, pause, resume, clear and list.

A schedule is part of its action's definition, so setting or clearing one is an action change: the
version goes up, clients are told, the scheduler re-plans at once, and export/import carry it.
Pausing and resuming are state: no new version.
`list_schedules` is shared with the CLI (`guru-mcp schedules list`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from guru_mcp.cron import due_times, get_zone, next_fire
from guru_mcp.errors import FieldError, NotFound, ValidationFailed
from guru_mcp.models import Caller, ScheduleSpec, StoredAction
from guru_mcp.scheduler import fingerprint
from guru_mcp.store.schedules import LastRun, ScheduleState
from guru_mcp.tools.registry import AdminTool

if TYPE_CHECKING:
    from guru_mcp.app import App

_CRON_HELP = (
    "Cron expression, five fields: minute hour day-of-month month day-of-week, in `timezone`. "
    "Examples: '0 9 * * *' every day at 09:00; '0 * * * *' every hour; '0 9 * * 1' Mondays at 09:00; "
    "'*/15 * * * *' every 15 minutes. A sixth field in front gives seconds ('*/30 * * * * *')."
)


class SetArgs(BaseModel):
    action: str = Field(description="The action to schedule (its name, as in admin_actions_list).")
    cron: str | None = Field(default=None, description=_CRON_HELP + " Required for a new schedule.")
    timezone: str | None = Field(
        default=None,
        description="IANA time zone the expression is read in, e.g. 'Europe/Berlin'. New: 'UTC'.",
    )
    arguments: dict[str, Any] | None = Field(
        default=None,
        description="Arguments for every scheduled run, by parameter name. Each required parameter "
        "without a default must have one. New: {}.",
    )
    overlap: Literal["skip", "allow"] | None = Field(
        default=None,
        description="'skip' (new default): skip a due time while the previous scheduled run is still "
        "going. 'allow': runs may overlap.",
    )
    misfire: Literal["run_once", "skip"] | None = Field(
        default=None,
        description="Due times missed while the server was down: 'run_once' (new default) runs once at "
        "start-up if the latest missed time is within the grace window; 'skip' skips them.",
    )
    enabled: bool | None = Field(default=None, description="False stores the schedule paused. New: true.")


class ActionArg(BaseModel):
    action: str = Field(description="The scheduled action's name.")


class ListArgs(BaseModel):
    action: str | None = Field(default=None, description="Only this action's schedule.")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _state_word(action: StoredAction) -> str:
    schedule = action.spec.schedule
    assert schedule is not None
    if not action.enabled:
        return "action disabled"
    return "active" if schedule.enabled else "paused"


def describe_schedule(
    action: StoredAction,
    state: ScheduleState | None,
    last_run: LastRun | None,
    now: datetime,
    *,
    upcoming: int = 0,
) -> dict[str, Any]:
    """One schedule as admins and the CLI see it. Times in UTC, next fire also in the schedule's zone."""
    schedule = action.spec.schedule
    assert schedule is not None
    zone = get_zone(schedule.timezone)
    active = bool(fingerprint(action))
    after = max(now, state.anchor) if state and state.fingerprint == fingerprint(action) else now
    nxt = next_fire(schedule.cron, schedule.timezone, after) if active else None
    row: dict[str, Any] = {
        "action": action.name,
        "schedule_id": action.id,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "state": _state_word(action),
        "arguments": schedule.arguments,
        "overlap": schedule.overlap,
        "misfire": schedule.misfire,
        "next_fire_utc": _iso(nxt),
        "next_fire_local": _iso(nxt.astimezone(zone)) if nxt else None,
        "last_due_at": _iso(state.last_due_at if state else None),
        "last_fired_at": _iso(state.last_fired_at if state else None),
        "last_fired_by": state.claimed_by if state else None,
        "last_run": (
            {
                "run_id": last_run.run_id,
                "status": last_run.status,
                "due_at": _iso(last_run.due_at),
                "started_at": _iso(last_run.started_at),
                "error": last_run.error,
            }
            if last_run
            else None
        ),
    }
    if state and state.last_error:
        row["last_error"] = state.last_error
    if upcoming and nxt:
        later = due_times(
            schedule.cron, schedule.timezone, nxt, datetime.max.replace(tzinfo=UTC), upcoming - 1
        )
        row["upcoming_local"] = [_iso(t.astimezone(zone)) for t in [nxt, *later]]
    return row


def _now(app: App) -> datetime:
    return app.scheduler.now() if app.scheduler is not None else datetime.now(UTC)


async def _describe(app: App, actions: list[StoredAction], *, upcoming: int = 0) -> list[dict[str, Any]]:
    store = app.store.schedules
    ids = [a.id for a in actions]
    states = await store.states(ids)
    runs = await store.last_runs(ids)
    now = _now(app)
    return [describe_schedule(a, states.get(a.id), runs.get(a.id), now, upcoming=upcoming) for a in actions]


async def list_schedules(app: App, guru: str, action: str | None = None) -> list[dict[str, Any]]:
    """Every scheduled action of `guru` (or just `action`), described as by `describe_schedule`."""
    actions = [a for a in await app.catalog.list_actions(guru) if a.spec.schedule is not None]
    if action is not None:
        actions = [a for a in actions if a.name == action]
        if not actions:
            await app.catalog.get(guru, action)  # NotFound if there is no such action
            raise NotFound(f"action {action!r} has no schedule")
    return await _describe(app, sorted(actions, key=lambda a: a.name))


async def _save(app: App, caller: Caller, current: StoredAction, schedule: ScheduleSpec | None) -> Any:
    spec = current.spec.model_copy(update={"schedule": schedule, "enabled": current.enabled})
    result = await app.catalog.save_spec(
        caller.guru, spec, create=False, expected_version=current.version, actor=caller.who
    )
    if schedule is None:
        return {"action": current.name, "schedule": None, "version": result.action.version}
    row = (await _describe(app, [result.action], upcoming=3))[0]
    row["version"] = result.action.version
    return row


async def _scheduled(app: App, caller: Caller, name: str) -> tuple[StoredAction, ScheduleSpec]:
    action = await app.catalog.get(caller.guru, name)
    if action.spec.schedule is None:
        raise NotFound(f"action {name!r} has no schedule (set one with admin_schedule_set)")
    return action, action.spec.schedule


async def _set(app: App, caller: Caller, args: SetArgs) -> Any:
    current = await app.catalog.get(caller.guru, args.action)
    given = args.model_dump(exclude={"action"}, exclude_none=True)
    if current.spec.schedule is None and "cron" not in given:
        raise ValidationFailed(FieldError("cron", "a new schedule needs a cron expression"))
    base = current.spec.schedule.model_dump() if current.spec.schedule else {}
    return await _save(app, caller, current, ScheduleSpec.model_validate({**base, **given}))


async def _pause(app: App, caller: Caller, args: ActionArg) -> Any:
    action, schedule = await _scheduled(app, caller, args.action)
    return await _save(app, caller, action, schedule.model_copy(update={"enabled": False}))


async def _resume(app: App, caller: Caller, args: ActionArg) -> Any:
    action, schedule = await _scheduled(app, caller, args.action)
    return await _save(app, caller, action, schedule.model_copy(update={"enabled": True}))


async def _clear(app: App, caller: Caller, args: ActionArg) -> Any:
    action, _ = await _scheduled(app, caller, args.action)
    return await _save(app, caller, action, None)


async def _list(app: App, caller: Caller, args: ListArgs) -> Any:
    return {"schedules": await list_schedules(app, caller.guru, args.action)}


SCHEDULE_TOOLS: list[AdminTool] = [
    AdminTool(
        "admin_schedule_set",
        "Make an action run automatically on a cron schedule, or change its schedule. Fields you omit keep "
        "their current values. Scheduled runs have no user (empty email and name, groups 'Everyone') and "
        "appear in the run history with trigger 'schedule'. The answer lists the next fire times in the "
        "schedule's zone: check that they are what you meant.",
        SetArgs,
        _set,
    ),
    AdminTool(
        "admin_schedule_pause",
        "Pause an action's schedule. The schedule is kept and the action stays callable as a tool.",
        ActionArg,
        _pause,
    ),
    AdminTool(
        "admin_schedule_resume",
        "Resume a paused schedule. It fires from its next due time on; times that passed while it was paused "
        "are not made up.",
        ActionArg,
        _resume,
    ),
    AdminTool(
        "admin_schedule_clear",
        "Remove an action's schedule (the action itself stays). To stop it for a while, pause it instead.",
        ActionArg,
        _clear,
        destructive=True,
    ),
    AdminTool(
        "admin_schedules_list",
        "List scheduled actions: cron, zone, state (active, paused, action disabled), arguments, next fire "
        "time in UTC and in the schedule's zone, last due and fired times, and the last scheduled run's "
        "status.",
        ListArgs,
        _list,
        read_only=True,
    ),
]
