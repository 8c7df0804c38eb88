"""One way for the tests to make the `RunRecord` that RunService would start: the fields a test does
not care about are those of a plain run (no caller, no inputs, running since now), so each test
names only what it checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from guru_mcp.models import RunRecord, RunStatus, StoredAction, Trigger


def run_record(
    action: StoredAction | None = None,
    *,
    id: str | None = None,
    name: str = "a",
    guru: str = "default",
    trigger: Trigger | None = None,
    status: RunStatus = RunStatus.RUNNING,
    started_at: datetime | None = None,
    due_at: datetime | None = None,
    **fields: Any,
) -> RunRecord:
    """A run of `action` (its guru, id, name and version), or of an action `name` that no longer
    exists (no id, version 1). With `due_at` it is the run of `action`'s schedule due then (trigger
    SCHEDULE, schedule_id the action's id); otherwise a tool call. Other fields go as given."""
    if action is not None:
        guru, name = action.guru, action.name
    scheduled = due_at is not None
    return RunRecord(
        id=id or str(uuid.uuid4()),
        guru=guru,
        action_id=action.id if action is not None else None,
        action_name=name,
        action_version=action.version if action is not None else 1,
        trigger=trigger or (Trigger.SCHEDULE if scheduled else Trigger.TOOL_CALL),
        caller=fields.pop("caller", {}),
        inputs=fields.pop("inputs", {}),
        status=status,
        schedule_id=action.id if scheduled and action is not None else None,
        due_at=due_at,
        started_at=started_at or datetime.now(UTC),
        **fields,
    )
