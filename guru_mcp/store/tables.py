"""Database tables. Every row belongs to a guru (tenant). Times are stored as UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class GuruRow(SQLModel, table=True):
    __tablename__ = "gurus"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, index=True, max_length=64)
    catalog_version: int = 0
    """Bumped in the same transaction as any change to the guru's actions."""
    created_at: datetime = Field(default_factory=utcnow)


class ActionRow(SQLModel, table=True):
    __tablename__ = "actions"
    __table_args__ = (sa.UniqueConstraint("guru_id", "name", name="uq_actions_guru_name"),)

    id: int | None = Field(default=None, primary_key=True)
    guru_id: int = Field(foreign_key="gurus.id", index=True)
    name: str = Field(max_length=64)
    spec: str = Field(sa_type=sa.Text)
    """The ActionSpec as JSON."""
    version: int = 1
    """The definition's version (see `ActionVersionRow`)."""
    revision: int = 0
    """Bumped by every change, state included: what caches and schedule claims compare."""
    enabled: bool = True
    disabled_reason: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ActionVersionRow(SQLModel, table=True):
    """One version of an action's definition: the whole spec as it was saved. Rows outlive their
    action (no foreign key), so a run of a deleted action still has its configuration snapshot."""

    __tablename__ = "action_versions"
    __table_args__ = (UniqueConstraint("action_id", "version", name="uq_action_versions_action_version"),)

    id: int | None = Field(default=None, primary_key=True)
    guru_id: int = Field(foreign_key="gurus.id", index=True)
    action_id: int = Field(index=True)
    action_name: str = Field(max_length=64)
    version: int
    spec: str = Field(sa_type=sa.Text)
    """The ActionSpec as JSON, state flags as they were when this version was saved."""
    changed_by: str = Field(default="", sa_type=sa.Text)
    summary: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow)


class SecretRow(SQLModel, table=True):
    __tablename__ = "secrets"
    __table_args__ = (sa.UniqueConstraint("guru_id", "name", name="uq_secrets_guru_name"),)

    id: int | None = Field(default=None, primary_key=True)
    guru_id: int = Field(foreign_key="gurus.id", index=True)
    name: str = Field(max_length=128)
    ciphertext: str = Field(sa_type=sa.Text)
    key_id: str = Field(max_length=32)
    hosts: str = Field(default="[]", sa_type=sa.Text, sa_column_kwargs={"server_default": "[]"})
    """JSON list of the hosts this secret may be sent to (names, `*.suffix`, IPs); empty: any host."""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        # Exactly once, as a database guarantee: one run per schedule and due time, whichever
        # process claims or takes the due time over. (Runs of no schedule have NULLs: not unique.)
        sa.Index("uq_runs_schedule_due", "schedule_id", "due_at", unique=True),
    )

    id: str = Field(primary_key=True, max_length=36)
    guru_id: int = Field(foreign_key="gurus.id", index=True)
    action_id: int | None = Field(default=None, index=True)
    action_name: str = Field(max_length=64, index=True)
    action_version: int | None = None
    trigger: str = Field(max_length=16)
    caller: str = Field(default="{}", sa_type=sa.Text)
    inputs: str = Field(default="{}", sa_type=sa.Text)
    status: str = Field(max_length=16, index=True)
    output: str = Field(default="", sa_type=sa.Text)
    truncated: bool = False
    error: str = Field(default="", sa_type=sa.Text)
    hosts: str = Field(default="[]", sa_type=sa.Text)
    hosts_refused: str = Field(default="[]", sa_type=sa.Text)
    """Hosts the run tried to reach and the egress policy refused (JSON list)."""
    schedule_id: int | None = Field(default=None, index=True)
    due_at: datetime | None = None
    started_at: datetime = Field(default_factory=utcnow, index=True)
    ended_at: datetime | None = None
    duration_ms: float | None = None
    process_id: str | None = Field(default=None, max_length=64, index=True)
    """The server process running it (`processes.id`); when that process stops, the run is settled."""
    parent_run_id: str | None = Field(default=None, max_length=36, index=True)
    """The agent run that started this run as one of its tool calls."""
    depth: int = 0
    usage: str = Field(default="{}", sa_type=sa.Text)
    """Model usage of an agent run (JSON)."""


class ProcessRow(SQLModel, table=True):
    """A live server process. Its heartbeat says it is alive; one that lapsed has stopped, and its
    running runs and schedule claims are recovered by the others (`guru_mcp.liveness`)."""

    __tablename__ = "processes"

    id: str = Field(primary_key=True, max_length=64)
    host: str = Field(max_length=255)
    """Host name and PID namespace: processes of one host can tell a dead sibling by its pid."""
    pid: int
    started_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow, index=True)


class ModelProviderRow(SQLModel, table=True):
    """A language model an agent can use, configured per guru. The API key is a secret, named here."""

    __tablename__ = "model_providers"
    __table_args__ = (UniqueConstraint("guru_id", "name", name="uq_model_providers_guru_name"),)

    id: int | None = Field(default=None, primary_key=True)
    guru_id: int = Field(foreign_key="gurus.id", index=True)
    name: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    base_url: str = Field(default="", sa_type=sa.Text)
    model: str = Field(default="", sa_type=sa.Text)
    api_key_secret: str = Field(default="", max_length=128)
    max_tokens: int = 1024
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TokenRow(SQLModel, table=True):
    __tablename__ = "tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    label: str = Field(default="", sa_type=sa.Text)
    guru_id: int = Field(foreign_key="gurus.id")
    is_admin: bool = False
    user_email: str = Field(default="", sa_type=sa.Text)
    user_name: str = Field(default="", sa_type=sa.Text)
    user_groups: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow)
    revoked: bool = False
    server_admin: bool = False
    """Admin of every guru (implies is_admin)."""
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    """Updated at most once a minute per process (not on every request)."""
    revoked_at: datetime | None = None


metadata = SQLModel.metadata
"""Every table of the schema; the migrations must match it (tests run alembic's `check`)."""

schedule_state = sa.Table(
    "schedule_state",
    metadata,
    sa.Column("action_id", sa.Integer, sa.ForeignKey("actions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_due_at", sa.DateTime(timezone=True)),
    sa.Column("last_fired_at", sa.DateTime(timezone=True)),
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
)
"""Firing state of schedules (see `guru_mcp.store.schedules`)."""
