"""Actions: the list (with 24 h figures), the editor (inline validation, lint, secrets, schedule
preview), the Test panel, and enable/disable/delete."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import Route

from guru_mcp.catalog import secret_candidates
from guru_mcp.console.forms import (
    EditorForm,
    definition_from_form,
    form_from_definition,
    read_form,
    sample_arguments,
)
from guru_mcp.console.service import call
from guru_mcp.console.web import PREFIX, Console, Ctx, Refused, redirect
from guru_mcp.cron import due_times, get_zone, parse_cron
from guru_mcp.errors import FieldError, ValidationFailed
from guru_mcp.models import BUILTIN_VARIABLES, ActionSpec, ApiCallConfig, StoredAction, parse_spec
from guru_mcp.secrets import MASK
from guru_mcp.stats import WINDOW_CHOICES, parse_window, window_stats
from guru_mcp.versions import spec_diff, summarize

NEW_API = {
    "name": "",
    "action_type": "API_CALL",
    "parameters": [],
    "config": {"endpoint": "", "method": "GET", "headers": []},
}
NEW_PYTHON = {
    "name": "",
    "action_type": "PYTHON_CODE",
    "parameters": [],
    "config": {"code": "import os\n\nprint('hello', os.environ.get('GURUBASE_USER_NAME'))\n"},
}


def _schedule_text(action: StoredAction) -> str:
    schedule = action.spec.schedule
    if schedule is None:
        return ""
    return f"{schedule.cron} ({schedule.timezone}){'' if schedule.enabled else ', paused'}"


def _matches(action: StoredAction, q: str, status: str, kind: str) -> bool:
    spec = action.spec
    if q and q not in " ".join([spec.name, spec.title, spec.condition_prompt, spec.instructions]).lower():
        return False
    if (status == "enabled" and not action.enabled) or (status == "disabled" and action.enabled):
        return False
    return not kind or spec.action_type.value == kind


async def actions_list(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    q, status, kind = params.get("q", "").strip().lower(), params.get("status", ""), params.get("type", "")
    window = parse_window(params.get("window", "24h"))
    actions = [a for a in await ctx.app.catalog.list_actions(ctx.guru) if _matches(a, q, status, kind)]
    stats = await window_stats(ctx.app.store, ctx.guru, [a.name for a in actions], window)
    by_name = {row["action"]: row for row in stats["stats"]}
    rows = [{"action": a, "schedule": _schedule_text(a), "stats": by_name[a.name]} for a in actions]
    template = "_actions_rows.html" if ctx.htmx else "actions.html"
    return await ctx.render(
        template,
        rows=rows,
        q=params.get("q", ""),
        status=status,
        kind=kind,
        window=window.label,
        windows=WINDOW_CHOICES,
        overall=stats["overall"],
    )


# -- the editor ----------------------------------------------------------------------------------------


async def _secret_rows(ctx: Ctx, spec: ActionSpec | None) -> list[dict[str, Any]]:
    if spec is None:
        return []
    have = await ctx.app.store.secrets.secret_names(ctx.guru)
    params = {p.name for p in spec.parameters}
    names = set(secret_candidates(spec))
    if isinstance(spec.config, ApiCallConfig):
        names = {n for n in names if n.isupper() or n in have}
    names -= params | set(BUILTIN_VARIABLES)
    return [{"name": n, "set": n in have} for n in sorted(names)]


def _next_fires(values: dict[str, str], count: int = 5) -> tuple[list[str], str]:
    """The schedule's next fire times in its own zone, or why there are none."""
    cron = values.get("cron", "").strip()
    if not cron:
        return [], ""
    zone_name = values.get("timezone", "").strip() or "UTC"
    try:
        parse_cron(cron)
        zone = get_zone(zone_name)
    except ValueError as exc:
        return [], str(exc)
    now = datetime.now(UTC)
    times = due_times(cron, zone_name, now, datetime.max.replace(tzinfo=UTC), count)
    return [t.astimezone(zone).strftime("%a %Y-%m-%d %H:%M:%S %Z") for t in times], ""


_FORM_FIELDS = {
    "endpoint": "config.endpoint",
    "body": "config.body",
    "code": "config.code",
    "schedule_arguments": "schedule.arguments",
}


def _field_of(form_key: str) -> str:
    return _FORM_FIELDS.get(form_key, form_key)


async def _validate(ctx: Ctx, editor: EditorForm, *, existing: StoredAction | None) -> ActionSpec | None:
    """The same validation as import: parse, then check against secrets, lint and schedule rules."""
    data, problems = definition_from_form(editor)
    problems += [
        FieldError(
            _field_of(key),
            f"holds {MASK}, a masked secret value: write the {{SECRET_NAME}} placeholder instead",
        )
        for key, value in editor.values.items()
        if MASK in value
    ] + [
        FieldError(
            f"config.headers[{i}].value", f"holds {MASK}: write the {{SECRET_NAME}} placeholder instead"
        )
        for i, row in enumerate(editor.headers)
        if MASK in row["h_value"]
    ]
    if existing is not None:
        data["name"] = existing.name
        data["enabled"] = existing.enabled
    editor.add(problems)
    try:
        spec = parse_spec(data, where=" ")
    except ValidationFailed as exc:
        editor.add(exc.errors)
        return None
    try:
        missing, warnings = await ctx.app.catalog.check(ctx.guru, spec)
    except ValidationFailed as exc:
        editor.add(exc.errors)
        return None
    if problems:
        return None
    if missing:
        editor.errors.setdefault("secrets", []).append(
            f"not set yet: {', '.join(missing)} (the action is stored disabled until they are)"
        )
    for warning in warnings:
        editor.errors.setdefault("general", []).append(warning)
    return spec


async def _editor_page(
    ctx: Ctx,
    editor: EditorForm,
    *,
    action: StoredAction | None,
    spec: ActionSpec | None,
    status: int = 200,
    saved: str = "",
) -> Response:
    fires, fire_problem = _next_fires(editor.values)
    definition = spec.export() if spec is not None else (action.spec.export() if action else {})
    return await ctx.render(
        "editor.html",
        status_code=status,
        editor=editor,
        action=action,
        secrets_used=await _secret_rows(ctx, spec),
        fires=fires,
        fire_problem=fire_problem,
        saved=saved,
        sample=json.dumps(sample_arguments(definition), indent=1),
    )


async def new_action(ctx: Ctx) -> Response:
    template = NEW_PYTHON if ctx.request.query_params.get("type") == "PYTHON_CODE" else NEW_API
    editor = form_from_definition(template, enabled=True)
    return await _editor_page(ctx, editor, action=None, spec=None)


async def edit_action(ctx: Ctx) -> Response:
    action = await ctx.app.catalog.get(ctx.guru, ctx.request.path_params["name"])
    masker = await ctx.masker()
    editor = form_from_definition(masker.data(action.spec.export()), enabled=action.enabled)
    saved = ctx.request.query_params.get("saved", "")
    return await _editor_page(ctx, editor, action=action, spec=action.spec, saved=saved)


async def _existing(ctx: Ctx) -> StoredAction | None:
    name = ctx.request.path_params.get("name")
    return await ctx.app.catalog.get(ctx.guru, name) if name else None


async def save_action(ctx: Ctx) -> Response:
    existing = await _existing(ctx)
    editor = read_form(await ctx.request.form())
    spec = await _validate(ctx, editor, existing=existing)
    if spec is None:
        return await _editor_page(ctx, editor, action=existing, spec=None, status=422)
    who = ctx.caller.who
    if existing is None:
        result = await ctx.app.catalog.save_spec(ctx.guru, spec, replace=False, actor=who)
    else:
        changes = spec_diff(existing.spec, spec)
        if not changes:
            return redirect(f"{PREFIX}/actions/{existing.name}?saved=unchanged (nothing to save)")
        expected = editor.values.get("version", "")
        result = await ctx.app.catalog.save_spec(
            ctx.guru,
            spec,
            create=False,
            expected_version=int(expected) if expected.isdigit() else None,
            actor=who,
            summary=summarize(changes),
        )
    note = "created" if result.created else "saved"
    if not result.action.enabled and result.missing_secrets:
        note += " (disabled until its secrets are set)"
    return redirect(f"{PREFIX}/actions/{result.action.name}?saved={note}")


async def validate_action(ctx: Ctx) -> Response:
    """htmx: validation messages for every slot of the editor (out-of-band swaps), lint included."""
    form = await ctx.request.form()
    name = str(form.get("existing", ""))
    existing = await ctx.app.catalog.get(ctx.guru, name) if name else None
    editor = read_form(form)
    spec = await _validate(ctx, editor, existing=existing)
    fires, fire_problem = _next_fires(editor.values)
    return await ctx.render(
        "_validation.html",
        editor=editor,
        ok=spec is not None,
        secrets_used=await _secret_rows(ctx, spec),
        fires=fires,
        fire_problem=fire_problem,
    )


async def test_action(ctx: Ctx) -> Response:
    """htmx: run the stored action with sample arguments (a recorded test run) and show the result."""
    name = ctx.request.path_params["name"]
    form = await ctx.request.form()
    text = str(form.get("arguments", "")).strip() or "{}"
    try:
        arguments = json.loads(text)
    except json.JSONDecodeError as exc:
        return await ctx.render(
            "_test_result.html", problem=f"arguments are not valid JSON: {exc.msg}", result=None
        )
    if not isinstance(arguments, dict):
        return await ctx.render("_test_result.html", problem="arguments must be a JSON object", result=None)
    result = await call(ctx, "admin_action_test", name=name, arguments=arguments)
    return await ctx.render("_test_result.html", problem="", result=result)


async def _state(ctx: Ctx, tool: str) -> Response:
    name = ctx.request.path_params["name"]
    try:
        await call(ctx, tool, name=name)
    except ValidationFailed as exc:
        raise Refused(422, str(exc)) from None
    return redirect(f"{PREFIX}/actions/{name}?saved={tool.rsplit('_', 1)[1]}d")


async def enable_action(ctx: Ctx) -> Response:
    return await _state(ctx, "admin_action_enable")


async def disable_action(ctx: Ctx) -> Response:
    return await _state(ctx, "admin_action_disable")


async def delete_action(ctx: Ctx) -> Response:
    await call(ctx, "admin_action_delete", name=ctx.request.path_params["name"])
    return redirect(f"{PREFIX}/actions")


# -- versions ------------------------------------------------------------------------------------------


async def history(ctx: Ctx) -> Response:
    name = ctx.request.path_params["name"]
    action = await ctx.app.catalog.get(ctx.guru, name)
    listing = await call(ctx, "admin_action_history", name=name)
    return await ctx.render("history.html", action=action, listing=listing)


def _version_arg(text: str | None, name: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise Refused(422, f"{name}: {text!r} is not a version number")
    return int(text)


async def diff(ctx: Ctx) -> Response:
    name = ctx.request.path_params["name"]
    action = await ctx.app.catalog.get(ctx.guru, name)
    p = ctx.request.query_params
    a = _version_arg(p.get("from"), "from") or max(1, action.version - 1)
    b = _version_arg(p.get("to"), "to")
    result = await call(ctx, "admin_action_diff", name=name, from_version=a, to_version=b)
    return await ctx.render("diff.html", action=action, result=result)


async def rollback(ctx: Ctx) -> Response:
    name = ctx.request.path_params["name"]
    form = await ctx.request.form()
    version = _version_arg(str(form.get("version", "")), "version")
    expected = _version_arg(str(form.get("expected_version", "")), "expected_version")
    if version is None:
        raise Refused(422, "version: which version to roll back to?")
    result = await call(ctx, "admin_action_rollback", name=name, version=version, expected_version=expected)
    note = result.get("note") or f"rolled back to v{version} as v{result['version']}"
    return redirect(f"{PREFIX}/actions/{name}?saved={quote(note, safe='')}")


def routes(console: Console) -> list[Route]:
    page = console.page
    return [
        Route("/actions", page(actions_list)),
        Route("/actions/new", page(new_action), methods=["GET"]),
        Route("/actions/new", page(save_action), methods=["POST"]),
        Route("/actions/validate", page(validate_action), methods=["POST"]),
        Route("/actions/{name}", page(edit_action), methods=["GET"]),
        Route("/actions/{name}", page(save_action), methods=["POST"]),
        Route("/actions/{name}/test", page(test_action), methods=["POST"]),
        Route("/actions/{name}/enable", page(enable_action), methods=["POST"]),
        Route("/actions/{name}/disable", page(disable_action), methods=["POST"]),
        Route("/actions/{name}/delete", page(delete_action), methods=["POST"]),
        Route("/actions/{name}/history", page(history), methods=["GET"]),
        Route("/actions/{name}/diff", page(diff), methods=["GET"]),
        Route("/actions/{name}/rollback", page(rollback), methods=["POST"]),
    ]
