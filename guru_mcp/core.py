"""The storage core of the application: the database, the key ring, the catalog and the vault.

`open_core(settings)` opens what every command that reads or writes definitions needs, and nothing
that runs actions: no outbound HTTP client, no executors, no background tasks. `guru_mcp/app.py`
builds the whole application on top of it; the CLI's bulk import uses it alone, so a short-lived
process does not import or build what it never calls (docs/architecture.md, "Parts").
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import anyio

from guru_mcp.catalog import Catalog
from guru_mcp.errors import ConfigError, StorageError
from guru_mcp.secrets import Keyring, Masker, decode_key, read_key_file, write_key_file
from guru_mcp.settings import Settings
from guru_mcp.store import Store, create_db_engine, migrate
from guru_mcp.store.faults import storage_error
from guru_mcp.vault import Vault

log = logging.getLogger(__name__)


@dataclass
class Core:
    settings: Settings
    store: Store
    keyring: Keyring
    catalog: Catalog
    vault: Vault

    async def masker(self, guru: str) -> Masker:
        """A masker for every secret of a guru (for exports and listings)."""
        names = await self.store.secrets.secret_names(guru)
        return Masker((await self.vault.resolve(guru, names)).values())


def load_keyring(settings: Settings, *, create: bool = False) -> Keyring:
    if settings.secret_key is not None:
        primary = decode_key(settings.secret_key.get_secret_value())
    else:
        if create:
            write_key_file(settings.key_file)
        primary = read_key_file(settings.key_file)
    return Keyring(primary, [decode_key(k.get_secret_value()) for k in settings.old_secret_keys])


async def open_store(settings: Settings) -> Store:
    engine = create_db_engine(settings.db_url)
    try:
        await anyio.to_thread.run_sync(migrate, engine)
    except Exception as exc:
        where = settings.db_url.split("@")[-1]
        fault = storage_error(exc)
        if fault is not None:
            raise StorageError(f"cannot open the database {where}: {fault}") from exc
        raise ConfigError(f"cannot open the database {where}: {exc}") from exc
    store = Store(engine)
    await store.gurus.ensure_guru(settings.default_guru)
    return store


async def settle_stale_runs(settings: Settings, store: Store) -> int:
    """Mark runs left unfinished by a process that stopped (older than any run may last) as
    cancelled; 0 when the database cannot be written (a read-only database still serves reads)."""
    longest = max(settings.sandbox_max_timeout, settings.http_max_timeout, settings.agent_max_timeout)
    try:
        stale = await store.runs.mark_stale_runs(timedelta(seconds=longest + settings.run_queue_timeout + 60))
    except StorageError as exc:
        log.info("could not settle runs cut off by an earlier stop: %s", exc)
        return 0
    if stale:
        log.warning("marked %d runs cut off by an earlier stop as cancelled", stale)
    return stale


@asynccontextmanager
async def open_core(settings: Settings) -> AsyncIterator[Core]:
    """Open the database (running migrations), the key ring (creating the key file on first use),
    settle runs an earlier stop cut off, and build the catalog and the vault."""
    store = await open_store(settings)
    try:
        keyring = load_keyring(settings, create=True)
        await settle_stale_runs(settings, store)
        catalog = Catalog(settings, store, store.providers)
        yield Core(settings, store, keyring, catalog, Vault(store, keyring, catalog))
    finally:
        store.runs.close()  # the inline run writes' connection (SQLite)
