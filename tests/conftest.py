"""Shared fixtures: settings on a temp home, the app, a real loopback HTTP server, in-memory MCP clients."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from guru_mcp.app import App, open_app
from guru_mcp.settings import Settings
from tests.databases import DEFAULT_SERVER, ENV, PostgresServer

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
        help="run only the tests that use the suite's database (the `db_url` fixture, through "
        "`settings`, `app`, `cli_env`...): the others would run exactly as in the SQLite pass",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--db-tests-only"):
        return
    keep = [item for item in items if "db_url" in getattr(item, "fixturenames", ())]
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


@pytest.fixture
def db_url(postgres_server: PostgresServer | None) -> Iterator[str | None]:
    """The database URL of this test: a fresh PostgreSQL database, or None (SQLite under `home`)."""
    if postgres_server is None:
        yield None
        return
    name = postgres_server.create()
    try:
        yield postgres_server.url_of(name)
    finally:
        postgres_server.drop(name)


@pytest.fixture
def settings(tmp_path, db_url: str | None) -> Settings:
    return Settings(
        home=tmp_path / "home",
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


@dataclass
class EchoServer:
    """A real HTTP server on 127.0.0.1 that records requests and answers by path."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)

    def last(self) -> dict[str, Any]:
        assert self.requests, "the server saw no request"
        return self.requests[-1]


class _Handler(BaseHTTPRequestHandler):
    server_version = "echo/1"
    echo: EchoServer

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        seen = {
            "method": self.command,
            "path": parts.path,
            "raw_path": self.path,
            "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": raw.decode("utf-8", "replace"),
        }
        try:
            seen["json"] = json.loads(raw) if raw else None
        except ValueError:
            seen["json"] = None
        self.echo.requests.append(seen)
        if parts.path.startswith("/redirect"):
            # `/redirect?to=URL` answers 302; `/redirect/307?to=URL` answers with that status.
            tail = parts.path.removeprefix("/redirect").strip("/")
            self.send_response(int(tail) if tail else 302)
            self.send_header("Location", seen["query"]["to"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if parts.path.startswith("/status/"):
            code = int(parts.path.rsplit("/", 1)[1])
            self._json(code, {"error": f"status {code}"})
            return
        if parts.path == "/big":
            self._send(200, b"x" * (3 * 1024 * 1024), "text/plain")
            return
        if parts.path == "/slow":
            self.echo.gate.wait(10)
        if parts.path == "/sleep":  # ?s=SECONDS (at most 30), cut short when the gate opens
            self.echo.gate.wait(min(float(seen["query"].get("s", "1")), 30))
        if parts.path == "/text":
            self._send(200, b"plain words", "text/plain")
            return
        if parts.path.startswith("/pto"):
            user = seen["query"].get("user", "")
            self._json(200, {"user": user, "remaining": 12, "last_used": "2026-03-03"})
            return
        if "encode" in seen["query"]:
            # `?encode=VALUE`: the answer carries VALUE's encodings too (an upstream echoing a
            # credential back base64- or URL-encoded).
            value = seen["query"]["encode"].encode()
            seen["encoded"] = {
                "b64": base64.b64encode(value).decode(),
                "b64_basic": base64.b64encode(b"user:" + value).decode(),
                "url": quote(value, safe=""),
                "hex": value.hex(),
            }
        self._json(200, seen)

    def _json(self, code: int, data: Any) -> None:
        self._send(code, json.dumps(data).encode(), "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    yield from _echo_server()


@pytest.fixture
def other_echo_server() -> Iterator[EchoServer]:
    """A second echo server: another origin (another port) on 127.0.0.1."""
    yield from _echo_server()


def _echo_server() -> Iterator[EchoServer]:
    echo = EchoServer(url="")
    handler = type("Handler", (_Handler,), {"echo": echo})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    echo.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield echo
    echo.gate.set()
    httpd.shutdown()
    httpd.server_close()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll a condition with a deadline (for subprocess-driven tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")


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
