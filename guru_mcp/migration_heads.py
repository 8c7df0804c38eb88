"""The head revisions of the shipped migration scripts, read without SQLAlchemy or alembic.

Kept outside `guru_mcp.store` (whose package imports SQLAlchemy) so that a reader of the database
that needs no ORM, such as `guru_mcp.lean_list`, can check that a schema is current.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "store" / "migrations"

_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")


@functools.cache
def head_revisions() -> frozenset[str]:
    """The head revision ids of the migration scripts, read from their `revision` and
    `down_revision` lines without importing them (or alembic). `tests/test_schema.py` checks the
    answer against alembic's own."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found is None:
            continue
        revisions.add(found.group(1))
        down = _DOWN_REVISION.search(source)
        if down is not None:
            parents.update(_QUOTED.findall(down.group(1)))
    return frozenset(revisions - parents)
