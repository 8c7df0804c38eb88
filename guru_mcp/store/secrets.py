"""Secrets as stored: ciphertext, key id and host list per guru and name (encryption is the vault's)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from guru_mcp.errors import NotFound
from guru_mcp.store.base import Database, aware
from guru_mcp.store.tables import SecretRow, utcnow


@dataclass(frozen=True)
class SecretInfo:
    """A secret as listed: names and metadata, never the value."""

    name: str
    key_id: str
    hosts: list[str]
    """The hosts it may be sent to; empty: any host."""
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "key_id": self.key_id,
            "hosts": list(self.hosts),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class SealedSecret:
    """A secret's ciphertext, the key it was sealed with, and the hosts it may be sent to."""

    ciphertext: str
    key_id: str
    hosts: list[str]


def _hosts(text: str | None) -> list[str]:
    hosts: list[str] = json.loads(text or "[]")
    return hosts


class SecretStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put_secret(
        self, guru: str, name: str, ciphertext: str, key_id: str, hosts: list[str] | None = None
    ) -> bool:
        """Store a secret's ciphertext; returns True if it was created, False if replaced. `hosts`
        None keeps a replaced secret's host list."""

        def work() -> bool:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                row = s.exec(
                    select(SecretRow).where(SecretRow.guru_id == gid, SecretRow.name == name)
                ).first()
                created = row is None
                if row is None:
                    row = SecretRow(guru_id=gid, name=name, ciphertext=ciphertext, key_id=key_id)
                else:
                    row.ciphertext, row.key_id, row.updated_at = ciphertext, key_id, utcnow()
                if hosts is not None:
                    row.hosts = json.dumps(hosts)
                s.add(row)
                s.commit()
                return created

        return await self.db.run(work)

    async def list_secrets(self, guru: str) -> list[SecretInfo]:
        """Names and metadata only, by name."""

        def work() -> list[SecretInfo]:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                rows = s.exec(
                    select(SecretRow).where(SecretRow.guru_id == gid).order_by(SecretRow.name)
                ).all()
                return [
                    SecretInfo(
                        name=r.name,
                        key_id=r.key_id,
                        hosts=_hosts(r.hosts),
                        created_at=aware(r.created_at),
                        updated_at=aware(r.updated_at),
                    )
                    for r in rows
                ]

        return await self.db.run(work)

    async def secret_names(self, guru: str) -> set[str]:
        """The names of the guru's secrets."""
        return {info.name for info in await self.list_secrets(guru)}

    async def sealed(self, guru: str, names: list[str] | None = None) -> dict[str, SealedSecret]:
        """name -> its sealed secret, for those of `names` (default: all) that exist."""

        def work() -> dict[str, SealedSecret]:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                query = select(SecretRow).where(SecretRow.guru_id == gid)
                if names is not None:
                    query = query.where(col(SecretRow.name).in_(names))
                return {
                    r.name: SealedSecret(r.ciphertext, r.key_id, _hosts(r.hosts)) for r in s.exec(query).all()
                }

        return await self.db.run(work)

    async def delete_secret(self, guru: str, name: str) -> None:
        def work() -> None:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                row = s.exec(
                    select(SecretRow).where(SecretRow.guru_id == gid, SecretRow.name == name)
                ).first()
                if row is None:
                    raise NotFound(f"no secret named {name!r}")
                s.delete(row)
                s.commit()

        await self.db.run(work)
