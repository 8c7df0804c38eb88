"""Shared fixtures: settings on a temp home, the app, a real loopback HTTP server, in-memory MCP clients."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from guru_mcp.app import App, open_app
from guru_mcp.settings import Settings
from guru_mcp.store import create_db_engine, migrate
from tests.databases import DEFAULT_SERVER, ENV, PostgresServer
from tests.support.http import EchoServer
from tests.support.http import echo_server as serve_echo

TEST_KEY = base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgres"),
        default=None,
        help=f"database the suite runs on (default: postgres when {ENV} is set, else sqlite)",
    )
    parser.addoption(
        "--db-tests-only",
        action="store_true",
        help="run only the tests that use the suite's database (the `db_url` or `module_db_url` fixture, through "
        "`settings`, `app`, `cli_env`...): the others would run exactly as in the SQLite pass",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--db-tests-only"):
        return
    uses_db = {"db_url", "module_db_url"}
    keep = [item for item in items if uses_db & set(getattr(item, "fixturenames", ()))]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _db_choice(config: pytest.Config) -> str:
    return config.getoption("--db") or ("postgres" if os.environ.get(ENV) else "sqlite")


def pytest_report_header(config: pytest.Config) -> str:
    choice = _db_choice(config)
    if choice == "postgres":
        return f"database: PostgreSQL ({PostgresServer.from_url(os.environ.get(ENV) or DEFAULT_SERVER).url})"
    return "database: SQLite"


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer | None]:
    """The PostgreSQL server the suite runs on, or None on SQLite."""
    if _db_choice(request.config) != "postgres":
        yield None
        return
    server = PostgresServer.from_url(os.environ.get(ENV) or DEFAULT_SERVER)
    server.check()
    server.prepare_template()
    try:
        yield server
    finally:
        server.drop_all()


def fresh_database(postgres_server: PostgresServer | None) -> Iterator[str | None]:
    """A fresh PostgreSQL database's URL until the generator is closed, or None on SQLite."""
    if postgres_server is None:
        yield None
        return
    name = postgres_server.create()
    try:
        yield postgres_server.url_of(name)
    finally:
        postgres_server.drop(name)


@pytest.fixture
def db_url(postgres_server: PostgresServer | None) -> Iterator[str | None]:
    """The database URL of this test: a fresh PostgreSQL database, or None (SQLite under `home`)."""
    yield from fresh_database(postgres_server)


@pytest.fixture(scope="module")
def module_db_url(postgres_server: PostgresServer | None) -> Iterator[str | None]:
    """Like `db_url`, for the tests of a module that share one server: one database for them all."""
    yield from fresh_database(postgres_server)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once per session: each test's `settings` starts from a copy of
    it (migrating a fresh file cost every test a fifth of a second or more)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "guru-mcp.db"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        migrate(engine)
    finally:
        engine.dispose()
    assert not path.with_name(path.name + "-wal").exists(), "the template's WAL was not checkpointed"
    return path


@pytest.fixture
def settings(tmp_path, db_url: str | None, request: pytest.FixtureRequest) -> Settings:
    home = tmp_path / "home"
    if db_url is None:  # SQLite: the test's own copy of the migrated template, under its home
        home.mkdir(parents=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), home / "guru-mcp.db")
    return Settings(
        home=home,
        database_url=db_url,
        secret_key=TEST_KEY,
        egress_allow=["127.0.0.1"],
        sandbox_enabled=False,
        scheduler_enabled=False,
        catalog_poll_interval=0.2,
        run_queue_timeout=5,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    async with open_app(settings, sandbox=False) as app:
        yield app


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    with serve_echo() as echo:
        yield echo


@pytest.fixture
def other_echo_server() -> Iterator[EchoServer]:
    """A second echo server: another origin (another port) on 127.0.0.1."""
    with serve_echo() as echo:
        yield echo


def api_action(name: str, endpoint: str, **extra: Any) -> dict[str, Any]:
    config = {"endpoint": endpoint, "method": extra.pop("method", "GET")}
    for key in ("headers", "body", "timeout"):
        if key in extra:
            config[key] = extra.pop(key)
    return {"name": name, "action_type": "API_CALL", "config": config, **extra}


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def unavailable(message: str) -> None:
    """A test's environment is missing: fail under CI (it must run there), skip elsewhere."""
    if in_ci():
        pytest.fail(f"{message} (CI is set: this test must run, not skip)")
    pytest.skip(message)


from contextlib import asynccontextmanager  # noqa: E402

import anyio  # noqa: E402
from mcp import Client  # noqa: E402

from guru_mcp.models import Caller  # noqa: E402
from guru_mcp.server import build_server  # noqa: E402

ADMIN = Caller(key="admin", email="ada@corp.example", name="Ada", groups=("ops",), is_admin=True)
USER = Caller(key="user", email="alex@corp.example", name="Alex", groups=("hr", "eng"))


async def accept_confirmation(ctx, params):
    """An elicitation handler standing for a user who confirms whatever is asked."""
    import mcp_types

    return mcp_types.ElicitResult(action="accept", content={"confirm": True})


async def decline_confirmation(ctx, params):
    """An elicitation handler standing for a user who declines."""
    import mcp_types

    return mcp_types.ElicitResult(action="decline")


@asynccontextmanager
async def connect(
    app: App,
    caller: Caller = ADMIN,
    *,
    mode: str = "legacy",
    on_message=None,
    elicitation=accept_confirmation,
):
    """An MCP client connected in-process to a server built on `app`, with its notifier running.
    `elicitation` answers confirmation questions (default: the user accepts; None: the client cannot
    be asked)."""
    handle = build_server(app, stdio_caller=caller)
    async with anyio.create_task_group() as tg:
        tg.start_soon(handle.notifier)
        async with Client(
            handle.server, mode=mode, message_handler=on_message, elicitation_callback=elicitation
        ) as client:
            yield client
        tg.cancel_scope.cancel()
