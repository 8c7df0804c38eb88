"""The `guru-mcp` command: the only place that reads the environment and prints."""

from __future__ import annotations

import getpass
import json
import logging
import secrets as pyrandom
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click

from guru_mcp.app import App, load_keyring, open_app, open_store
from guru_mcp.errors import GuruError, ValidationFailed
from guru_mcp.models import Caller
from guru_mcp.settings import Settings

T = TypeVar("T")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _settings() -> Settings:
    return Settings()


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return anyio.run(fn)
    except ValidationFailed as exc:
        click.echo("error: " + exc.prefix if exc.prefix else "error:", err=True)
        for err in exc.errors:
            click.echo(f"  - {err}", err=True)
        sys.exit(1)
    except GuruError as exc:
        _fail(str(exc))
        raise  # unreachable


def _with_app(work: Callable[[App], Awaitable[T]]) -> T:
    async def main() -> T:
        async with open_app(_settings(), background=False, sandbox=False) as app:
            return await work(app)

    return _run(main)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log more (to stderr).")
def main(verbose: bool) -> None:
    """guru-mcp: admin-defined actions as MCP tools."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from guru_mcp.secrets import install_log_masking

    install_log_masking()


def _new_token() -> str:
    return "gmcp_" + pyrandom.token_urlsafe(32)


@main.command()
@click.option("--email", default="", help="Email of the admin (becomes GURUBASE_USER_EMAIL).")
@click.option("--name", default="", help="Display name of the admin.")
def init(email: str, name: str) -> None:
    """Create the state directory, the secret key file (mode 0600), the database and an admin token."""
    settings = _settings()

    async def work() -> str:
        settings.home.mkdir(parents=True, exist_ok=True)
        load_keyring(settings, create=True)
        store = await open_store(settings)
        token = _new_token()
        await store.create_token(token, guru=settings.default_guru, label="init", is_admin=True, email=email, name=name)
        return token

    token = _run(work)
    click.echo(f"State directory: {settings.home}", err=True)
    if settings.secret_key is None:
        click.echo(f"Secret key file: {settings.key_file} (keep it safe; back it up)", err=True)
    click.echo("Admin token (shown once; use it as `Authorization: Bearer <token>`):", err=True)
    click.echo(token)


@main.group()
def tokens() -> None:
    """HTTP bearer tokens."""


@tokens.command("create")
@click.option("--admin", is_flag=True, help="The token may use the admin tools.")
@click.option("--label", default="", help="What the token is for.")
@click.option("--email", default="", help="Caller email (GURUBASE_USER_EMAIL).")
@click.option("--name", default="", help="Caller name (GURUBASE_USER_NAME).")
@click.option("--groups", default="", help="Comma-separated groups (GURUBASE_USER_GROUPS).")
@click.option("--guru", default=None, help="The guru (tenant) the token serves.")
def tokens_create(admin: bool, label: str, email: str, name: str, groups: str, guru: str | None) -> None:
    """Create a token and print it once."""
    settings = _settings()

    async def work() -> str:
        store = await open_store(settings)
        token = _new_token()
        await store.create_token(
            token, guru=guru or settings.default_guru, label=label, is_admin=admin, email=email, name=name,
            groups=groups,
        )
        return token

    click.echo(_run(work))


@main.command()
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--admin", is_flag=True, help="stdio only: the client may use the admin tools.")
@click.option("--guru", default=None, help="stdio only: the guru (tenant) to serve.")
@click.option(
    "--insecure-no-auth", is_flag=True, help="HTTP on a loopback address without tokens (conformance testing only)."
)
def serve(transport: str, host: str, port: int, admin: bool, guru: str | None, insecure_no_auth: bool) -> None:
    """Serve MCP over stdio (for Claude Desktop and IDEs) or Streamable HTTP at /mcp."""
    from guru_mcp import serve as serving

    settings = _settings()
    if transport == "stdio":
        caller = Caller(
            key="stdio",
            email=settings.stdio_user_email,
            name=settings.stdio_user_name,
            groups=tuple(settings.stdio_user_groups),
            is_admin=admin,
            guru=guru or settings.default_guru,
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
    """List, import and export actions."""


@actions.command("list")
@click.option("--guru", default=None)
def actions_list(guru: str | None) -> None:
    """List actions."""
    from guru_mcp.catalog import describe

    async def work(app: App) -> None:
        rows = [describe(a) for a in await app.catalog.list(guru or app.settings.default_guru)]
        if not rows:
            click.echo("no actions (import some: guru-mcp actions import actions/*.json)")
        for row in rows:
            state = "enabled " if row["enabled"] else "disabled"
            extra = f"  ({row['disabled_reason']})" if row.get("disabled_reason") else ""
            click.echo(f"{state}  {row['name']:<32} {row['type']:<12} v{row['version']}{extra}")

    _with_app(work)


@actions.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only report what would change.")
@click.option("--guru", default=None)
def actions_import(files: tuple[Path, ...], dry_run: bool, guru: str | None) -> None:
    """Import actions from export JSON files (Gurubase format accepted as-is)."""
    from guru_mcp.transfer import import_actions

    async def work(app: App) -> None:
        for path in files:
            report = await import_actions(app.catalog, guru or app.settings.default_guru, path.read_bytes(), dry_run=dry_run)
            click.echo(f"{path}:{' (dry run)' if dry_run else ''}")
            for note in report["notes"]:
                click.echo(f"  note: {note}")
            for row in report["actions"]:
                line = f"  {row['change']:<9} {row['name']}"
                if row.get("missing_secrets"):
                    line += f"  (disabled until these secrets are set: {', '.join(row['missing_secrets'])})"
                click.echo(line)
                for warning in row.get("warnings", []):
                    click.echo(f"            warning: {warning}")

    _with_app(work)


@actions.command("export")
@click.argument("names", nargs=-1)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@click.option("--guru", default=None)
def actions_export(names: tuple[str, ...], output: Path | None, guru: str | None) -> None:
    """Export actions as JSON (secrets by name only)."""
    from guru_mcp.transfer import export_actions

    async def work(app: App) -> list[dict[str, Any]]:
        slug = guru or app.settings.default_guru
        masker = await app.masker(slug)
        return masker.data(await export_actions(app.catalog, slug, list(names) or None))

    data = _with_app(work)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output:
        output.write_text(text)
        click.echo(f"exported {len(data)} actions to {output}", err=True)
    else:
        click.echo(text, nl=False)


@main.group()
def secrets() -> None:
    """Set, list and delete secrets (values are never shown)."""


@secrets.command("set")
@click.argument("name")
@click.option("--guru", default=None)
def secrets_set(name: str, guru: str | None) -> None:
    """Set a secret; the value comes from stdin or a hidden prompt, never from the command line."""
    value = getpass.getpass(f"Value for {name}: ") if sys.stdin.isatty() else sys.stdin.read()

    async def work(app: App) -> dict[str, Any]:
        return await app.vault.set(guru or app.settings.default_guru, name, value)

    result = _with_app(work)
    click.echo(f"{'created' if result['created'] else 'replaced'} secret {name}")
    if result.get("note"):
        click.echo(result["note"])


@secrets.command("list")
@click.option("--guru", default=None)
def secrets_list(guru: str | None) -> None:
    """List secret names and the actions using them."""

    async def work(app: App) -> list[dict[str, Any]]:
        return await app.vault.list(guru or app.settings.default_guru)

    for row in _with_app(work):
        used = ", ".join(row["used_by"]) or "-"
        click.echo(f"{row['name']:<32} updated {row['updated_at'][:19]}  used by: {used}")


@secrets.command("delete")
@click.argument("name")
@click.option("--guru", default=None)
def secrets_delete(name: str, guru: str | None) -> None:
    """Delete a secret; the actions using it are disabled."""

    async def work(app: App) -> list[str]:
        return await app.vault.delete(guru or app.settings.default_guru, name)

    disabled = _with_app(work)
    click.echo(f"deleted secret {name}" + (f"; disabled: {', '.join(disabled)}" if disabled else ""))


@main.group()
def runs() -> None:
    """The run history."""


@runs.command("list")
@click.option("--action", default=None)
@click.option("--status", default=None)
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--guru", default=None)
def runs_list(action: str | None, status: str | None, limit: int, as_json: bool, guru: str | None) -> None:
    """List recent runs, newest first."""

    async def work(app: App) -> list[Any]:
        return await app.store.list_runs(guru or app.settings.default_guru, action=action, status=status, limit=limit)

    rows = _with_app(work)
    if as_json:
        _echo_json([r.model_dump(mode="json") for r in rows])
        return
    for r in rows:
        took = f"{r.duration_ms:.0f} ms" if r.duration_ms is not None else "-"
        click.echo(
            f"{r.started_at:%Y-%m-%d %H:%M:%S}  {r.status.value:<9} {r.trigger.value:<9} {r.action_name:<28} "
            f"{took:>9}  {r.error[:60]}"
        )


@main.group()
def sandbox() -> None:
    """The Python sandbox image."""


@sandbox.command("build")
@click.option("--force", is_flag=True, help="Rebuild even if an image with the same inputs exists.")
@click.option("--offline/--online", default=None, help="Force the registry-free build (default: auto).")
def sandbox_build(force: bool, offline: bool | None) -> None:
    """Build the sandbox image (offline from Debian packages and PyPI wheels when no registry answers)."""
    from guru_mcp import sandbox_image

    try:
        ref = sandbox_image.build_image(force=force, offline=offline, progress=lambda m: click.echo(m, err=True))
    except sandbox_image.SandboxImageError as exc:
        _fail(f"sandbox image build failed: {exc}")
        return
    click.echo(ref)


@main.group()
def schedules() -> None:
    """Scheduled actions."""


@schedules.command("list")
@click.option("--guru", default=None)
def schedules_list(guru: str | None) -> None:
    """List schedules with their next fire times and last run status."""
    from guru_mcp.tools.admin_schedules import list_schedules

    async def work(app: App) -> Any:
        return await list_schedules(app, guru or app.settings.default_guru)

    rows = _with_app(work)
    if not rows:
        click.echo("no schedules")
    for row in rows:
        click.echo(json.dumps(row, default=str))


if __name__ == "__main__":
    main()
