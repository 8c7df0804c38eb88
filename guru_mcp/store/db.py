"""Engine creation and schema migrations (alembic, run programmatically).

Every process checks the schema at start: it reads the database's `alembic_version` and compares it
with the head revision of the migration scripts shipped in the package (`guru_mcp.migration_heads`).
Only when they differ is alembic imported and run (importing it costs a large part of a short
command's start-up).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from guru_mcp.migration_heads import MIGRATIONS, head_revisions
from guru_mcp.store.faults import storage_error

if TYPE_CHECKING:
    from alembic.config import Config


def _read_only_file(database: str | None) -> bool:
    """A database file that exists in a directory this process cannot write (read-only file
    system or permissions): SQLite could not even create its WAL index there."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return False
    path = Path(database)
    return path.exists() and not os.access(path.parent, os.W_OK)


def create_db_engine(url: str) -> Engine:
    """An engine for `url`. SQLite gets WAL, a busy timeout and foreign keys, so several processes
    (server, CLI, a second replica) can share one file. A SQLite file in a read-only directory is
    opened read-only (reads work; writes fail with a clear `StorageError`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        read_only = _read_only_file(parsed.database)
        if read_only:
            url = f"sqlite:///file:{quote(str(parsed.database))}?mode=ro&immutable=1&uri=true"
        elif parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise storage_error(exc) or exc from exc
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=NullPool if parsed.database in (None, "", ":memory:") else None,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            if read_only:
                cur.close()
                return
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def current_revisions(engine: Engine) -> frozenset[str]:
    """The revision ids recorded in the database's `alembic_version` (empty for a new database).
    A read: a read-only database at the newest revision opens."""
    with engine.connect() as connection:
        try:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except DBAPIError:  # no such table: nothing migrated yet
            return frozenset()
    return frozenset(str(row) for row in rows)


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision. Safe to run at every start, from several processes.
    Up to date (the usual case) costs one read and no alembic import."""
    if current_revisions(engine) == head_revisions():
        return
    from alembic import command

    config = _alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            # Serialise concurrent migrators on one file.
            connection.exec_driver_sql("BEGIN IMMEDIATE") if not connection.in_transaction() else None
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
