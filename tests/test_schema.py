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


def test_the_head_revision_read_from_the_scripts_is_alembics() -> None:
    """`migrate` skips alembic when the database is at `head_revisions()`: that must be alembic's head."""
    from alembic.script import ScriptDirectory

    from guru_mcp.store.db import head_revisions

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revisions() == frozenset(ScriptDirectory.from_config(config).get_heads())


def test_a_current_database_opens_without_alembic_and_an_old_one_is_upgraded(settings: Settings) -> None:
    """Up to date: one read of `alembic_version`, alembic not even imported (a fresh process shows
    it). Behind: alembic runs and brings it to the head."""
    import subprocess
    import sys

    from guru_mcp.store.db import current_revisions, head_revisions

    engine = create_db_engine(settings.db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        migrate(engine)
        assert current_revisions(engine) == head_revisions()
        probe = (
            "import sys\n"
            "from guru_mcp.store.db import create_db_engine, migrate\n"
            f"migrate(create_db_engine({settings.db_url!r}))\n"
            "print('alembic' in sys.modules)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
        )
        assert out.stdout.strip() == "False"
        with engine.begin() as connection:  # one revision back: the next start upgrades
            config.attributes["connection"] = connection
            command.downgrade(config, "-1")
        assert current_revisions(engine) != head_revisions()
        migrate(engine)
        assert current_revisions(engine) == head_revisions()
        _check(engine)
    finally:
        engine.dispose()
