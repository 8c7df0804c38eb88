"""Which database the suite runs on: SQLite (default) or PostgreSQL.

PostgreSQL is chosen by `pytest --db postgres` or by setting `GURU_MCP_TEST_DATABASE_URL` to a
server's URL (its database part names the maintenance database to connect to, e.g.
`postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres`). Each test then gets a database
of its own, created from a template migrated once per session and dropped when the test ends, so
tests never see each other's rows. Creating and dropping a database takes a few hundred
milliseconds, so one thread keeps the next database ready and drops used ones while tests run.
On SQLite each test has its own file under its tmp_path.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

ENV = "GURU_MCP_TEST_DATABASE_URL"
DEFAULT_SERVER = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"


@dataclass
class PostgresServer:
    """A PostgreSQL server the suite may create and drop its own databases on."""

    url: URL
    prefix: str
    template: str | None = None
    ahead: int = 1
    """Databases kept ready for the next tests."""
    _count: itertools.count = field(default_factory=itertools.count)
    _worker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "test-databases"))
    _ready: deque[Future[str]] = field(default_factory=deque)

    @classmethod
    def from_url(cls, url: str) -> PostgresServer:
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql":
            raise ValueError(f"{ENV} must be a PostgreSQL URL, not {parsed.get_backend_name()}")
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # One prefix per pytest process: concurrent sessions (other checkouts, xdist workers) never
        # touch each other's databases.
        return cls(parsed, f"guru_test_{os.getpid()}_{uuid.uuid4().hex[:6]}")

    def url_of(self, database: str) -> str:
        return self.url.set(database=database).render_as_string(hide_password=False)

    @contextmanager
    def _admin(self) -> Iterator[sa.Connection]:
        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def check(self) -> None:
        """Raise a clear error when the server does not answer."""
        try:
            with self._admin() as conn:
                conn.exec_driver_sql("SELECT 1")
        except sa.exc.OperationalError as exc:
            raise RuntimeError(
                f"PostgreSQL at {self.url.render_as_string()} does not answer ({exc.orig}); "
                "start it (scripts/ensure-postgres.sh) or unset " + ENV
            ) from None

    def prepare_template(self) -> None:
        """Create and migrate the template every test database is copied from."""
        from guru_mcp.store import create_db_engine, migrate

        name = f"{self.prefix}_tpl"
        with self._admin() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        engine = create_db_engine(self.url_of(name))
        try:
            migrate(engine)
        finally:
            engine.dispose()
        self.template = name

    def _create(self) -> str:
        name = f"{self.prefix}_{next(self._count)}"
        template = f' TEMPLATE "{self.template}"' if self.template else ""
        with self._admin() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{template}')
        return name

    def _drop(self, name: str) -> None:
        with self._admin() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create(self) -> str:
        """A fresh, migrated database (made ahead of time when possible); returns its name."""
        while len(self._ready) < self.ahead + 1:
            self._ready.append(self._worker.submit(self._create))
        return self._ready.popleft().result(timeout=120)

    def drop(self, name: str) -> None:
        """Drop a test's database in the background (its name is never handed out again)."""
        self._worker.submit(self._drop, name)

    def drop_all(self) -> None:
        """Drop every database of this session (the template and any a test left behind)."""
        self._worker.shutdown(wait=True, cancel_futures=True)
        with self._admin() as conn:
            names = conn.execute(
                sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                {"p": self.prefix.replace("_", r"\_") + r"\_%"},
            ).scalars()
            for name in list(names):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
