"""One schema: the tables defined in `guru_mcp.store.tables` and the alembic migrations agree, on
the database the suite runs on (SQLite or PostgreSQL). This is `alembic check`, run programmatically."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError

from guru_mcp.settings import Settings
from guru_mcp.store import create_db_engine, migrate
from guru_mcp.store.db import MIGRATIONS


def _check(engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.check(config)


def test_the_migrated_schema_matches_the_tables(settings: Settings) -> None:
    engine = create_db_engine(settings.db_url)
    try:
        migrate(engine)
        _check(engine)  # raises CommandError listing every difference
    finally:
        engine.dispose()


def test_the_check_notices_a_table_the_migrations_lack(settings: Settings) -> None:
    """The check is not vacuous: a table added to the models without a migration fails it."""
    import sqlalchemy as sa

    from guru_mcp.store.tables import metadata

    engine = create_db_engine(settings.db_url)
    extra = sa.Table("not_migrated", metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        migrate(engine)
        with pytest.raises(CommandError, match="not_migrated"):
            _check(engine)
    finally:
        metadata.remove(extra)
        engine.dispose()


def test_there_is_exactly_one_head() -> None:
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
