"""Import and export of actions as JSON: the Gurubase export format (one object or a list) plus ours.

Import validates everything before changing anything, against one reading of the store, and saves
every action of the document in one transaction; a dry run reports what would change.
Secrets are carried by name only. Agents travel like any action; their tools may be in the same
document (they are saved first).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from guru_mcp.agents.graph import dependency_order
from guru_mcp.catalog import Catalog, CheckedSave
from guru_mcp.code_scan import CodeScan
from guru_mcp.documents import document_items, load_document
from guru_mcp.errors import FieldError, ValidationFailed
from guru_mcp.lint import SyntaxProblem
from guru_mcp.models import ACTION_NAME_RE, ActionSpec, AgentConfig, PythonCodeConfig, parse_spec, slugify
from guru_mcp.versions import spec_diff, summarize

__all__ = ["export_actions", "import_actions", "load_document"]

Prescanned = Callable[[int, str], CodeScan | SyntaxProblem | None]
"""What `lint.check_code` found for the code of item i, if that code is the given text; None if unknown
(`guru_mcp/scan_ahead.py` computes it on another core)."""


def _normalise(item: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Accept Gurubase's human action names by deriving a tool-safe name (the original becomes the title)."""
    name = item.get("name")
    if isinstance(name, str) and not ACTION_NAME_RE.fullmatch(name) and name.strip():
        slug = slugify(name)
        notes.append(f"{name!r} is imported as {slug!r} (the original name is kept as its title)")
        item = {**item, "name": slug, "title": item.get("title") or name}
    return item


async def import_actions(
    catalog: Catalog,
    guru: str,
    document: Any,
    *,
    dry_run: bool = False,
    actor: str = "",
    prescanned: Prescanned | None = None,
) -> dict[str, Any]:
    """Validate every action, then (unless dry_run) save them. Returns a report per action; an update
    lists its field-by-field `changes` (definition, and `enabled` when that changes too). `document`
    is the JSON text, or what it parses to (then it is not written out and parsed again).
    `prescanned`: the code checks of the document's Python actions, where they are already known."""
    items = load_document(document) if isinstance(document, (str, bytes)) else document_items(document)
    notes: list[str] = []
    specs: list[ActionSpec] = []
    index: dict[int, int] = {}  # id(spec) -> its item's index in the document
    errors: list[FieldError] = []
    for i, item in enumerate(items):
        try:
            spec = parse_spec(_normalise(item, notes), where=f"[{i}] {item.get('name', '?')!r}")
        except ValidationFailed as exc:
            errors.extend(FieldError(f"{exc.prefix} {e.field}".strip(), e.message) for e in exc.errors)
        else:
            specs.append(spec)
            index[id(spec)] = i
    counts = Counter(s.name for s in specs)
    for dup in sorted(n for n, count in counts.items() if count > 1):
        errors.append(FieldError("name", f"{dup!r} appears more than once in the document"))
    checked: list[tuple[ActionSpec, list[str], list[str]]] = []
    pending = {s.name: s for s in specs}
    # One reading of the store for the whole document: every action is checked against it.
    context = await catalog.check_context(guru, agents=any(isinstance(s.config, AgentConfig) for s in specs))
    for spec in dependency_order(specs):
        scanned = None
        if prescanned is not None and isinstance(spec.config, PythonCodeConfig):
            scanned = prescanned(index[id(spec)], spec.config.code)
        try:
            missing, warnings = catalog.check_with(context, spec, pending, scanned)
            checked.append((spec, missing, warnings))
        except ValidationFailed as exc:
            errors.extend(FieldError(f"{exc.prefix} {e.field}".strip(), e.message) for e in exc.errors)
    if errors:
        raise ValidationFailed(errors, prefix="import refused, nothing was changed")
    existing = {a.name: a for a in await catalog.list_actions(guru)}
    report: list[dict[str, Any]] = []
    to_save: list[tuple[dict[str, Any], CheckedSave]] = []
    for spec, missing, warnings in checked:
        old = existing.get(spec.name)
        changes: list[dict[str, Any]] = []
        if old is not None:
            changes = spec_diff(old.spec, spec)
            if old.enabled != spec.enabled and not (missing and not old.enabled):
                changes.append(
                    {"field": "enabled", "change": "changed", "from": old.enabled, "to": spec.enabled}
                )
            schedule_state = (
                old.spec.schedule.enabled if old.spec.schedule else None,
                spec.schedule.enabled if spec.schedule else None,
            )
            if None not in schedule_state and schedule_state[0] != schedule_state[1]:
                changes.append(
                    {
                        "field": "schedule.enabled",
                        "change": "changed",
                        "from": schedule_state[0],
                        "to": schedule_state[1],
                    }
                )
        change = "create" if old is None else "update" if changes else "unchanged"
        row: dict[str, Any] = {"name": spec.name, "change": change}
        if changes:
            row["changes"] = changes
        if missing:
            row["missing_secrets"] = missing
            row["enabled"] = False
        if warnings:
            row["warnings"] = warnings
        if not dry_run and change != "unchanged":
            summary = "" if old is None else "import: " + summarize(changes)
            to_save.append((row, CheckedSave(spec, missing, summary)))
        report.append(row)
    if to_save:  # one transaction: every action of the document is saved, or none
        saved = await catalog.save_checked(guru, [item for _, item in to_save], context, actor=actor)
        for (row, _), action in zip(to_save, saved, strict=True):
            row["version"] = action.version
            row["enabled"] = action.enabled
            if action.disabled_reason:
                row["disabled_reason"] = action.disabled_reason
    return {"dry_run": dry_run, "actions": report, "notes": notes}


async def export_actions(catalog: Catalog, guru: str, names: list[str] | None = None) -> list[dict[str, Any]]:
    actions = await catalog.list_actions(guru)
    if names:
        wanted = set(names)
        unknown = wanted - {a.name for a in actions}
        if unknown:
            raise ValidationFailed(FieldError("names", f"no such actions: {', '.join(sorted(unknown))}"))
        actions = [a for a in actions if a.name in wanted]
    out = []
    for action in actions:
        data = action.spec.export()
        data["enabled"] = action.enabled
        out.append(data)
    return out
