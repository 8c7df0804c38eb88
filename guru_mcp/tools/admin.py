"""The admin toolset: manage actions, secrets and runs over MCP. Only admin callers see or call these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from guru_mcp import versions
from guru_mcp.app import App
from guru_mcp.catalog import describe
from guru_mcp.errors import BadArguments, FieldError, ValidationFailed
from guru_mcp.models import ActionType, Caller, RunRecord, Trigger, parse_spec
from guru_mcp.stats import parse_window, window_stats
from guru_mcp.tools.admin_access import ACCESS_TOOLS
from guru_mcp.tools.admin_agents import AGENT_TOOLS, run_tree
from guru_mcp.tools.admin_schedules import SCHEDULE_TOOLS
from guru_mcp.tools.registry import AdminTool, NoArgs
from guru_mcp.transfer import export_actions, import_actions


class ByName(BaseModel):
    name: str = Field(description="The action's name (as in admin_actions_list).")


class CreateArgs(BaseModel):
    action: dict[str, Any] = Field(
        description="The action definition: name, title, condition_prompt, instructions, action_type "
        "(PYTHON_CODE, API_CALL or AGENT), parameters [{name, type, description, required, default}], config "
        "({code, timeout} or {endpoint, method, headers [{key, value}], body, timeout} or, for an agent, "
        "{system_prompt, tools [action names], provider, model, output_schema, max_tool_calls, max_depth, "
        "timeout}), secrets, enabled."
    )


class UpdateArgs(BaseModel):
    name: str = Field(description="The action to change.")
    changes: dict[str, Any] = Field(
        description="A JSON merge patch (RFC 7396) of the definition, in the shape of admin_action_get's "
        '`definition`: nested objects merge (e.g. {"config": {"timeout": 10}} changes only the timeout), '
        "null removes a field, arrays such as `parameters` are replaced whole. Unknown fields are refused."
    )
    expected_version: int | None = Field(
        default=None, description="Refuse the change unless the action is still at this version."
    )
    dry_run: bool = Field(
        default=False, description="Only return the field-by-field diff that would be applied."
    )


class VersionArgs(BaseModel):
    name: str = Field(description="The action.")


class DiffArgs(BaseModel):
    name: str = Field(description="The action.")
    from_version: int = Field(ge=1, description="The older version.")
    to_version: int | None = Field(
        default=None, ge=1, description="The newer version; the current one when omitted."
    )


class RollbackArgs(BaseModel):
    name: str = Field(description="The action.")
    version: int = Field(ge=1, description="The version whose definition to restore (as a new version).")
    expected_version: int | None = Field(
        default=None, description="Refuse unless the action is still at this version."
    )
    dry_run: bool = Field(default=False, description="Only return the diff the rollback would apply.")


class RunArgs(BaseModel):
    name: str = Field(description="The action to run.")
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="Arguments, as the action's tool takes them."
    )


class TestArgs(RunArgs):
    mock_tools: dict[str, Any] | None = Field(
        default=None,
        description="Agents only: tool name -> the result to give the model instead of running that tool. When "
        "given, no tool runs at all (tools without a mock answer with an error); only the model is called.",
    )


class ImportArgs(BaseModel):
    document: Any = Field(
        description="The export JSON: one action object, a list of them, or the JSON text of either."
    )
    dry_run: bool = Field(default=False, description="Only report what would change.")


class ExportArgs(BaseModel):
    names: list[str] | None = Field(default=None, description="Actions to export; all when omitted.")


class SecretSetArgs(BaseModel):
    name: str = Field(description="Secret name, e.g. STRIPE_API_KEY.")
    value: str = Field(
        description="The secret value: one line, at least 8 characters. It is never shown again."
    )
    enable_actions: bool = Field(
        default=False,
        description="Also enable the disabled actions that have all their secrets once this one is set.",
    )
    hosts: list[str] | None = Field(
        default=None,
        description="Hosts the secret may be sent to (names, *.suffix patterns, IPs); [] for any host. "
        "Omitted: a new secret may go to any host, a replaced one keeps its list.",
    )


class RunsListArgs(BaseModel):
    action: str | None = Field(default=None, description="Only runs of this action.")
    status: Literal["running", "ok", "error", "timeout", "denied", "cancelled"] | None = None
    trigger: Literal["tool_call", "test", "manual", "schedule"] | None = None
    parent_run_id: str | None = Field(default=None, description="Only the tool-call runs of this agent run.")
    top_level: bool = Field(default=False, description="Leave out runs started by agents as tool calls.")
    limit: int = Field(default=20, ge=1, le=500)


class RunGetArgs(BaseModel):
    run_id: str


class StatsArgs(BaseModel):
    name: str | None = Field(default=None, description="One action; all actions when omitted.")
    window: str = Field(
        default="24h", description="How far back to count runs: e.g. 24h, 7d, 30d, 90m, or all (all time)."
    )


def _run_row(run: RunRecord, *, full: bool = False) -> dict[str, Any]:
    row = run.model_dump(mode="json", exclude={"guru"})
    if not full:
        row["output"] = run.output[:500]
    return row


async def _list(app: App, caller: Caller, args: NoArgs) -> Any:
    return {"actions": [describe(a) for a in await app.catalog.list_actions(caller.guru)]}


async def _get(app: App, caller: Caller, args: ByName) -> Any:
    action = await app.catalog.get(caller.guru, args.name)
    masker = await app.masker(caller.guru)
    return {**describe(action), "definition": masker.data(action.spec.export())}


async def _saved(result: Any) -> dict[str, Any]:
    out = describe(result.action)
    out["created"] = result.created
    if result.warnings:
        out["warnings"] = result.warnings
    return out


async def _create(app: App, caller: Caller, args: CreateArgs) -> Any:
    spec = parse_spec(args.action)
    return await _saved(await app.catalog.save_spec(caller.guru, spec, replace=False, actor=caller.who))


async def _update(app: App, caller: Caller, args: UpdateArgs) -> Any:
    return await versions.update(
        app,
        caller.guru,
        args.name,
        args.changes,
        caller,
        expected_version=args.expected_version,
        dry_run=args.dry_run,
    )


async def _history(app: App, caller: Caller, args: VersionArgs) -> Any:
    return await versions.history(app, caller.guru, args.name)


async def _diff(app: App, caller: Caller, args: DiffArgs) -> Any:
    return await versions.diff_versions(app, caller.guru, args.name, args.from_version, args.to_version)


async def _rollback(app: App, caller: Caller, args: RollbackArgs) -> Any:
    return await versions.rollback(
        app,
        caller.guru,
        args.name,
        args.version,
        caller,
        expected_version=args.expected_version,
        dry_run=args.dry_run,
    )


async def _delete(app: App, caller: Caller, args: ByName) -> Any:
    disabled = await app.catalog.delete(caller.guru, args.name)
    out: dict[str, Any] = {"deleted": args.name}
    if disabled:
        out["disabled_agents"] = disabled
        out["note"] = f"these agents used {args.name} as a tool and are now disabled: {', '.join(disabled)}"
    return out


async def _enable(app: App, caller: Caller, args: ByName) -> Any:
    return describe(await app.catalog.set_enabled(caller.guru, args.name, True))


async def _disable(app: App, caller: Caller, args: ByName) -> Any:
    return describe(await app.catalog.set_enabled(caller.guru, args.name, False))


async def _run(
    app: App, caller: Caller, args: RunArgs, trigger: Trigger, mock_tools: dict[str, Any] | None = None
) -> Any:
    outcome = await app.runs.run(
        caller.guru, args.name, args.arguments, caller, trigger, allow_disabled=True, mock_tools=mock_tools
    )
    out: dict[str, Any] = {
        "run_id": outcome.record.id,
        "status": outcome.record.status.value,
        "duration_ms": outcome.record.duration_ms,
        "output": outcome.result.text,
        "error": outcome.result.error or None,
        "hosts": outcome.result.hosts,
        "hosts_refused": outcome.result.hosts_refused,
    }
    if outcome.record.usage:
        out["usage"] = outcome.record.usage
    return out


async def _test(app: App, caller: Caller, args: TestArgs) -> Any:
    if args.mock_tools is not None:
        action = await app.catalog.get(caller.guru, args.name)
        if action.spec.action_type is not ActionType.AGENT:
            raise ValidationFailed(FieldError("mock_tools", "only agents have tools to mock"))
    return await _run(app, caller, args, Trigger.TEST, args.mock_tools)


async def _trigger(app: App, caller: Caller, args: RunArgs) -> Any:
    return await _run(app, caller, args, Trigger.MANUAL)


async def _import(app: App, caller: Caller, args: ImportArgs) -> Any:
    return await import_actions(
        app.catalog, caller.guru, args.document, dry_run=args.dry_run, actor=caller.who
    )


async def _export(app: App, caller: Caller, args: ExportArgs) -> Any:
    masker = await app.masker(caller.guru)
    return {"actions": masker.data(await export_actions(app.catalog, caller.guru, args.names))}


async def _secret_set(app: App, caller: Caller, args: SecretSetArgs) -> Any:
    return await app.vault.put(
        caller.guru, args.name, args.value, enable_ready=args.enable_actions, hosts=args.hosts
    )


async def _secrets_list(app: App, caller: Caller, args: NoArgs) -> Any:
    return {"secrets": await app.vault.list_secrets(caller.guru)}


async def _secret_delete(app: App, caller: Caller, args: ByName) -> Any:
    disabled = await app.vault.delete(caller.guru, args.name)
    return {"deleted": args.name, "disabled_actions": disabled}


async def _runs_list(app: App, caller: Caller, args: RunsListArgs) -> Any:
    runs = await app.store.runs.list_runs(
        caller.guru,
        action=args.action,
        status=args.status,
        trigger=args.trigger,
        parent_run_id=args.parent_run_id,
        top_level=args.top_level,
        limit=args.limit,
    )
    return {"runs": [_run_row(r) for r in runs]}


async def _run_get(app: App, caller: Caller, args: RunGetArgs) -> Any:
    run = await app.store.runs.get_run(caller.guru, args.run_id)
    row = await run_tree(app, caller.guru, run, _run_row)
    row["config_snapshot"] = await versions.run_snapshot(app, run)
    return row


async def _stats(app: App, caller: Caller, args: StatsArgs) -> Any:
    window = parse_window(args.window)
    if args.name:
        await app.catalog.get(caller.guru, args.name)
    names = [args.name] if args.name else [a.name for a in await app.catalog.list_actions(caller.guru)]
    return await window_stats(app.store, caller.guru, names, window)


async def _sandbox_status(app: App, caller: Caller, args: NoArgs) -> Any:
    return app.sandbox.status()


ADMIN_TOOLS: list[AdminTool] = [
    AdminTool(
        "admin_actions_list",
        "List every action of this guru: name, type, enabled, version, parameters.",
        NoArgs,
        _list,
        read_only=True,
    ),
    AdminTool(
        "admin_action_get",
        "Show one action's full definition (export format) and state.",
        ByName,
        _get,
        read_only=True,
    ),
    AdminTool(
        "admin_action_create",
        "Create an action. It becomes a tool for every client at once (unless it "
        "needs secrets that are not set yet: then it is stored disabled and the answer says which).",
        CreateArgs,
        _create,
    ),
    AdminTool(
        "admin_action_update",
        "Change an existing action with a merge patch of its definition; the version "
        "goes up by one and the previous definition stays in its history. Use dry_run to see the diff first.",
        UpdateArgs,
        _update,
    ),
    AdminTool(
        "admin_action_history",
        "List an action's versions, newest first: when, who, and what changed.",
        VersionArgs,
        _history,
        read_only=True,
    ),
    AdminTool(
        "admin_action_diff",
        "Show field by field what changed between two versions of an action.",
        DiffArgs,
        _diff,
        read_only=True,
    ),
    AdminTool(
        "admin_action_rollback",
        "Restore an earlier version's definition as a new version (enabled state "
        "and schedule pause are kept). Use dry_run to see the diff first.",
        RollbackArgs,
        _rollback,
        confirm=True,
    ),
    AdminTool(
        "admin_action_delete",
        "Delete an action for good, with its schedule. Its run history stays.",
        ByName,
        _delete,
        destructive=True,
    ),
    AdminTool(
        "admin_action_enable",
        "Enable an action: it appears as a tool again. Refused while a secret it uses is missing.",
        ByName,
        _enable,
    ),
    AdminTool(
        "admin_action_disable",
        "Disable an action: its tool disappears and its schedule stops.",
        ByName,
        _disable,
    ),
    AdminTool(
        "admin_action_test",
        "Run an action (even a disabled one) with sample arguments; recorded as a "
        "test run. Use it to check a new action before enabling it. For an agent, mock_tools gives "
        "canned tool results so nothing but the model is called.",
        TestArgs,
        _test,
    ),
    AdminTool(
        "admin_action_trigger", "Run an action now, by hand; recorded as a manual run.", RunArgs, _trigger
    ),
    AdminTool(
        "admin_import",
        "Import actions from export JSON (Gurubase format accepted as-is). Everything is "
        "validated first; nothing changes if anything is invalid. Use dry_run to preview.",
        ImportArgs,
        _import,
    ),
    AdminTool(
        "admin_export", "Export actions as JSON (secrets by name only).", ExportArgs, _export, read_only=True
    ),
    AdminTool(
        "admin_secret_set",
        "Create or replace a secret. The value is encrypted and never shown again; "
        "only actions that declare it get it (a Python action's `secrets` list, an API call's {NAME} "
        "placeholder). Optional `hosts` limit where it may be sent.",
        SecretSetArgs,
        _secret_set,
    ),
    AdminTool(
        "admin_secrets_list",
        "List secret names with their dates and the actions using them (never values).",
        NoArgs,
        _secrets_list,
        read_only=True,
    ),
    AdminTool(
        "admin_secret_delete",
        "Delete a secret. Every action using it is disabled; the answer names them.",
        ByName,
        _secret_delete,
        destructive=True,
    ),
    AdminTool(
        "admin_runs_list",
        "List recent runs (newest first), optionally by action, status or trigger.",
        RunsListArgs,
        _runs_list,
        read_only=True,
    ),
    AdminTool(
        "admin_run_get",
        "Show one run in full: inputs, output, error, hosts contacted, timing, model "
        "usage, and the action's definition at the version it ran (config_snapshot); for an agent run, its "
        "tool-call runs nested under children.",
        RunGetArgs,
        _run_get,
        read_only=True,
    ),
    AdminTool(
        "admin_action_stats",
        "Run statistics over a time window (default 24h), per action and overall: last "
        "run time, runs, errors, error rate, p50/p95 duration in ms, and the same per trigger (tool_call, "
        "test, manual, schedule).",
        StatsArgs,
        _stats,
        read_only=True,
    ),
    AdminTool(
        "admin_sandbox_status",
        "State of the Python sandbox: Docker engine, image, warm pool, egress mode.",
        NoArgs,
        _sandbox_status,
        read_only=True,
    ),
]


def all_admin_tools() -> list[AdminTool]:
    return [*ADMIN_TOOLS, *SCHEDULE_TOOLS, *ACCESS_TOOLS, *AGENT_TOOLS]


def admin_tool(name: str) -> AdminTool:
    for tool in all_admin_tools():
        if tool.name == name:
            return tool
    raise KeyError(name)


async def call_admin_tool(app: App, caller: Caller, tool: AdminTool, arguments: dict[str, Any]) -> Any:
    """The one way into the admin services, for MCP clients and the CLI alike: validate the arguments
    (BadArguments names each bad one), run the handler, mask every secret value in the answer."""
    try:
        args = tool.args.model_validate(arguments)
    except ValidationError as exc:
        raise BadArguments(
            [FieldError(".".join(map(str, e["loc"])) or "arguments", e["msg"]) for e in exc.errors()]
        ) from None
    masker = await app.masker(caller.guru)  # before the handler: a deleted secret is still masked
    return masker.data(await tool.handler(app, caller, args))
