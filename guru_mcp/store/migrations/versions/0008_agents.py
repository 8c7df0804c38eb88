"""Agents: child-run columns on runs (parent, depth, model usage) and per-guru model providers.

Revision ID: 0008_agents
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_agents"
down_revision = "0007_token_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("parent_run_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("depth", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("usage", sa.Text, nullable=False, server_default="{}"))
        batch.create_index("ix_runs_parent_run_id", ["parent_run_id"])
    op.create_table(
        "model_providers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("guru_id", sa.Integer, sa.ForeignKey("gurus.id"), nullable=False, index=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("base_url", sa.Text, nullable=False, server_default=""),
        sa.Column("model", sa.Text, nullable=False, server_default=""),
        sa.Column("api_key_secret", sa.String(128), nullable=False, server_default=""),
        sa.Column("max_tokens", sa.Integer, nullable=False, server_default="1024"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("guru_id", "name", name="uq_model_providers_guru_name"),
    )


def downgrade() -> None:
    op.drop_table("model_providers")
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_parent_run_id")
        batch.drop_column("usage")
        batch.drop_column("depth")
        batch.drop_column("parent_run_id")
