"""`guru-mcp actions|runs|schedules ...`: one command per admin tool, calling the same services.

Each command calls the admin service of the same name (`cli_support.call`), so the CLI and MCP admin
clients get the same validation, the same answers and the same masking. `--json` prints that answer
as it is; without it the command prints a short human form.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from guru_mcp import render
from guru_mcp.cli_support import RUN_FAILED, USAGE, call, echo_json, fail, load_json, operator, pairs
from guru_mcp.run_status import RunStatus

_GURU = click.option("--guru", default=None, help="The guru (tenant); the default guru when omitted.")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
_EXPECTED = click.option(
    "--expected-version",
    type=int,
    default=None,
    help="Refuse (exit 5) unless the action is still at this version.",
)
_DRY = click.option("--dry-run", is_flag=True, help="Only show the field-by-field diff; change nothing.")


def _echo_changes(changes: list[dict[str, Any]]) -> None:
    for line in render.changes(changes):
        click.echo(line)


def _state(row: dict[str, Any]) -> str:
    if row.get("enabled"):
        return "enabled"
    reason = row.get("disabled_reason")
    return f"disabled ({reason})" if reason else "disabled"


def _warnings(out: dict[str, Any]) -> None:
    for warning in out.get("warnings", []):
        click.echo(f"warning: {render.clean(warning)}", err=True)


# -- actions ---------------------------------------------------------------------------------------


@click.command("get")
@click.argument("name")
@_JSON
@_GURU
def actions_get(name: str, as_json: bool, guru: str | None) -> None:
    """Show an action: its state and its definition (export format, secrets by name only)."""
    out = call("admin_action_get", {"name": name}, guru)
    if as_json:
        echo_json(out)
        return
    click.echo(
        f"{render.cell(out['name'])}  v{out['version']}  {render.cell(out['type'])}  {render.cell(_state(out))}"
    )
    click.echo(render.clean(render.to_json(out["definition"])))


@click.command("create")
@click.argument("source")
@_JSON
@_GURU
def actions_create(source: str, as_json: bool, guru: str | None) -> None:
    """Create an action from JSON: a file, @file, - (stdin) or the JSON text. Refused if it exists."""
    out = call("admin_action_create", {"action": load_json(source, "SOURCE")}, guru)
    if as_json:
        echo_json(out)
        return
    _warnings(out)
    click.echo(f"created {render.cell(out['name'])} v{out['version']} ({render.cell(_state(out))})")


@click.command("update")
@click.argument("name")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Change one field, dotted for nested ones (config.timeout=10); VALUE is JSON or text. Repeatable.",
)
@click.option(
    "--patch",
    default=None,
    metavar="JSON",
    help="A JSON merge patch of the definition (RFC 7396): text, @file or - (stdin).",
)
@_EXPECTED
@_DRY
@_JSON
@_GURU
def actions_update(
    name: str,
    sets: tuple[str, ...],
    patch: str | None,
    expected_version: int | None,
    dry_run: bool,
    as_json: bool,
    guru: str | None,
) -> None:
    """Change an action with a merge patch: nested objects merge, null removes a field, lists are
    replaced whole. Unknown fields are refused. Prints what changed, field by field."""
    changes: dict[str, Any] = {}
    if patch is not None:
        changes = load_json(patch, "--patch")
        if not isinstance(changes, dict):
            fail("--patch: must be a JSON object")
    from guru_mcp.versions import merge_patch

    changes = merge_patch(changes, pairs(sets, "--set")) if sets else changes
    if not changes:
        fail("nothing to change: give --set FIELD=VALUE or --patch JSON")
    out = call(
        "admin_action_update",
        {"name": name, "changes": changes, "expected_version": expected_version, "dry_run": dry_run},
        guru,
    )
    if as_json:
        echo_json(out)
        return
    _warnings(out)
    if dry_run:
        click.echo(
            f"{render.cell(name)}: would go from v{out['version']} to v{out['would_be_version']} (dry run)"
        )
        for secret in out.get("missing_secrets", []):
            click.echo(
                f"  note: secret {render.cell(secret)} is not set; the action would be stored disabled"
            )
    elif out["changes"]:
        click.echo(f"updated {render.cell(name)} to v{out['version']}")
    if not out["changes"]:
        click.echo(f"{render.cell(name)}: no change (still v{out['version']})")
    _echo_changes(out["changes"])


@click.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_GURU
def actions_delete(name: str, yes: bool, guru: str | None) -> None:
    """Delete an action and its schedule. Its runs, and the versions they ran, stay."""
    if not yes:
        if not sys.stdin.isatty():
            fail("deleting needs confirmation: add --yes", USAGE)
        click.confirm(f"Delete action {name!r}?", abort=True)
    out = call("admin_action_delete", {"name": name}, guru)
    click.echo(f"deleted {render.cell(name)}")
    if out.get("disabled_agents"):
        click.echo(
            f"disabled agents that used it as a tool: {render.cell(', '.join(out['disabled_agents']))}"
        )


def _set_enabled(tool: str, names: tuple[str, ...], as_json: bool, guru: str | None) -> None:
    outs = [call(tool, {"name": n}, guru) for n in names]
    if as_json:
        echo_json(outs)
        return
    for out in outs:
        click.echo(f"{render.cell(out['name'])}: {render.cell(_state(out))}")


@click.command("enable")
@click.argument("names", nargs=-1, required=True)
@_JSON
@_GURU
def actions_enable(names: tuple[str, ...], as_json: bool, guru: str | None) -> None:
    """Enable actions: they become tools again. Refused (exit 4) while a secret one uses is missing."""
    _set_enabled("admin_action_enable", names, as_json, guru)


@click.command("disable")
@click.argument("names", nargs=-1, required=True)
@_JSON
@_GURU
def actions_disable(names: tuple[str, ...], as_json: bool, guru: str | None) -> None:
    """Disable actions: their tools disappear and their schedules stop (state only: no new version)."""
    _set_enabled("admin_action_disable", names, as_json, guru)


def _run_command(
    tool: str,
    name: str,
    args: tuple[str, ...],
    args_json: str | None,
    as_json: bool,
    guru: str | None,
    mock_tools: str | None = None,
) -> None:
    arguments = pairs(args, "--arg")
    if args_json is not None:
        given = load_json(args_json, "--args")
        if not isinstance(given, dict):
            fail("--args: must be a JSON object")
        arguments = {**given, **arguments}
    request: dict[str, Any] = {"name": name, "arguments": arguments}
    if mock_tools is not None:
        mocks = load_json(mock_tools, "--mock-tools")
        if not isinstance(mocks, dict):
            fail("--mock-tools: must be a JSON object of tool name -> result")
        request["mock_tools"] = mocks
    out = call(tool, request, guru)
    if as_json:
        echo_json(out)
    else:
        took = f"{out['duration_ms']:.0f} ms" if out.get("duration_ms") is not None else "-"
        click.echo(f"run {out['run_id']}: {out['status']} in {took}", err=True)
        if out.get("hosts"):
            click.echo(f"hosts: {render.cell(', '.join(out['hosts']))}", err=True)
        if out.get("error"):
            click.echo(f"error: {render.clean(out['error'])}", err=True)
        click.echo(render.clean(out.get("output") or ""))
    if out["status"] != RunStatus.OK:
        sys.exit(RUN_FAILED)


_ARG = click.option(
    "--arg",
    "args",
    multiple=True,
    metavar="NAME=VALUE",
    help="An argument; VALUE is JSON (3, true) or text. Repeatable.",
)
_ARGS = click.option(
    "--args", "args_json", default=None, metavar="JSON", help="Arguments as a JSON object (text, @file, -)."
)


@click.command("test")
@click.argument("name")
@_ARG
@_ARGS
@click.option(
    "--mock-tools",
    default=None,
    metavar="JSON",
    help="Agents: tool name -> result given to the model instead of running the tool (text, @file, -).",
)
@_JSON
@_GURU
def actions_test(
    name: str,
    args: tuple[str, ...],
    args_json: str | None,
    mock_tools: str | None,
    as_json: bool,
    guru: str | None,
) -> None:
    """Run an action (even a disabled one) with sample arguments, recorded as a test run. Exit 7 if it fails."""
    _run_command("admin_action_test", name, args, args_json, as_json, guru, mock_tools)


@click.command("trigger")
@click.argument("name")
@_ARG
@_ARGS
@_JSON
@_GURU
def actions_trigger(
    name: str, args: tuple[str, ...], args_json: str | None, as_json: bool, guru: str | None
) -> None:
    """Run an action now, by hand, recorded as a manual run. Exit 7 if it fails."""
    _run_command("admin_action_trigger", name, args, args_json, as_json, guru)


@click.command("history")
@click.argument("name")
@_JSON
@_GURU
def actions_history(name: str, as_json: bool, guru: str | None) -> None:
    """List an action's versions, newest first: when, who, and what changed."""
    out = call("admin_action_history", {"name": name}, guru)
    if as_json:
        echo_json(out)
        return
    rows = [
        {
            **v,
            "version": f"v{v['version']}{' *' if v.get('current') else ''}",
            "created_at": v["created_at"][:19],
        }
        for v in out["versions"]
    ]
    click.echo(
        render.table(
            rows,
            [
                ("version", "VERSION"),
                ("created_at", "WHEN (UTC)"),
                ("changed_by", "BY"),
                ("summary", "CHANGES"),
            ],
            widths={"summary": 80, "changed_by": 32},
        )
    )


@click.command("diff")
@click.argument("name")
@click.argument("from_version", type=int)
@click.argument("to_version", type=int, required=False)
@_JSON
@_GURU
def actions_diff(
    name: str, from_version: int, to_version: int | None, as_json: bool, guru: str | None
) -> None:
    """Show field by field what changed from one version to another (default: to the current one)."""
    out = call(
        "admin_action_diff", {"name": name, "from_version": from_version, "to_version": to_version}, guru
    )
    if as_json:
        echo_json(out)
        return
    click.echo(
        f"{render.cell(name)}: v{out['from_version']} -> v{out['to_version']}: {render.cell(out['summary'])}"
    )
    _echo_changes(out["changes"])


@click.command("rollback")
@click.argument("name")
@click.argument("version", type=int)
@_EXPECTED
@_DRY
@_JSON
@_GURU
def actions_rollback(
    name: str, version: int, expected_version: int | None, dry_run: bool, as_json: bool, guru: str | None
) -> None:
    """Restore version VERSION's definition as a new version (enabled state and schedule pause are kept)."""
    out = call(
        "admin_action_rollback",
        {"name": name, "version": version, "expected_version": expected_version, "dry_run": dry_run},
        guru,
    )
    if as_json:
        echo_json(out)
        return
    _warnings(out)
    if out.get("note"):
        click.echo(render.clean(out["note"]))
    elif dry_run:
        click.echo(f"{render.cell(name)}: rolling back to v{version} would change (dry run):")
    else:
        click.echo(
            f"{render.cell(name)}: v{out['from_version']} -> v{out['version']} (the definition of v{version})"
        )
    _echo_changes(out["changes"])


@click.command("stats")
@click.argument("name", required=False)
@click.option(
    "--window", default="24h", show_default=True, help="How far back: e.g. 24h, 7d, 30d, 90m, or all."
)
@_JSON
@_GURU
def actions_stats(name: str | None, window: str, as_json: bool, guru: str | None) -> None:
    """Last run, runs, errors, error rate and p50/p95 duration per action (one action, or all) over a window;
    --json adds the overall figures and the same per trigger."""
    out = call("admin_action_stats", {"window": window, **({"name": name} if name else {})}, guru)
    if as_json:
        echo_json(out)
        return
    click.echo(
        render.table(
            out["stats"],
            [
                ("action", "ACTION"),
                ("last_run_at", "LAST RUN"),
                ("runs", "RUNS"),
                ("errors", "ERRORS"),
                ("error_rate", "ERROR RATE"),
                ("p50_ms", "P50 MS"),
                ("p95_ms", "P95 MS"),
            ],
        )
    )
    click.echo(f"window: {out['window']} (since {out['since'] or 'the first run'})")


ACTION_COMMANDS = [
    actions_stats,
    actions_get,
    actions_create,
    actions_update,
    actions_delete,
    actions_enable,
    actions_disable,
    actions_test,
    actions_trigger,
    actions_history,
    actions_diff,
    actions_rollback,
]


# -- runs ------------------------------------------------------------------------------------------


@click.command("show")
@click.argument("run_id")
@_JSON
@_GURU
def runs_show(run_id: str, as_json: bool, guru: str | None) -> None:
    """Show one run in full: inputs, output, error, hosts, timing and the config it ran with."""
    out = call("admin_run_get", {"run_id": run_id}, guru)
    if as_json:
        echo_json(out)
        return
    fields = [
        ("run", out["id"]),
        ("action", f"{out['action_name']} v{out['action_version']}"),
        ("trigger", out["trigger"]),
        ("status", out["status"]),
        ("started", out["started_at"]),
        ("ended", out["ended_at"]),
        ("duration", f"{out['duration_ms']:.1f} ms" if out["duration_ms"] is not None else None),
        ("caller", out["caller"].get("email") or out["caller"].get("key")),
        ("hosts", ", ".join(out["hosts"]) or None),
    ]
    if out.get("schedule_id") is not None:
        fields += [("schedule", out["schedule_id"]), ("due", out["due_at"])]
    if out.get("parent_run_id"):
        fields += [("parent", out["parent_run_id"]), ("depth", out["depth"])]
    if out.get("usage"):
        fields += [("usage", ", ".join(f"{k} {v}" for k, v in out["usage"].items()))]
    for label, value in fields:
        click.echo(f"{label + ':':<10} {render.cell(value)}")
    click.echo("inputs:    " + render.cell(out["inputs"]))
    if out["error"]:
        click.echo("error:     " + render.clean(out["error"]))
    click.echo("output" + (" (truncated):" if out["truncated"] else ":"))
    click.echo(render.clean(out["output"]))
    if out.get("children"):
        click.echo("tool calls:")
        _echo_children(out["children"], "  ")
    click.echo(
        "config snapshot:" if out.get("config_snapshot") else "config snapshot: (not recorded for this run)"
    )
    if out.get("config_snapshot"):
        click.echo(render.clean(render.to_json(out["config_snapshot"])))


def _echo_children(children: list[dict[str, Any]], indent: str) -> None:
    for child in children:
        took = f"{child['duration_ms']:.0f} ms" if child.get("duration_ms") is not None else "-"
        click.echo(
            f"{indent}{render.cell(child['action_name'])}  {child['status']}  {took}  {render.cell(child['id'])}"
        )
        _echo_children(child.get("children", []), indent + "  ")


RUN_COMMANDS = [runs_show]


# -- schedules -------------------------------------------------------------------------------------


def _echo_schedule(out: dict[str, Any]) -> None:
    if out.get("schedule") is None and "cron" not in out:
        click.echo(f"{render.cell(out['action'])}: schedule cleared")
        return
    click.echo(
        f"{render.cell(out['action'])}: {render.cell(out['cron'])} ({render.cell(out['timezone'])}), "
        f"{render.cell(out['state'])}"
    )
    for when in out.get("upcoming_local") or ([out["next_fire_local"]] if out.get("next_fire_local") else []):
        click.echo(f"  next: {render.cell(when)}")


@click.command("set")
@click.argument("action")
@click.option("--cron", default=None, help="Five fields (minute hour day month weekday), e.g. '0 9 * * 1'.")
@click.option("--timezone", default=None, help="IANA zone the cron is read in (new schedules: UTC).")
@click.option(
    "--arg", "args", multiple=True, metavar="NAME=VALUE", help="An argument for every run. Repeatable."
)
@click.option("--overlap", type=click.Choice(["skip", "allow"]), default=None)
@click.option("--misfire", type=click.Choice(["run_once", "skip"]), default=None)
@click.option("--paused", is_flag=True, default=None, help="Store the schedule paused.")
@_JSON
@_GURU
def schedules_set(
    action: str,
    cron: str | None,
    timezone: str | None,
    args: tuple[str, ...],
    overlap: str | None,
    misfire: str | None,
    paused: bool | None,
    as_json: bool,
    guru: str | None,
) -> None:
    """Schedule an action, or change its schedule (options not given keep their values)."""
    given: dict[str, Any] = {
        "action": action,
        "cron": cron,
        "timezone": timezone,
        "overlap": overlap,
        "misfire": misfire,
        "arguments": pairs(args, "--arg") if args else None,
        "enabled": False if paused else None,
    }
    out = call("admin_schedule_set", {k: v for k, v in given.items() if v is not None}, guru)
    echo_json(out) if as_json else _echo_schedule(out)


def _schedule_command(tool: str, verb: str, doc: str) -> click.Command:
    @click.command(verb, help=doc)
    @click.argument("action")
    @_JSON
    @_GURU
    def command(action: str, as_json: bool, guru: str | None) -> None:
        out = call(tool, {"action": action}, guru)
        echo_json(out) if as_json else _echo_schedule(out)

    return command


@click.command("status")
@_JSON
def sandbox_status(as_json: bool) -> None:
    """The Python sandbox as this machine sees it: Docker engine, image, egress mode (a server's warm
    pool is its own: this command starts none)."""
    from guru_mcp.cli_support import run, settings

    chosen = settings()
    chosen = chosen.model_copy(update={"sandbox_pool_size": 0})

    async def work() -> Any:
        from guru_mcp.app import open_app
        from guru_mcp.tools.admin import admin_tool, call_admin_tool

        async with open_app(chosen, background=False, sandbox=True) as app:
            caller = operator(app, None)
            return await call_admin_tool(app, caller, admin_tool("admin_sandbox_status"), {})

    out = run(work)
    if as_json:
        echo_json(out)
        return
    for key, value in out.items():
        if key != "pool":
            click.echo(f"{render.cell(key) + ':':<16} {render.cell(value)}")


SANDBOX_COMMANDS = [sandbox_status]

SCHEDULE_COMMANDS = [
    schedules_set,
    _schedule_command(
        "admin_schedule_pause", "pause", "Pause an action's schedule (the action stays callable)."
    ),
    _schedule_command("admin_schedule_resume", "resume", "Resume a paused schedule from its next due time."),
    _schedule_command("admin_schedule_clear", "clear", "Remove an action's schedule (the action stays)."),
]

__all__ = ["ACTION_COMMANDS", "RUN_COMMANDS", "SANDBOX_COMMANDS", "SCHEDULE_COMMANDS"]
