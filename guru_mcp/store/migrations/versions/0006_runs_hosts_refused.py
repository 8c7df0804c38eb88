"""Runs record the hosts the egress policy refused them, beside the hosts they contacted.

Revision ID: 0006_runs_hosts_refused
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_runs_hosts_refused"
down_revision = "0005_secret_hosts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("hosts_refused", sa.Text, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("hosts_refused")
