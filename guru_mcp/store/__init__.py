"""Storage: the async `Store` facade, engine creation and migrations."""

from guru_mcp.store.db import create_db_engine, migrate
from guru_mcp.store.store import Store, hash_token

__all__ = ["Store", "create_db_engine", "hash_token", "migrate"]
