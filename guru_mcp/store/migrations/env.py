"""Alembic environment: run with the connection handed over by `guru_mcp.store.db.migrate`."""

from alembic import context

from guru_mcp.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
