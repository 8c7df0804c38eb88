"""`guru-mcp tokens ...` and `guru-mcp gurus ...`: static bearer tokens and gurus (tenants).

They work on the database directly (no server needed); a running server sees a revocation within
`GURU_MCP_TOKEN_CACHE_TTL` seconds and a deleted guru within about as long.
"""

from __future__ import annotations

import secrets as pyrandom
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from guru_mcp.cli_support import REFUSED, echo_json, fail, run
from guru_mcp.cli_support import settings as load_settings

if TYPE_CHECKING:
    from guru_mcp.settings import Settings
    from guru_mcp.store import Store
    from guru_mcp.store.gurus import GuruSummary


def new_token() -> str:
    return "gmcp_" + pyrandom.token_urlsafe(32)


async def _store(chosen: Settings | None = None) -> Store:
    from guru_mcp.core import open_store

    return await open_store(chosen or load_settings())


@click.group()
def tokens() -> None:
    """Static HTTP bearer tokens (stored hashed; shown once, at creation)."""


def _expiry(value: str | None) -> datetime | None:
    """`30d`, `12h`, `90m` from now, or an ISO date/time (UTC unless it says otherwise)."""
    if not value:
        return None
    units = {"d": 86400, "h": 3600, "m": 60}
    if value[-1:] in units and value[:-1].isdigit():
        return datetime.now(UTC) + timedelta(seconds=int(value[:-1]) * units[value[-1]])
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: use 30d, 12h, 90m or an ISO date such as 2026-12-31") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@tokens.command("create")
@click.option("--admin", is_flag=True, help="The token may use the admin tools of its guru.")
@click.option("--server-admin", is_flag=True, help="Admin of every guru (may also create and delete gurus).")
@click.option("--label", default="", help="What the token is for.")
@click.option("--email", default="", help="Caller email (GURUBASE_USER_EMAIL).")
@click.option("--name", default="", help="Caller name (GURUBASE_USER_NAME).")
@click.option("--groups", default="", help="Comma-separated groups (GURUBASE_USER_GROUPS).")
@click.option("--guru", default=None, help="The guru (tenant) the token serves.")
@click.option(
    "--expires", default=None, help="Expiry: 30d, 12h, 90m from now, or an ISO date (default: never)."
)
def tokens_create(
    admin: bool,
    server_admin: bool,
    label: str,
    email: str,
    name: str,
    groups: str,
    guru: str | None,
    expires: str | None,
) -> None:
    """Create a token and print it once."""
    settings = load_settings()
    expires_at = _expiry(expires)

    async def work() -> str:
        token = new_token()
        await (await _store(settings)).tokens.create_token(
            token,
            guru=guru or settings.default_guru,
            label=label,
            is_admin=admin,
            server_admin=server_admin,
            email=email,
            name=name,
            groups=groups,
            expires_at=expires_at,
        )
        return token

    token = run(work)
    slug = guru or settings.default_guru
    click.echo(
        token_summary(
            slug,
            admin=admin,
            server_admin=server_admin,
            email=email,
            name=name,
            groups=groups,
            label=label,
            expires_at=expires_at,
        ),
        err=True,
    )
    click.echo(token)


def token_summary(
    guru: str,
    *,
    admin: bool,
    server_admin: bool = False,
    email: str,
    name: str,
    groups: str,
    label: str,
    expires_at: datetime | None = None,
) -> str:
    """One line saying for whom a token was made and what it may do."""
    from guru_mcp import render

    who = " ".join(part for part in (name, f"<{email}>" if email else "") if part) or "no user identity"
    from guru_mcp.store.tokens import parse_groups

    group_list = ", ".join(parse_groups(groups)) or "Everyone"
    if server_admin:
        rights = "server-wide admin: every guru's action and admin_* tools, and the guru tools"
    elif admin:
        rights = "admin: the action tools and the admin_* tools"
    else:
        rights = "the action tools only (no admin tools)"
    labelled = f", label {label!r}" if label else ""
    expiry = f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    return render.clean(
        f"Token for {who} (groups: {group_list}) on guru {guru!r}{labelled}{expiry}; may use {rights}. "
        "Shown once: send it as `Authorization: Bearer <token>`."
    )


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


@tokens.command("list")
@click.option("--guru", default=None, help="Only this guru's tokens (default: every guru).")
@click.option("--all", "include_revoked", is_flag=True, help="Also list revoked tokens.")
@click.option("--json", "as_json", is_flag=True)
def tokens_list(guru: str | None, include_revoked: bool, as_json: bool) -> None:
    """List tokens: id, label, identity, guru, admin, created, last used, expiry (never the token)."""

    async def work() -> list[Any]:
        return await (await _store()).tokens.list_tokens(guru, include_revoked=include_revoked)

    rows = run(work)
    if as_json:
        echo_json([r.as_dict() for r in rows])
        return
    if not rows:
        click.echo("no tokens (make one: guru-mcp tokens create --email you@example.com)")
        return
    click.echo(
        f"{'ID':>4}  {'LABEL':<16} {'IDENTITY':<28} {'GURU':<14} {'ADMIN':<6} {'CREATED':<16}  "
        f"{'LAST USED':<16}  {'EXPIRES':<16}"
    )
    now = datetime.now(UTC)
    for r in rows:
        admin = "server" if r.server_admin else "yes" if r.is_admin else "no"
        identity = r.email or r.name or "-"
        if r.groups:
            identity += f" [{','.join(r.groups)}]"
        expiry = "revoked" if r.revoked_at else ("expired" if r.expired(now) else _when(r.expires_at))
        click.echo(
            f"{r.id:>4}  {r.label[:16] or '-':<16} {identity[:28]:<28} {r.guru[:14]:<14} {admin:<6} "
            f"{_when(r.created_at):<16}  {_when(r.last_used_at):<16}  {expiry:<16}"
        )


@tokens.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke a token by id (see `tokens list`): refused at once here, within seconds by running servers."""

    async def work() -> Any:
        return await (await _store()).tokens.revoke_token(token_id)

    info = run(work)
    click.echo(f"revoked token {info.id} ({info.label or info.email or 'no label'}, guru {info.guru})")


@click.group()
def gurus() -> None:
    """Gurus (tenants): each with its own actions, secrets, schedules, runs and tokens."""


@gurus.command("create")
@click.argument("slug")
def gurus_create(slug: str) -> None:
    """Create a guru; it is served at /g/SLUG/mcp."""

    async def work() -> None:
        await (await _store()).gurus.create_guru(slug)

    run(work)
    click.echo(
        f"created guru {slug}: endpoint /g/{slug}/mcp; make a token: guru-mcp tokens create --guru {slug}"
    )


@gurus.command("list")
@click.option("--json", "as_json", is_flag=True)
def gurus_list(as_json: bool) -> None:
    """List gurus with their numbers of actions, secrets and tokens."""

    async def work() -> list[GuruSummary]:
        return await (await _store()).gurus.summaries()

    rows = run(work)
    if as_json:
        echo_json([r.as_dict() for r in rows])
        return
    for r in rows:
        click.echo(f"{r.slug:<32} actions {r.actions:<5} secrets {r.secrets:<5} tokens {r.tokens}")


@gurus.command("delete")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def gurus_delete(slug: str, yes: bool) -> None:
    """Delete a guru and everything it holds (actions, schedules, secrets, runs, tokens)."""
    settings = load_settings()
    if slug == settings.default_guru:
        fail(f"guru {slug!r} is the default guru (GURU_MCP_DEFAULT_GURU); it cannot be deleted", REFUSED)
    if not yes and not click.confirm(f"Delete guru {slug!r} and all its actions, secrets, runs and tokens?"):
        fail("not deleted (confirm, or pass --yes)", REFUSED)

    async def work() -> dict[str, int]:
        return await (await _store(settings)).gurus.delete_guru(slug)

    counts = run(work)
    click.echo(f"deleted guru {slug}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
