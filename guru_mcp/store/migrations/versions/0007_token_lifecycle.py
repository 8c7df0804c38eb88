"""Token lifecycle: expiry, last use, revocation time, server-wide admin.

Revision ID: 0007_token_lifecycle
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_token_lifecycle"
down_revision = "0006_runs_hosts_refused"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("server_admin", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        for name in ("revoked_at", "last_used_at", "expires_at", "server_admin"):
            batch.drop_column(name)
