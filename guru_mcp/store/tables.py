"""Database tables. Every row belongs to a guru (tenant). Times are stored as UTC."""

from __future__ import annotations

from datetime import UTC, datetime

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

    id: int | None = Field(default=None, primary_key=True)
    guru_id: int = Field(foreign_key="gurus.id", index=True)
    name: str = Field(max_length=64)
    spec: str
    """The ActionSpec as JSON."""
    version: int = 1
    """The definition's version (see `ActionVersionRow`)."""
    revision: int = 0
    """Bumped by every change, state included: what caches and schedule claims compare."""
    enabled: bool = True
    disabled_reason: str = ""
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
    spec: str
    """The ActionSpec as JSON, state flags as they were when this version was saved."""
    changed_by: str = ""
    summary: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class SecretRow(SQLModel, table=True):
    __tablename__ = "secrets"

    id: int | None = Field(default=None, primary_key=True)
    guru_id: int = Field(foreign_key="gurus.id", index=True)
    name: str = Field(max_length=128)
    ciphertext: str
    key_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"

    id: str = Field(primary_key=True, max_length=36)
    guru_id: int = Field(foreign_key="gurus.id", index=True)
    action_id: int | None = Field(default=None, index=True)
    action_name: str = Field(max_length=64, index=True)
    action_version: int | None = None
    trigger: str = Field(max_length=16)
    caller: str = "{}"
    inputs: str = "{}"
    status: str = Field(max_length=16, index=True)
    output: str = ""
    truncated: bool = False
    error: str = ""
    hosts: str = "[]"
    schedule_id: int | None = Field(default=None, index=True)
    due_at: datetime | None = None
    started_at: datetime = Field(default_factory=utcnow, index=True)
    ended_at: datetime | None = None
    duration_ms: float | None = None


class TokenRow(SQLModel, table=True):
    __tablename__ = "tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    label: str = ""
    guru_id: int = Field(foreign_key="gurus.id")
    is_admin: bool = False
    user_email: str = ""
    user_name: str = ""
    user_groups: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    revoked: bool = False
