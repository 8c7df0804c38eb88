"""Gurus (tenants): creating, listing, deleting, and the catalog version of each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from guru_mcp.errors import Conflict, NotFound, ValidationFailed
from guru_mcp.store.base import Database, aware
from guru_mcp.store.tables import (
    ActionRow,
    ActionVersionRow,
    GuruRow,
    ModelProviderRow,
    RunRow,
    SecretRow,
    TokenRow,
    schedule_state,
)

GURU_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def check_slug(slug: str) -> str:
    if not GURU_SLUG_RE.match(slug):
        raise ValidationFailed(
            f"guru slug {slug!r} is not valid: use lowercase letters, digits and '-', at most 64 characters"
        )
    return slug


@dataclass(frozen=True)
class GuruSummary:
    """A guru as listed: how many actions, secrets and tokens it holds."""

    slug: str
    actions: int
    secrets: int
    tokens: int
    created_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {
            "slug": self.slug,
            "actions": self.actions,
            "secrets": self.secrets,
            "tokens": self.tokens,
            "created_at": self.created_at.isoformat(),
        }


def bump_catalog(session: Session, guru_id: int) -> None:
    """Mark the guru's actions changed (in the caller's transaction): catalogs reload on it."""
    session.execute(
        update(GuruRow).where(col(GuruRow.id) == guru_id).values(catalog_version=GuruRow.catalog_version + 1)
    )


class GuruStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ensure_guru(self, slug: str) -> int:
        """The guru's id, creating it if it does not exist."""

        def work() -> int:
            with self.db.session() as s:
                gid = self.db.guru_id(s, slug, create=True)
                s.commit()
                return gid

        return await self.db.run(work)

    async def create_guru(self, slug: str) -> None:
        check_slug(slug)

        def work() -> None:
            with self.db.session() as s:
                if s.exec(select(GuruRow.id).where(GuruRow.slug == slug)).first() is not None:
                    raise Conflict(f"a guru named {slug!r} exists already")
                s.add(GuruRow(slug=slug))
                s.commit()

        await self.db.run(work)

    async def guru_exists(self, slug: str) -> bool:
        def work() -> bool:
            with self.db.session() as s:
                return s.exec(select(GuruRow.id).where(GuruRow.slug == slug)).first() is not None

        return await self.db.run(work)

    async def slugs(self) -> list[str]:
        """Every guru's slug, sorted."""

        def work() -> list[str]:
            with self.db.session() as s:
                return list(s.exec(select(GuruRow.slug).order_by(GuruRow.slug)).all())

        return await self.db.run(work)

    async def summaries(self) -> list[GuruSummary]:
        """Every guru with how many actions, secrets and tokens it holds."""

        def count(s: Session, table: type[ActionRow | SecretRow | TokenRow], gid: int) -> int:
            return s.exec(select(func.count()).select_from(table).where(col(table.guru_id) == gid)).one()

        def work() -> list[GuruSummary]:
            with self.db.session() as s:
                out = []
                for row in s.exec(select(GuruRow).order_by(GuruRow.slug)).all():
                    assert row.id is not None
                    out.append(
                        GuruSummary(
                            slug=row.slug,
                            actions=count(s, ActionRow, row.id),
                            secrets=count(s, SecretRow, row.id),
                            tokens=count(s, TokenRow, row.id),
                            created_at=aware(row.created_at),
                        )
                    )
                return out

        return await self.db.run(work)

    async def catalog_version(self, guru: str) -> int:
        def work() -> int:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                return s.exec(select(GuruRow.catalog_version).where(GuruRow.id == gid)).one()

        return await self.db.run(work)

    async def delete_guru(self, slug: str) -> dict[str, int]:
        """Delete a guru and everything it holds (actions and their schedules, secrets, model providers,
        runs, tokens).
        Returns how many rows of each kind went."""

        def work() -> dict[str, int]:
            with self.db.session() as s:
                row = s.exec(select(GuruRow).where(GuruRow.slug == slug)).first()
                if row is None:
                    raise NotFound(f"no guru {slug!r}")
                gid = row.id
                action_ids = select(ActionRow.id).where(ActionRow.guru_id == gid)
                s.execute(delete(schedule_state).where(schedule_state.c.action_id.in_(action_ids)))
                counts = {}
                tables: tuple[
                    tuple[
                        str,
                        type[RunRow | TokenRow | SecretRow | ModelProviderRow | ActionRow | ActionVersionRow],
                    ],
                    ...,
                ]
                tables = (
                    ("runs", RunRow),
                    ("tokens", TokenRow),
                    ("secrets", SecretRow),
                    ("model_providers", ModelProviderRow),
                    ("actions", ActionRow),
                    ("action_versions", ActionVersionRow),
                )
                for name, table in tables:
                    result = s.execute(delete(table).where(col(table.guru_id) == gid))
                    counts[name] = result.rowcount or 0  # type: ignore[attr-defined]
                s.delete(row)
                s.commit()
                self.db.forget_guru(slug)
                return counts

        return await self.db.run(work)
