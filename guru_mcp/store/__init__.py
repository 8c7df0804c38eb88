"""Storage: the `Store` of entity stores, engine creation and migrations."""

from guru_mcp.store.db import create_db_engine, migrate
from guru_mcp.store.store import Store
from guru_mcp.store.tokens import hash_token

__all__ = ["Store", "create_db_engine", "hash_token", "migrate"]
