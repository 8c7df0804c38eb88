"""Process liveness: a `processes` table with heartbeats, runs stamped with the process running
them, and one run per (schedule, due time).

Revision ID: 0004_liveness
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_liveness"
down_revision = "0003_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("process_id", sa.String(64), nullable=True))
        batch.create_index("ix_runs_process_id", ["process_id"])
        batch.create_index("uq_runs_schedule_due", ["schedule_id", "due_at"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("uq_runs_schedule_due")
        batch.drop_index("ix_runs_process_id")
        batch.drop_column("process_id")
    op.drop_table("processes")
