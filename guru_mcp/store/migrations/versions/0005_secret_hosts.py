"""Secret scoping: an optional list of hosts each secret may be sent to (JSON list; empty = any host).

Revision ID: 0005_secret_hosts
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_secret_hosts"
down_revision = "0004_liveness"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("secrets") as batch:
        batch.add_column(sa.Column("hosts", sa.Text, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("secrets") as batch:
        batch.drop_column("hosts")
