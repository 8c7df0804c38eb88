"""Storage faults as errors an operator can act on.

The database drivers say "database or disk is full", "attempt to write a readonly database" or
"connection refused" in their own words, deep in an exception chain. `storage_error` turns them
into `StorageError`s (a `ConfigError`: one line, naming the problem and the fix) so a tool call
answers with that text, the CLI prints it on one line, and the server goes on serving.
`guarded(fn)` wraps a store's worker-thread calls.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from guru_mcp.errors import StorageError

T = TypeVar("T")

_FULL = ("database or disk is full", "no space left on device", "disk full", "could not extend file")
_READ_ONLY = ("readonly database", "read-only", "read only file system", "readonly", "cannot execute")
_UNREACHABLE = (
    "connection refused",
    "could not connect",
    "could not translate host name",
    "timeout expired",
    "server closed the connection",
    "terminating connection",
    "connection is bad",
    "no route to host",
    "the database system is",
)
_CANNOT_OPEN = ("unable to open database file",)


def _text(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return (
        str(orig if orig is not None else exc).strip().splitlines()[0]
        if str(exc).strip()
        else type(exc).__name__
    )


def storage_error(exc: BaseException) -> StorageError | None:
    """A `StorageError` for a database or file-system failure, or None if `exc` is none of those."""
    if isinstance(exc, OSError) and not isinstance(exc, DBAPIError):
        if exc.errno == errno.ENOSPC:
            return StorageError(f"the disk holding guru-mcp's state is full ({exc}); free some space")
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return StorageError(
                f"guru-mcp's state directory is read-only ({exc}); it needs write access for this"
            )
        return None
    if not isinstance(exc, SQLAlchemyError):
        return None
    detail = _text(exc)
    low = detail.lower()
    if any(s in low for s in _FULL):
        return StorageError(f"the disk holding the database is full ({detail}); free some space, then retry")
    if any(s in low for s in _READ_ONLY):
        return StorageError(
            f"the database is read-only ({detail}); this needs write access to it (and its directory)"
        )
    if any(s in low for s in _UNREACHABLE) or (
        isinstance(exc, OperationalError) and exc.connection_invalidated
    ):
        return StorageError(f"the database server is unreachable ({detail}); check that it runs, and the URL")
    if any(s in low for s in _CANNOT_OPEN):
        return StorageError(
            f"cannot open the database file ({detail}); check GURU_MCP_HOME exists and is readable"
        )
    if isinstance(exc, OperationalError):
        return StorageError(f"the database failed: {detail}")
    return None


def guarded(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn`, with storage faults raised as `StorageError` (the driver's exception chained)."""

    @wraps(fn)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (SQLAlchemyError, OSError) as exc:
            translated = storage_error(exc)
            if translated is None:
                raise
            raise translated from exc

    return call
