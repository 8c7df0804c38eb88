"""Gurus (tenants) and static bearer tokens: creating, listing, revoking, deleting.

Tokens are stored as the SHA-256 of the token, never the token: a token is 32 random bytes, so a
fast hash is as strong as a slow one here, and a look-up costs one indexed query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from guru_mcp.errors import Conflict, NotFound, ValidationFailed
from guru_mcp.store.store import Store, aware, hash_token
from guru_mcp.store.tables import (
    ActionRow,
    ActionVersionRow,
    GuruRow,
    RunRow,
    SecretRow,
    TokenRow,
    schedule_state,
    utcnow,
)

GURU_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


@dataclass(frozen=True)
class TokenInfo:
    """A static token as listed: everything but the token."""

    id: int
    label: str
    guru: str
    is_admin: bool
    server_admin: bool
    email: str
    name: str
    groups: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "label": self.label,
            "guru": self.guru,
            "admin": "server" if self.server_admin else self.is_admin,
            "email": self.email,
            "name": self.name,
            "groups": list(self.groups),
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked": self.revoked_at is not None,
        }


def check_slug(slug: str) -> str:
    if not GURU_SLUG_RE.match(slug):
        raise ValidationFailed(
            f"guru slug {slug!r} is not valid: use lowercase letters, digits and '-', at most 64 characters"
        )
    return slug


def _info(row: TokenRow, slug: str) -> TokenInfo:
    assert row.id is not None
    return TokenInfo(
        id=row.id,
        label=row.label,
        guru=slug,
        is_admin=row.is_admin or row.server_admin,
        server_admin=row.server_admin,
        email=row.user_email,
        name=row.user_name,
        groups=tuple(g for g in row.user_groups.split(",") if g),
        created_at=aware(row.created_at),  # type: ignore[arg-type]
        last_used_at=aware(row.last_used_at),
        expires_at=aware(row.expires_at),
        revoked_at=aware(row.revoked_at or row.created_at) if row.revoked else None,
    )


class AccessStore:
    """Gurus and tokens, over the same engine and worker threads as `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- gurus -------------------------------------------------------------------------------------

    async def create_guru(self, slug: str) -> None:
        check_slug(slug)

        def work() -> None:
            with self._session() as s:
                if s.exec(select(GuruRow.id).where(GuruRow.slug == slug)).first() is not None:
                    raise Conflict(f"a guru named {slug!r} exists already")
                s.add(GuruRow(slug=slug))
                s.commit()

        await self.store._run(work)

    async def guru_exists(self, slug: str) -> bool:
        def work() -> bool:
            with self._session() as s:
                return s.exec(select(GuruRow.id).where(GuruRow.slug == slug)).first() is not None

        return await self.store._run(work)

    async def list_gurus(self) -> list[dict[str, object]]:
        """Every guru with how many actions, secrets and tokens it holds."""

        def count(s: Session, table: type, gid: int) -> int:
            return s.exec(select(func.count()).select_from(table).where(table.guru_id == gid)).one()  # type: ignore[attr-defined]

        def work() -> list[dict[str, object]]:
            with self._session() as s:
                out = []
                for row in s.exec(select(GuruRow).order_by(GuruRow.slug)).all():
                    assert row.id is not None
                    out.append(
                        {
                            "slug": row.slug,
                            "actions": count(s, ActionRow, row.id),
                            "secrets": count(s, SecretRow, row.id),
                            "tokens": count(s, TokenRow, row.id),
                            "created_at": aware(row.created_at).isoformat(),  # type: ignore[union-attr]
                        }
                    )
                return out

        return await self.store._run(work)

    async def delete_guru(self, slug: str) -> dict[str, int]:
        """Delete a guru and everything it holds (actions and their schedules, secrets, runs, tokens)."""

        def work() -> dict[str, int]:
            with self._session() as s:
                row = s.exec(select(GuruRow).where(GuruRow.slug == slug)).first()
                if row is None:
                    raise NotFound(f"no guru {slug!r}")
                gid = row.id
                action_ids = select(ActionRow.id).where(ActionRow.guru_id == gid)
                s.execute(delete(schedule_state).where(schedule_state.c.action_id.in_(action_ids)))
                counts = {}
                tables = (
                    ("runs", RunRow),
                    ("tokens", TokenRow),
                    ("secrets", SecretRow),
                    ("actions", ActionRow),
                    ("action_versions", ActionVersionRow),
                )
                for name, table in tables:
                    result = s.execute(delete(table).where(col(table.guru_id) == gid))  # type: ignore[attr-defined]
                    counts[name] = result.rowcount or 0  # type: ignore[attr-defined]
                s.delete(row)
                s.commit()
                self.store._guru_ids.pop(slug, None)
                return counts

        return await self.store._run(work)

    # -- tokens ------------------------------------------------------------------------------------

    async def create_token(
        self,
        token: str,
        *,
        guru: str,
        label: str,
        is_admin: bool,
        server_admin: bool = False,
        email: str = "",
        name: str = "",
        groups: str = "",
        expires_at: datetime | None = None,
    ) -> int:
        def work() -> int:
            with self._session() as s:
                gid = s.exec(select(GuruRow.id).where(GuruRow.slug == guru)).first()
                if gid is None:
                    raise NotFound(f"no guru {guru!r} (create it first: guru-mcp gurus create {guru})")
                row = TokenRow(
                    token_hash=hash_token(token),
                    label=label,
                    guru_id=gid,
                    is_admin=is_admin or server_admin,
                    server_admin=server_admin,
                    user_email=email,
                    user_name=name,
                    user_groups=",".join(g.strip() for g in groups.split(",") if g.strip()),
                    expires_at=expires_at,
                )
                s.add(row)
                s.commit()
                assert row.id is not None
                return row.id

        return await self.store._run(work)

    async def find_token(self, token: str) -> TokenInfo | None:
        """The token's details, or None if it is unknown or revoked (expiry is the caller's check)."""

        def work() -> TokenInfo | None:
            with self._session() as s:
                found = s.exec(
                    select(TokenRow, GuruRow.slug)
                    .join(GuruRow, col(GuruRow.id) == TokenRow.guru_id)
                    .where(TokenRow.token_hash == hash_token(token))
                ).first()
                if found is None or found[0].revoked:
                    return None
                return _info(found[0], found[1])

        return await self.store._run(work)

    async def list_tokens(self, guru: str | None = None, *, include_revoked: bool = False) -> list[TokenInfo]:
        def work() -> list[TokenInfo]:
            with self._session() as s:
                query = select(TokenRow, GuruRow.slug).join(GuruRow, col(GuruRow.id) == TokenRow.guru_id)
                if guru is not None:
                    query = query.where(GuruRow.slug == guru)
                if not include_revoked:
                    query = query.where(col(TokenRow.revoked).is_(False))
                return [_info(r, slug) for r, slug in s.exec(query.order_by(TokenRow.id)).all()]

        return await self.store._run(work)

    async def revoke_token(self, token_id: int, guru: str | None = None) -> TokenInfo:
        """Revoke a token by id; `guru` limits it to that guru's tokens (NotFound otherwise)."""

        def work() -> TokenInfo:
            with self._session() as s:
                found = s.exec(
                    select(TokenRow, GuruRow.slug)
                    .join(GuruRow, col(GuruRow.id) == TokenRow.guru_id)
                    .where(TokenRow.id == token_id)
                ).first()
                if found is None or (guru is not None and found[1] != guru):
                    raise NotFound(f"no token with id {token_id}")
                row, slug = found
                if not row.revoked:
                    row.revoked, row.revoked_at = True, utcnow()
                    s.add(row)
                    s.commit()
                return _info(row, slug)

        return await self.store._run(work)

    async def touch_tokens(self, used: dict[int, datetime]) -> None:
        """Record when tokens were last used (batched by the caller; one statement per token)."""

        def work() -> None:
            with self.engine.begin() as conn:
                for token_id, when in used.items():
                    conn.execute(
                        update(TokenRow).where(col(TokenRow.id) == token_id).values(last_used_at=when)
                    )

        await self.store._run(work)
