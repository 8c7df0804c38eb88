"""The `guru-mcp` command: the only place that reads the environment and prints.

Shared machinery (running async work, errors as one line with an exit code, the operator's identity)
is in `cli_support`; the commands that mirror admin tools are in `cli_actions`. Heavy modules are
imported inside commands, so `--help` stays fast.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from guru_mcp import cli_actions, cli_config, render
from guru_mcp.cli_access import new_token
from guru_mcp.cli_support import (
    EXIT_CODES_HELP,
    REFUSED,
    UNAVAILABLE,
    call,
    echo_json,
    fail,
    operator,
    with_core,
)
from guru_mcp.cli_support import run as _run
from guru_mcp.cli_support import settings as _settings
from guru_mcp.run_status import RunStatus

if TYPE_CHECKING:
    from guru_mcp.core import Core
    from guru_mcp.models import Caller

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _fail(message: str) -> None:
    fail(message)


_echo_json = echo_json


@click.group(epilog=EXIT_CODES_HELP)
@click.option(
    "-v", "--verbose", is_flag=True, help="Log more (to stderr), and show tracebacks of internal errors."
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text or as one JSON object each (for log collectors).",
)
def main(verbose: bool, log_format: str) -> None:
    """guru-mcp: admin-defined actions as MCP tools."""
    from guru_mcp.logs import configure

    configure(verbose=verbose, log_format=log_format)  # type: ignore[arg-type]


@main.command()
@click.option("--email", default="", help="Email of the admin (becomes GURUBASE_USER_EMAIL).")
@click.option("--name", default="", help="Display name of the admin.")
def init(email: str, name: str) -> None:
    """Create the state directory, config.toml, the secret key file (mode 0600), the database and an admin token."""
    from guru_mcp.config_file import write_initial

    settings = _settings()

    async def work() -> str:
        from guru_mcp.core import load_keyring, open_store

        settings.home.mkdir(parents=True, exist_ok=True)
        if write_initial(settings.config_file):
            click.echo(f"Configuration: {settings.config_file} (guru-mcp config show / config set)", err=True)
        load_keyring(settings, create=True)
        store = await open_store(settings)
        token = new_token()
        await store.tokens.create_token(
            token,
            guru=settings.default_guru,
            label="init",
            is_admin=True,
            server_admin=True,
            email=email,
            name=name,
        )
        return token

    token = _run(work)
    click.echo(f"State directory: {settings.home}", err=True)
    if settings.secret_key is None:
        click.echo(f"Secret key file: {settings.key_file} (keep it safe; back it up)", err=True)
    click.echo("Admin token (shown once; use it as `Authorization: Bearer <token>`):", err=True)
    click.echo(token)


from guru_mcp.cli_access import gurus, tokens  # noqa: E402  (groups of their own module)

main.add_command(tokens)
main.add_command(gurus)


@main.command()
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--admin", is_flag=True, help="stdio only: the client may use the admin tools.")
@click.option("--guru", default=None, help="stdio only: the guru (tenant) to serve.")
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="HTTP on a loopback address without tokens (conformance testing only).",
)
def serve(
    transport: str, host: str, port: int, admin: bool, guru: str | None, insecure_no_auth: bool
) -> None:
    """Serve MCP over stdio (for Claude Desktop and IDEs) or Streamable HTTP at /mcp."""
    from guru_mcp import serve as serving
    from guru_mcp.logs import log_every_run

    log_every_run()
    settings = _settings()
    if transport == "stdio":

        def caller() -> Caller:  # made once the models are imported, after the handshake is answered
            from guru_mcp.models import Caller

            return Caller(
                key="stdio",
                email=settings.stdio_user_email,
                name=settings.stdio_user_name,
                groups=tuple(settings.stdio_user_groups),
                is_admin=admin,
                server_admin=admin,
                guru=guru or settings.default_guru,
                via="stdio",
            )

        _run(lambda: serving.serve_stdio(settings, caller))
        return
    if admin or guru:
        _fail("--admin and --guru are for stdio; HTTP callers get both from their token")
    if insecure_no_auth and host not in LOOPBACK:
        _fail("--insecure-no-auth is only allowed on a loopback address")
    _run(lambda: serving.serve_http(settings, host, port, insecure_no_auth=insecure_no_auth))


@main.group()
def actions() -> None:
    """Manage actions: list, get, create, update, delete, enable, disable, test, trigger, history,
    diff, rollback, import and export."""


for _command in cli_actions.ACTION_COMMANDS:
    actions.add_command(_command)


@actions.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("--guru", default=None)
def actions_list(as_json: bool, guru: str | None) -> None:
    """List actions."""
    from guru_mcp.lean_list import listed_actions

    # Read-only from the SQLite file, without building the App; None when only the full path can tell.
    out = listed_actions(guru)
    if out is None:
        out = call("admin_actions_list", {}, guru)["actions"]
    if as_json:
        echo_json(out)
        return
    if not out:
        click.echo("no actions (import some: guru-mcp actions import actions/*.json)")
        return
    rows = [
        {
            **r,
            "state": "enabled" if r["enabled"] else "disabled",
            "version": f"v{r['version']}",
            "schedule": (r.get("schedule") or {}).get("cron"),
            "reason": r.get("disabled_reason"),
        }
        for r in out
    ]
    click.echo(
        render.table(
            rows,
            [
                ("state", "STATE"),
                ("name", "NAME"),
                ("type", "TYPE"),
                ("version", "VERSION"),
                ("schedule", "SCHEDULE"),
                ("reason", "WHY DISABLED"),
            ],
            widths={"reason": 60},
        )
    )


def _code_of(item: dict[str, Any]) -> str | None:
    """The code of an import item that looks like a Python action (checked ahead; see scan_ahead)."""
    config = item.get("config")
    code = config.get("code") if isinstance(config, dict) else None
    return code if isinstance(code, str) else None


@actions.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--dry-run", is_flag=True, help="Only report what would change, field by field.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.option("--guru", default=None)
def actions_import(files: tuple[Path, ...], dry_run: bool, as_json: bool, guru: str | None) -> None:
    """Import actions from export JSON files (Gurubase format accepted as-is). All files are checked
    together, as one document: nothing changes if any is invalid, and an agent may list tools that
    another file defines."""
    import gc

    # A short-lived command that makes many objects without reference cycles (modules, syntax trees,
    # specs, rows): the cyclic collector's passes over them were a tenth of a 1,000-action import.
    gc.set_threshold(100_000, 50, 1_000)

    from guru_mcp.cli_support import report as report_error
    from guru_mcp.documents import load_document
    from guru_mcp.errors import ValidationFailed
    from guru_mcp.scan_ahead import ScanAhead

    items: list[dict[str, Any]] = []
    files_items: list[tuple[Path, list[dict[str, Any]]]] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            fail(f"{path}: not UTF-8 text (byte {exc.start}); an export file is JSON in UTF-8", REFUSED)
        try:
            found = load_document(text)
        except ValidationFailed as exc:
            report_error(ValidationFailed(exc.errors, prefix=str(path)))
        files_items.append((path, found))
        items += found

    # Before the storage layer and the models are loaded: the code of the Python actions is checked on
    # another core meanwhile (guru_mcp/scan_ahead.py); the import's outcome is the same either way.
    with ScanAhead.start([_code_of(item) for item in items]) as scans:
        from guru_mcp.models import slugify

        origin: dict[str, str] = {}
        for path, found in files_items:
            for item in found:
                name = str(item.get("name", ""))
                origin.setdefault(name, str(path))
                origin.setdefault(slugify(name), str(path))  # human Gurubase names are imported as slugs

        async def work(core: Core) -> Any:
            # The service behind `admin_import` (`guru_mcp/transfer.py`), masked the same way, on the
            # storage core alone: an import runs nothing, so it opens no HTTP client or executors.
            from guru_mcp.transfer import import_actions

            caller = operator(core, guru)
            masker = await core.masker(caller.guru)
            found = await import_actions(
                core.catalog, caller.guru, items, dry_run=dry_run, actor=caller.who, prescanned=scans.result
            )
            return masker.data(found)

        combined = with_core(work)
    reports: dict[str, dict[str, Any]] = {
        str(p): {"dry_run": dry_run, "actions": [], "notes": []} for p in files
    }
    reports[str(files[0])]["notes"] = combined["notes"]
    for row in combined["actions"]:
        reports[origin.get(row["name"], str(files[0]))]["actions"].append(row)
    if as_json:
        echo_json(reports)
        return
    for shown, report in reports.items():
        click.echo(f"{render.clean(shown)}:{' (dry run)' if dry_run else ''}")
        for note in report["notes"]:
            click.echo(f"  note: {render.clean(note)}")
        for row in report["actions"]:
            line = f"  {row['change']:<9} {render.cell(row['name'])}"
            if row.get("missing_secrets"):
                line += f"  (disabled until these secrets are set: {', '.join(row['missing_secrets'])})"
            elif row.get("disabled_reason"):
                line += f"  (disabled: {render.clean(row['disabled_reason'])})"
            click.echo(line)
            for change in render.changes(row.get("changes", []), indent="            "):
                click.echo(change)
            for warning in row.get("warnings", []):
                click.echo(f"            warning: {render.clean(warning)}")


@actions.command("export")
@click.argument("names", nargs=-1)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@click.option("--guru", default=None)
def actions_export(names: tuple[str, ...], output: Path | None, guru: str | None) -> None:
    """Export actions as JSON (secrets by name only)."""
    data = call("admin_export", {"names": list(names) or None}, guru)["actions"]
    text = render.to_json(data) + "\n"
    if output:
        output.write_text(text)
        click.echo(f"exported {len(data)} action{'' if len(data) == 1 else 's'} to {output}", err=True)
    else:
        click.echo(text, nl=False)


@main.group()
def secrets() -> None:
    """Set, list and delete secrets (values are never shown)."""


@secrets.command("set")
@click.argument("name")
@click.option(
    "--enable-actions", is_flag=True, help="Enable the disabled actions that have all their secrets now."
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="A host the secret may be sent to (name, *.suffix or IP; repeat for more). Default: keep its list.",
)
@click.option("--any-host", is_flag=True, help="Remove the secret's host list: it may be sent to any host.")
@click.option("--guru", default=None)
def secrets_set(
    name: str, enable_actions: bool, hosts: tuple[str, ...], any_host: bool, guru: str | None
) -> None:
    """Set a secret; the value comes from stdin or a hidden prompt, never from the command line.

    One trailing newline of stdin is dropped (`echo VALUE | guru-mcp secrets set NAME`); what remains
    must be one line of at least 8 characters, not only whitespace."""
    if hosts and any_host:
        fail("use either --host or --any-host, not both")
    value = (
        getpass.getpass(f"Value for {name}: ") if sys.stdin.isatty() else _one_newline_less(sys.stdin.read())
    )
    arguments: dict[str, Any] = {"name": name, "value": value, "enable_actions": enable_actions}
    if hosts or any_host:
        arguments["hosts"] = list(hosts)
    result = call("admin_secret_set", arguments, guru)
    click.echo(f"{'created' if result['created'] else 'replaced'} secret {render.cell(name)}")
    if result.get("enabled"):
        click.echo(f"enabled: {render.cell(', '.join(result['enabled']))}")
    elif result.get("ready"):
        ready = " ".join(result["ready"])
        click.echo(f"these actions have all their secrets now: {render.cell(', '.join(result['ready']))}")
        click.echo(
            f"enable them with: guru-mcp actions enable {render.cell(ready)}"
            + (f" --guru {render.cell(guru)}" if guru else "")
        )
    for action, missing in result.get("still_missing", {}).items():
        click.echo(f"{render.cell(action)} still needs: {render.cell(', '.join(missing))}")


def _one_newline_less(text: str) -> str:
    """Stdin without its one trailing newline (`\\n` or `\\r\\n`), as `echo` and editors add."""
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


@secrets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("--guru", default=None)
def secrets_list(as_json: bool, guru: str | None) -> None:
    """List secret names and the actions using them (never values)."""
    rows = call("admin_secrets_list", {}, guru)["secrets"]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no secrets (set one: guru-mcp secrets set NAME)")
        return
    rows = [
        {
            **r,
            "updated_at": r["updated_at"][:19],
            "used_by": ", ".join(r["used_by"]) or None,
            "hosts": ", ".join(r.get("hosts") or []) or "any",
        }
        for r in rows
    ]
    click.echo(
        render.table(
            rows,
            [("name", "NAME"), ("updated_at", "UPDATED (UTC)"), ("used_by", "USED BY"), ("hosts", "SENT TO")],
        )
    )


@secrets.command("delete")
@click.argument("name")
@click.option("--guru", default=None)
def secrets_delete(name: str, guru: str | None) -> None:
    """Delete a secret; the actions using it are disabled."""
    disabled = call("admin_secret_delete", {"name": name}, guru)["disabled_actions"]
    click.echo(
        f"deleted secret {render.cell(name)}"
        + (f"; disabled: {render.cell(', '.join(disabled))}" if disabled else "")
    )


@main.group()
def runs() -> None:
    """The run history: list runs, show one."""


for _command in cli_actions.RUN_COMMANDS:
    runs.add_command(_command)

_STATUSES = [s.value for s in RunStatus]
_TRIGGERS = ["tool_call", "test", "manual", "schedule"]


@runs.command("list")
@click.option("--action", default=None, help="Only runs of this action.")
@click.option("--status", type=click.Choice(_STATUSES), default=None)
@click.option("--trigger", type=click.Choice(_TRIGGERS), default=None)
@click.option("--parent", "parent_run_id", default=None, help="Only the tool-call runs of this agent run.")
@click.option("--top-level", is_flag=True, help="Leave out runs started by agents as tool calls.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option(
    "--json", "as_json", is_flag=True, help="Print the runs as JSON (outputs cut at 500 characters)."
)
@click.option("--guru", default=None)
def runs_list(
    action: str | None,
    status: str | None,
    trigger: str | None,
    parent_run_id: str | None,
    top_level: bool,
    limit: int,
    as_json: bool,
    guru: str | None,
) -> None:
    """List recent runs, newest first (`guru-mcp runs show ID` shows one in full, with an agent's tool calls)."""
    args = {
        "action": action,
        "status": status,
        "trigger": trigger,
        "parent_run_id": parent_run_id,
        "top_level": top_level or None,
        "limit": limit,
    }
    rows = call("admin_runs_list", {k: v for k, v in args.items() if v is not None}, guru)["runs"]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no runs")
        return
    shown = [
        {
            **r,
            "started_at": r["started_at"][:19].replace("T", " "),
            "took": f"{r['duration_ms']:.0f} ms" if r["duration_ms"] is not None else None,
            "action": f"{r['action_name']} v{r['action_version']}",
        }
        for r in rows
    ]
    click.echo(
        render.table(
            shown,
            [
                ("started_at", "STARTED (UTC)"),
                ("status", "STATUS"),
                ("trigger", "TRIGGER"),
                ("action", "ACTION"),
                ("took", "TOOK"),
                ("error", "ERROR"),
                ("id", "RUN"),
            ],
            widths={"error": 60},
        )
    )


@main.group()
def sandbox() -> None:
    """The Python sandbox: build its image, show its status."""


for _command in cli_actions.SANDBOX_COMMANDS:
    sandbox.add_command(_command)


@sandbox.command("build")
@click.option("--force", is_flag=True, help="Rebuild even if an image with the same inputs exists.")
@click.option("--offline/--online", default=None, help="Force the registry-free build (default: auto).")
def sandbox_build(force: bool, offline: bool | None) -> None:
    """Build the sandbox image (offline from Debian packages and PyPI wheels when no registry answers)."""
    from guru_mcp import sandbox_image

    try:
        ref = sandbox_image.build_image(
            force=force, offline=offline, progress=lambda m: click.echo(m, err=True)
        )
    except sandbox_image.SandboxImageError as exc:
        fail(f"sandbox image build failed: {exc}", UNAVAILABLE)
    click.echo(ref)


@main.group()
def schedules() -> None:
    """Scheduled actions: list, set, pause, resume, clear."""


for _command in cli_actions.SCHEDULE_COMMANDS:
    schedules.add_command(_command)


@schedules.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the schedules as JSON.")
@click.option("--guru", default=None)
def schedules_list(as_json: bool, guru: str | None) -> None:
    """List schedules with their next fire times and last run status."""
    rows = call("admin_schedules_list", {}, guru)["schedules"]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no schedules")
        return
    shown = [
        {
            **r,
            "next": (r.get("next_fire_local") or "")[:19].replace("T", " ") or None,
            "last": (
                f"{r['last_run']['status']} at {str(r['last_run']['started_at'])[:19].replace('T', ' ')}"
                if r.get("last_run")
                else None
            ),
        }
        for r in rows
    ]
    click.echo(
        render.table(
            shown,
            [
                ("action", "ACTION"),
                ("cron", "CRON"),
                ("timezone", "TIMEZONE"),
                ("state", "STATE"),
                ("next", "NEXT FIRE (local)"),
                ("last", "LAST RUN"),
            ],
        )
    )


main.add_command(cli_config.config)


@main.group()
def providers() -> None:
    """Model providers for agents (API keys are kept as secrets)."""


@providers.command("set")
@click.argument("name", default="default")
@click.option("--kind", type=click.Choice(["openai", "anthropic", "sampling"]), required=True)
@click.option("--base-url", default="", help="openai: e.g. https://api.openai.com/v1; anthropic: optional.")
@click.option("--model", default="", help="Model name, e.g. gpt-4.1-mini.")
@click.option("--api-key-secret", default="", help="Name of the secret holding the API key.")
@click.option(
    "--api-key-stdin", is_flag=True, help="Read the API key from stdin (or a hidden prompt) and store it."
)
@click.option("--max-tokens", default=1024, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--guru", default=None)
def providers_set(
    name: str,
    kind: str,
    base_url: str,
    model: str,
    api_key_secret: str,
    api_key_stdin: bool,
    max_tokens: int,
    as_json: bool,
    guru: str | None,
) -> None:
    """Create or replace a model provider. The API key never goes on the command line."""
    arguments: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "base_url": base_url,
        "model": model,
        "api_key_secret": api_key_secret,
        "max_tokens": max_tokens,
    }
    if api_key_stdin:
        arguments["api_key"] = (
            getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.read().strip()
        )
    out = call("admin_provider_set", arguments, guru)
    if as_json:
        echo_json(out)
        return
    provider = out["provider"]
    click.echo(
        f"{'created' if out['created'] else 'replaced'} provider {provider['name']} ({provider['kind']})"
    )
    if out.get("note"):
        click.echo(render.clean(out["note"]))


@providers.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--guru", default=None)
def providers_list(as_json: bool, guru: str | None) -> None:
    """List model providers (never their keys) and the agents using them."""
    rows = call("admin_providers_list", {}, guru)["providers"]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no model providers (add one: guru-mcp providers set --kind openai ...)")
    for p in rows:
        key = f"key in {p['api_key_secret']}" if p["api_key_secret"] else "no key"
        used = ", ".join(p["used_by"]) or "-"
        click.echo(
            f"{render.cell(p['name']):<16} {p['kind']:<10} {render.cell(p['model'] or '-'):<24} "
            f"{render.cell(p['base_url'] or '-')}  ({key}; used by: {render.cell(used)})"
        )


@providers.command("delete")
@click.argument("name")
@click.option("--guru", default=None)
def providers_delete(name: str, guru: str | None) -> None:
    """Delete a model provider; agents using it fail until it is configured again."""
    call("admin_provider_delete", {"name": name}, guru)
    click.echo(f"deleted provider {render.cell(name)}")


if __name__ == "__main__":
    main()
