"""Admin tools for access: static tokens (list, revoke) and, for server-wide admins, gurus.

Shared with the CLI (`guru-mcp tokens list|revoke`, `guru-mcp gurus create|list|delete`): the
functions below take the app and plain values, the tools wrap them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from guru_mcp.app import App
from guru_mcp.errors import ValidationFailed
from guru_mcp.models import Caller
from guru_mcp.tools.registry import AdminTool, NoArgs


class TokenIdArgs(BaseModel):
    id: int = Field(description="The token's id, as in admin_tokens_list.")


class TokensListArgs(BaseModel):
    include_revoked: bool = Field(default=False, description="Also list revoked tokens.")


class GuruArgs(BaseModel):
    slug: str = Field(description="The guru's slug: lowercase letters, digits and '-', e.g. 'support-emea'.")


class GuruDeleteArgs(BaseModel):
    slug: str = Field(description="The guru to delete.")
    confirm: str = Field(
        description="The slug again: deleting a guru deletes all its actions, secrets, runs and tokens."
    )


async def create_guru(app: App, slug: str) -> dict[str, Any]:
    await app.store.gurus.create_guru(slug)
    app.auth.guru_changed(slug)
    return {"created": slug, "endpoint": f"/g/{slug}/mcp"}


async def delete_guru(app: App, slug: str) -> dict[str, Any]:
    if slug == app.settings.default_guru:
        raise ValidationFailed(
            f"guru {slug!r} is the default guru (GURU_MCP_DEFAULT_GURU) and cannot be deleted"
        )
    counts = await app.store.gurus.delete_guru(slug)
    app.catalog.forget(slug)
    app.auth.guru_changed(slug)
    return {"deleted": slug, **counts}


async def revoke_token(app: App, token_id: int, guru: str | None) -> dict[str, Any]:
    info = await app.auth.revoke(token_id, guru)
    return {"revoked": info.id, "label": info.label, "guru": info.guru}


async def _tokens_list(app: App, caller: Caller, args: TokensListArgs) -> Any:
    tokens = await app.store.tokens.list_tokens(caller.guru, include_revoked=args.include_revoked)
    return {"tokens": [t.as_dict() for t in tokens]}


async def _token_revoke(app: App, caller: Caller, args: TokenIdArgs) -> Any:
    return await revoke_token(app, args.id, None if caller.server_admin else caller.guru)


async def _gurus_list(app: App, caller: Caller, args: NoArgs) -> Any:
    return {"gurus": [g.as_dict() for g in await app.store.gurus.summaries()]}


async def _guru_create(app: App, caller: Caller, args: GuruArgs) -> Any:
    return await create_guru(app, args.slug)


async def _guru_delete(app: App, caller: Caller, args: GuruDeleteArgs) -> Any:
    if args.confirm != args.slug:
        raise ValidationFailed("confirm must repeat the slug of the guru to delete")
    return await delete_guru(app, args.slug)


ACCESS_TOOLS: list[AdminTool] = [
    AdminTool(
        "admin_tokens_list",
        "List this guru's static bearer tokens: id, label, identity, admin, created, "
        "last used, expiry. Tokens themselves are never shown (only their hashes are stored).",
        TokensListArgs,
        _tokens_list,
        read_only=True,
    ),
    AdminTool(
        "admin_token_revoke",
        "Revoke a static token by id. It stops working at once on this server and "
        "within seconds on other replicas.",
        TokenIdArgs,
        _token_revoke,
        destructive=True,
    ),
    AdminTool(
        "admin_gurus_list",
        "List every guru (tenant) with its numbers of actions, secrets and tokens.",
        NoArgs,
        _gurus_list,
        read_only=True,
        server_only=True,
    ),
    AdminTool(
        "admin_guru_create",
        "Create a guru (tenant): its own actions, secrets, schedules, runs and tokens, "
        "served at /g/{slug}/mcp.",
        GuruArgs,
        _guru_create,
        server_only=True,
    ),
    AdminTool(
        "admin_guru_delete",
        "Delete a guru and everything it holds, for good.",
        GuruDeleteArgs,
        _guru_delete,
        destructive=True,
        server_only=True,
    ),
]
