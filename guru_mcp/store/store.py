"""The database, as one object built once per process: an entity store for each kind of row.

Each entity store (gurus, actions, secrets, runs, tokens, model providers, schedules, processes)
shares one `Database` (engine, sessions, worker threads, guru ids) and hands out models, never
rows. Nothing here executes anything.
"""

from __future__ import annotations

from sqlalchemy import Engine

from guru_mcp.store.actions import ActionStore
from guru_mcp.store.base import Database
from guru_mcp.store.gurus import GuruStore
from guru_mcp.store.processes import ProcessStore
from guru_mcp.store.providers import ProviderStore
from guru_mcp.store.runs import RunStore
from guru_mcp.store.schedules import ScheduleStore
from guru_mcp.store.secrets import SecretStore
from guru_mcp.store.tokens import TokenStore


class Store:
    """Every entity store over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.db = Database(engine)
        self.gurus = GuruStore(self.db)
        self.actions = ActionStore(self.db)
        self.secrets = SecretStore(self.db)
        self.runs = RunStore(self.db)
        self.tokens = TokenStore(self.db)
        self.providers = ProviderStore(self.db)
        self.schedules = ScheduleStore(self.db)
        self.processes = ProcessStore(self.db)
