"""What every entity store shares: the engine, sessions, the worker-thread offload, guru ids.

The database API is synchronous (SQLAlchemy); each store method does its work in a function run
in a worker thread by `Database.run`, with storage faults raised as `StorageError`s. `Database` is
built once per engine (by `Store`) and handed to every entity store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar, overload

import anyio
from sqlalchemy import Engine
from sqlmodel import Session, select

from guru_mcp.errors import NotFound
from guru_mcp.store.faults import guarded
from guru_mcp.store.tables import GuruRow

T = TypeVar("T")


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: datetime | None) -> datetime | None: ...
def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Database:
    """One engine's sessions, worker threads (at most `threads` at once) and guru-id cache."""

    def __init__(self, engine: Engine, *, threads: int = 8) -> None:
        self.engine = engine
        self._limiter = anyio.CapacityLimiter(threads)
        self._guru_ids: dict[str, int] = {}

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def run(self, fn: Callable[..., T], *args: Any, limiter: anyio.CapacityLimiter | None = None) -> T:
        """`fn(*args)` in a worker thread (storage faults as `StorageError`). A store that must not
        queue behind the others (the heartbeat) passes its own `limiter`."""
        return await anyio.to_thread.run_sync(partial(guarded(fn), *args), limiter=limiter or self._limiter)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def guru_id(self, session: Session, slug: str, *, create: bool = False) -> int:
        """The id of guru `slug` (cached: ids never change), creating the guru if `create`."""
        if slug in self._guru_ids:
            return self._guru_ids[slug]
        row = session.exec(select(GuruRow).where(GuruRow.slug == slug)).first()
        if row is None:
            if not create:
                raise NotFound(f"no guru {slug!r} (create it: guru-mcp gurus create {slug})")
            row = GuruRow(slug=slug)
            session.add(row)
            session.flush()
        assert row.id is not None
        self._guru_ids[slug] = row.id
        return row.id

    def known_guru_id(self, slug: str) -> int:
        """`guru_id` without a session at hand: the cache, else one read."""
        gid = self._guru_ids.get(slug)
        if gid is None:
            with self.session() as s:
                gid = self.guru_id(s, slug)
        return gid

    def cached_guru_id(self, slug: str) -> int | None:
        """The id of guru `slug` if it is known already (no database read)."""
        return self._guru_ids.get(slug)

    def forget_guru(self, slug: str) -> None:
        """Drop a deleted guru's cached id."""
        self._guru_ids.pop(slug, None)
