"""The status of a run: a leaf module (only `enum`), so the error tree and the CLI can name statuses
without importing the models.

A `StrEnum`: stored values, JSON and log fields are the plain strings (`"ok"`, `"timeout"`, ...), and
an enum member compares equal to its string.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    DENIED = "denied"
    CANCELLED = "cancelled"
