"""Model providers per guru: which language model agents call, and the name of its API-key secret."""

from __future__ import annotations

from sqlmodel import select

from guru_mcp.errors import NotFound
from guru_mcp.models import ModelProvider, ProviderKind
from guru_mcp.store.base import Database
from guru_mcp.store.tables import ModelProviderRow, utcnow


def _to_provider(row: ModelProviderRow) -> ModelProvider:
    return ModelProvider(
        name=row.name,
        kind=ProviderKind(row.kind),
        base_url=row.base_url,
        model=row.model,
        api_key_secret=row.api_key_secret,
        max_tokens=row.max_tokens,
    )


class ProviderStore:
    """CRUD over `model_providers`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, guru: str, provider: ModelProvider) -> bool:
        """Create or replace a provider; True if it was created."""

        def work() -> bool:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru, create=True)
                row = s.exec(
                    select(ModelProviderRow).where(
                        ModelProviderRow.guru_id == gid, ModelProviderRow.name == provider.name
                    )
                ).first()
                created = row is None
                if row is None:
                    row = ModelProviderRow(guru_id=gid, name=provider.name, kind=provider.kind.value)
                row.kind = provider.kind.value
                row.base_url = provider.base_url
                row.model = provider.model
                row.api_key_secret = provider.api_key_secret
                row.max_tokens = provider.max_tokens
                row.updated_at = utcnow()
                s.add(row)
                s.commit()
                return created

        return await self.db.run(work)

    async def list_providers(self, guru: str) -> list[ModelProvider]:
        def work() -> list[ModelProvider]:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                rows = s.exec(
                    select(ModelProviderRow)
                    .where(ModelProviderRow.guru_id == gid)
                    .order_by(ModelProviderRow.name)
                ).all()
                return [_to_provider(r) for r in rows]

        return await self.db.run(work)

    async def get(self, guru: str, name: str) -> ModelProvider:
        for provider in await self.list_providers(guru):
            if provider.name == name:
                return provider
        raise NotFound(f"no model provider named {name!r}; an admin configures one with admin_provider_set")

    async def delete(self, guru: str, name: str) -> None:
        def work() -> None:
            with self.db.session() as s:
                gid = self.db.guru_id(s, guru)
                row = s.exec(
                    select(ModelProviderRow).where(
                        ModelProviderRow.guru_id == gid, ModelProviderRow.name == name
                    )
                ).first()
                if row is None:
                    raise NotFound(f"no model provider named {name!r}")
                s.delete(row)
                s.commit()

        await self.db.run(work)
