"""Static bearer tokens: creating, finding, listing, revoking, and when each was last used.

Tokens are stored as the SHA-256 of the token, never the token: a token is 32 random bytes, so a
fast hash is as strong as a slow one here, and a look-up costs one indexed query. A token's groups
are stored as one comma-separated column; `parse_groups` is the one reader of that form.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from guru_mcp.errors import NotFound
from guru_mcp.store.base import Database, aware
from guru_mcp.store.tables import GuruRow, TokenRow, utcnow


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_groups(groups: str | Iterable[str]) -> tuple[str, ...]:
    """Groups from a comma-separated list (as stored, and as `--groups` takes them) or a sequence:
    stripped, blanks dropped, order kept."""
    parts = groups.split(",") if isinstance(groups, str) else groups
    return tuple(g.strip() for g in parts if g.strip())


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
        groups=parse_groups(row.user_groups),
        created_at=aware(row.created_at),
        last_used_at=aware(row.last_used_at),
        expires_at=aware(row.expires_at),
        revoked_at=aware(row.revoked_at or row.created_at) if row.revoked else None,
    )


class TokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        groups: str | Iterable[str] = "",
        expires_at: datetime | None = None,
    ) -> int:
        def work() -> int:
            with self.db.session() as s:
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
                    user_groups=",".join(parse_groups(groups)),
                    expires_at=expires_at,
                )
                s.add(row)
                s.commit()
                assert row.id is not None
                return row.id

        return await self.db.run(work)

    async def find_token(self, token: str) -> TokenInfo | None:
        """The token's details, or None if it is unknown or revoked (expiry is the caller's check)."""

        def work() -> TokenInfo | None:
            with self.db.session() as s:
                found = s.exec(
                    select(TokenRow, GuruRow.slug)
                    .join(GuruRow, col(GuruRow.id) == TokenRow.guru_id)
                    .where(TokenRow.token_hash == hash_token(token))
                ).first()
                if found is None or found[0].revoked:
                    return None
                return _info(found[0], found[1])

        return await self.db.run(work)

    async def list_tokens(self, guru: str | None = None, *, include_revoked: bool = False) -> list[TokenInfo]:
        def work() -> list[TokenInfo]:
            with self.db.session() as s:
                query = select(TokenRow, GuruRow.slug).join(GuruRow, col(GuruRow.id) == TokenRow.guru_id)
                if guru is not None:
                    query = query.where(GuruRow.slug == guru)
                if not include_revoked:
                    query = query.where(col(TokenRow.revoked).is_(False))
                return [_info(r, slug) for r, slug in s.exec(query.order_by(col(TokenRow.id))).all()]

        return await self.db.run(work)

    async def revoke_token(self, token_id: int, guru: str | None = None) -> TokenInfo:
        """Revoke a token by id; `guru` limits it to that guru's tokens (NotFound otherwise)."""

        def work() -> TokenInfo:
            with self.db.session() as s:
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

        return await self.db.run(work)

    async def touch_tokens(self, used: dict[int, datetime]) -> None:
        """Record when tokens were last used (batched by the caller; one statement per token)."""

        def work() -> None:
            with self.db.engine.begin() as conn:
                for token_id, when in used.items():
                    conn.execute(
                        update(TokenRow).where(col(TokenRow.id) == token_id).values(last_used_at=when)
                    )

        await self.db.run(work)
