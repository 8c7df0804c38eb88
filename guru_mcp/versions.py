"""Action versions: field-by-field diffs, JSON merge patches (RFC 7396), and the version services
(history, diff, rollback, update, a run's config snapshot) shared by the admin tools, the CLI and the
web console.

What is versioned is an action's *definition* (`ActionSpec.definition()`: the export without the
state flags `enabled` and `schedule.enabled`). Every change to the definition stores the whole new
spec as a version row, with when, who and a one-line summary; enabling, disabling, pausing or
resuming change state only and make no version. A run records the version it ran, so its
configuration at the time is always available (`run_snapshot`).

The pure functions at the top (`merge_patch`, `unknown_fields`, `diff`, `summarize`) take and return
plain JSON values; the services below take the `App`.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from guru_mcp.errors import Conflict, FieldError, NotFound, ValidationFailed
from guru_mcp.models import (
    ActionSpec,
    ApiCallConfig,
    Header,
    Parameter,
    PythonCodeConfig,
    ScheduleSpec,
    parse_spec,
)

if TYPE_CHECKING:
    from guru_mcp.app import App
    from guru_mcp.models import Caller, RunRecord, StoredAction
    from guru_mcp.store.actions import VersionInfo

Change = dict[str, Any]
"""One difference: {"field": "config.endpoint", "change": "added"|"removed"|"changed"|"reordered",
"from": old value (absent when added), "to": new value (absent when removed)}."""

# -- merge patch -----------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7396): objects merge key by key, `null` removes a key, anything
    else (arrays included) replaces the value. Neither argument is modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


_FREE_FORM = {"config.body", "schedule.arguments"}
"""Fields whose content is the admin's own JSON: any keys are allowed inside."""


def _known(model: type[Any]) -> set[str]:
    return set(model.model_fields)


def unknown_fields(document: dict[str, Any], *, base: str = "") -> list[FieldError]:
    """Fields of an action document that no part of the action has, each named with its path (and a
    suggestion when one is close). Used to refuse typos that the models would silently ignore."""
    errors: list[FieldError] = []

    def check(value: Any, known: set[str], path: str) -> None:
        if not isinstance(value, dict):
            return
        for key in value:
            if key not in known:
                close = difflib.get_close_matches(str(key), sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"
                errors.append(FieldError(f"{path}{key}", f"unknown field{hint}"))

    check(document, _known(ActionSpec), base)
    kind = str(document.get("action_type", "")).strip().upper()
    config = document.get("config")
    if kind in ("API_CALL", "PYTHON_CODE") and isinstance(config, dict):
        check(config, _known(ApiCallConfig if kind == "API_CALL" else PythonCodeConfig), f"{base}config.")
        headers = config.get("headers")
        if kind == "API_CALL" and isinstance(headers, list):
            for i, header in enumerate(headers):
                check(header, _known(Header), f"{base}config.headers[{i}].")
    parameters = document.get("parameters")
    if isinstance(parameters, list):
        for i, param in enumerate(parameters):
            check(param, _known(Parameter), f"{base}parameters[{i}].")
    check(document.get("schedule"), _known(ScheduleSpec), f"{base}schedule.")
    return errors


# -- diffs -----------------------------------------------------------------------------------------


def _list_key(old: list[Any], new: list[Any]) -> str | None:
    """Lists of objects with a unique `name` (parameters) or `key` (headers) are diffed item by item."""
    for key in ("name", "key"):
        items = [*old, *new]
        if (
            items
            and all(isinstance(i, dict) and isinstance(i.get(key), str) for i in items)
            and len({i[key] for i in old}) == len(old)
            and len({i[key] for i in new}) == len(new)
        ):
            return key
    return None


def diff(old: Any, new: Any, path: str = "") -> list[Change]:
    """Field-by-field differences from `old` to `new` (JSON values), in document order."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Change] = []
        for key in [*old, *(k for k in new if k not in old)]:
            where = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append({"field": where, "change": "removed", "from": old[key]})
            elif key not in old:
                out.append({"field": where, "change": "added", "to": new[key]})
            else:
                out += diff(old[key], new[key], where)
        return out
    if isinstance(old, list) and isinstance(new, list):
        key = _list_key(old, new)
        if key is not None:
            olds = {i[key]: i for i in old}
            news = {i[key]: i for i in new}
            out = []
            for name in [*olds, *(n for n in news if n not in olds)]:
                where = f"{path}[{name}]"
                if name not in news:
                    out.append({"field": where, "change": "removed", "from": olds[name]})
                elif name not in olds:
                    out.append({"field": where, "change": "added", "to": news[name]})
                else:
                    out += diff(olds[name], news[name], where)
            kept_old = [n for n in olds if n in news]
            kept_new = [n for n in news if n in olds]
            if kept_old != kept_new:
                out.append({"field": path, "change": "reordered", "from": kept_old, "to": kept_new})
            return out
    return [{"field": path, "change": "changed", "from": old, "to": new}]


def summarize(changes: list[Change], *, limit: int = 6) -> str:
    """One line saying what changed: `changed config.endpoint; added parameters[days]`."""
    if not changes:
        return "no change"
    groups: dict[str, list[str]] = {}
    for change in changes:
        groups.setdefault(change["change"], []).append(change["field"])
    parts, shown = [], 0
    for kind in ("changed", "added", "removed", "reordered"):
        fields = groups.get(kind, [])
        room = max(limit - shown, 0)
        if fields and room:
            parts.append(f"{kind} {', '.join(fields[:room])}")
            shown += min(len(fields), room)
    rest = len(changes) - shown
    return "; ".join(parts) + (f" and {rest} more" if rest > 0 else "")


def spec_diff(old: ActionSpec, new: ActionSpec) -> list[Change]:
    """What changed in the definition (state flags left out)."""
    return diff(old.definition(), new.definition())


# -- services --------------------------------------------------------------------------------------


def _version_row(row: VersionInfo, current: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": row.version,
        "created_at": row.created_at.isoformat(),
        "changed_by": row.changed_by,
        "summary": row.summary,
    }
    if current is not None:
        out["current"] = row.version == current
    return out


async def history(app: App, guru: str, name: str) -> dict[str, Any]:
    """Every version of an action, newest first: version, time, who, summary of what changed."""
    action = await app.store.actions.get_action(guru, name)  # not the snapshot: it may lag another process
    rows = await app.store.actions.list_versions(guru, action.id)
    return {
        "action": name,
        "version": action.version,
        "versions": [_version_row(r, action.version) for r in rows],
    }


async def version_spec(app: App, guru: str, action: StoredAction, version: int) -> ActionSpec:
    """The spec of one version of an action."""
    if version == action.version:
        return action.spec
    row = await app.store.actions.get_version(guru, action.id, version)
    if row is None:
        raise NotFound(f"action {action.name!r} has no version {version} (it is at version {action.version})")
    return row.spec


async def diff_versions(app: App, guru: str, name: str, a: int, b: int | None = None) -> dict[str, Any]:
    """Field-by-field differences of version `a` to version `b` (default: the current one)."""
    action = await app.store.actions.get_action(guru, name)  # not the snapshot: it may lag another process
    b = action.version if b is None else b
    old, new = await version_spec(app, guru, action, a), await version_spec(app, guru, action, b)
    changes = spec_diff(old, new)
    return {
        "action": name,
        "from_version": a,
        "to_version": b,
        "summary": summarize(changes),
        "changes": changes,
    }


async def rollback(
    app: App,
    guru: str,
    name: str,
    to_version: int,
    caller: Caller,
    *,
    expected_version: int | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Make a new version whose definition equals version `to_version`. State (enabled, schedule
    paused) stays as it is now."""
    action = await app.store.actions.get_action(guru, name)  # not the snapshot: it may lag another process
    if expected_version is not None and expected_version != action.version:
        raise _stale(name, action.version, expected_version)
    target = await version_spec(app, guru, action, to_version)
    spec = _with_state(target, action)
    changes = spec_diff(action.spec, spec)
    out: dict[str, Any] = {
        "action": name,
        "from_version": action.version,
        "rolled_back_to": to_version,
        "changes": changes,
    }
    if dry_run or not changes:
        out.update(dry_run=dry_run, version=action.version)
        if not changes:
            out["note"] = f"version {to_version} is the same definition as the current one: nothing to do"
        return out
    result = await app.catalog.save_spec(
        guru,
        spec,
        create=False,
        expected_version=action.version,
        actor=caller.who,
        summary=f"rollback to version {to_version}: {summarize(changes)}",
    )
    out.update(version=result.action.version, enabled=result.action.enabled)
    if result.warnings:
        out["warnings"] = result.warnings
    return out


def _with_state(spec: ActionSpec, current: StoredAction) -> ActionSpec:
    """`spec` carrying `current`'s state flags."""
    schedule = spec.schedule
    if schedule is not None and current.spec.schedule is not None:
        schedule = schedule.model_copy(update={"enabled": current.spec.schedule.enabled})
    return spec.model_copy(update={"enabled": current.enabled, "schedule": schedule})


def _stale(name: str, at: int, expected: int) -> Conflict:
    return Conflict(f"action {name!r} is at version {at}, not {expected}; reload it and try again")


async def update(
    app: App,
    guru: str,
    name: str,
    patch: dict[str, Any],
    caller: Caller,
    *,
    expected_version: int | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Change an action with a JSON merge patch on its definition (RFC 7396: nested objects merge,
    `null` removes, arrays replace). Unknown fields and renames are refused, naming the field; the
    whole result is validated as a new action would be. `dry_run` returns the diff only."""
    action = await app.store.actions.get_action(guru, name)  # not the snapshot: it may lag another process
    if expected_version is not None and expected_version != action.version:
        raise _stale(name, action.version, expected_version)
    if not isinstance(patch, dict):
        raise ValidationFailed(
            FieldError("changes", "must be a JSON object (a merge patch of the definition)")
        )
    if "name" in patch and patch["name"] != name:
        raise ValidationFailed(
            FieldError("changes.name", "renaming is not supported; create a new action instead")
        )
    _refuse_state_changes(patch, action)
    current = action.spec.export()
    merged = merge_patch(current, patch)
    problems = unknown_fields(merged, base="changes.")
    if problems:
        raise ValidationFailed(problems, prefix=f"update of {name!r} refused")
    merged["enabled"] = action.enabled
    spec = _with_state(parse_spec(merged, where=f"action {name!r}"), action)
    changes = spec_diff(action.spec, spec)
    if dry_run:
        missing, warnings = await app.catalog.check(guru, spec)
        out = {
            "action": name,
            "dry_run": True,
            "version": action.version,
            "would_be_version": action.version + 1 if changes else action.version,
            "summary": summarize(changes),
            "changes": changes,
        }
        if missing:
            out["missing_secrets"] = missing
        if warnings:
            out["warnings"] = warnings
        return out
    result = await app.catalog.save_spec(
        guru,
        spec,
        create=False,
        expected_version=action.version,
        actor=caller.who,
        summary=summarize(changes),
    )
    from guru_mcp.catalog import describe

    out = describe(result.action)
    out.update(created=False, summary=summarize(changes), changes=changes)
    if result.warnings:
        out["warnings"] = result.warnings
    return out


def _refuse_state_changes(patch: dict[str, Any], action: StoredAction) -> None:
    """State flags may come back unchanged (a client sending a whole definition it read), not changed."""
    problems = []
    if "enabled" in patch and patch["enabled"] != action.enabled:
        problems.append(
            FieldError("changes.enabled", "is state, not definition: use admin_action_enable / disable")
        )
    schedule = patch.get("schedule")
    current = action.spec.schedule
    if (
        isinstance(schedule, dict)
        and "enabled" in schedule
        and current is not None
        and schedule["enabled"] != current.enabled
    ):
        problems.append(
            FieldError(
                "changes.schedule.enabled", "is state, not definition: use admin_schedule_pause / resume"
            )
        )
    if problems:
        raise ValidationFailed(problems, prefix=f"update of {action.name!r} refused")


async def run_snapshot(app: App, run: RunRecord) -> dict[str, Any] | None:
    """The definition a run ran with (export format), or None for a run recorded before history."""
    if run.action_id is None or run.action_version is None:
        return None
    row = await app.store.actions.get_version(run.guru, run.action_id, run.action_version)
    if row is None:
        return None
    return row.spec.definition()
