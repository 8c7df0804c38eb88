"""Action versions: a row per version of each action's definition; `actions.revision` counts every
change (state included), while `actions.version` now counts definition changes only.

Existing actions get one version row, their current definition.

Revision ID: 0003_versions
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_versions"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("actions", sa.Column("revision", sa.Integer, nullable=False, server_default="0"))
    op.execute("UPDATE actions SET revision = version")
    op.create_table(
        "action_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("guru_id", sa.Integer, sa.ForeignKey("gurus.id"), nullable=False, index=True),
        sa.Column("action_id", sa.Integer, nullable=False, index=True),
        sa.Column("action_name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("changed_by", sa.Text, nullable=False, server_default=""),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("action_id", "version", name="uq_action_versions_action_version"),
    )
    op.execute(
        "INSERT INTO action_versions (guru_id, action_id, action_name, version, spec, changed_by, summary, created_at) "
        "SELECT guru_id, id, name, version, spec, '', 'version history starts here', updated_at FROM actions"
    )


def downgrade() -> None:
    op.drop_table("action_versions")
    op.drop_column("actions", "revision")
