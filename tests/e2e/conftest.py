"""Fixtures that run the real `guru-mcp` command as a subprocess."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from guru_mcp.settings import Settings
from guru_mcp.store import create_db_engine
from tests.conftest import TEST_KEY
from tests.support.cli import GURU, run_cli
from tests.support.polling import wait_for


@pytest.fixture
def cli_env(tmp_path, db_url) -> dict[str, str]:
    return _cli_env(tmp_path / "home", db_url)


@pytest.fixture(scope="module")
def module_cli_env(tmp_path_factory, module_db_url) -> dict[str, str]:
    """Like `cli_env`, for a whole module: one state directory and database its tests share."""
    return _cli_env(tmp_path_factory.mktemp("module") / "home", module_db_url)


def _cli_env(home: Path, db_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURU_MCP_")}
    if db_url:
        env["GURU_MCP_DATABASE_URL"] = db_url
    env.update(
        GURU_MCP_HOME=str(home),
        GURU_MCP_SECRET_KEY=TEST_KEY,
        GURU_MCP_EGRESS_ALLOW="127.0.0.1",
        GURU_MCP_SANDBOX_ENABLED="false",
        GURU_MCP_SCHEDULER_ENABLED="false",
        GURU_MCP_CATALOG_POLL_INTERVAL="0.2",
        GURU_MCP_STDIO_USER_EMAIL="sam@corp.example",
    )
    return env


def cli(
    env: dict[str, str], *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    result = run_cli(env, *args, stdin=stdin)
    if check and result.returncode != 0:
        raise AssertionError(f"guru-mcp {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def database(env: dict[str, str]) -> sa.Engine:
    """An engine on the database the CLI and servers of `env` use (SQLite file or PostgreSQL)."""
    settings = Settings(home=Path(env["GURU_MCP_HOME"]), database_url=env.get("GURU_MCP_DATABASE_URL"))
    return create_db_engine(settings.db_url)


def runs(db: sa.Engine, **where: object) -> list[dict[str, object]]:
    """Run rows, oldest first, filtered by column values."""
    query = "SELECT * FROM runs" + (" WHERE " + " AND ".join(f"{k} = :{k}" for k in where) if where else "")
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(query + " ORDER BY started_at"), where)]


class StdioServer:
    """`guru-mcp serve` over stdio, spoken to in raw JSON-RPC lines (so a test can kill it, close its
    stdin or signal it while a call is in flight)."""

    def __init__(self, env: dict[str, str], log: Path, *args: str, until_open: bool = True) -> None:
        """Start the server and initialize. The handshake is answered before the server's
        application (database, catalog) is open; `until_open` then also waits for it, with a
        `tools/list` (the first request that needs it), so a test changing the server's surroundings
        next (a full disk, a signal) acts on a started server."""
        self.log = log
        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                [GURU, "serve", *args], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
            )
        self._ids = iter(range(1, 1_000_000))
        self.send(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"},
            },
        )
        self.read()
        self.notify("notifications/initialized")
        if until_open:
            self.response(self.send("tools/list"))

    def send(self, method: str, params: dict | None = None) -> int:
        request_id = next(self._ids)
        self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        return request_id

    def notify(self, method: str) -> None:
        self._write({"jsonrpc": "2.0", "method": method})

    def call(self, tool: str, arguments: dict | None = None) -> int:
        return self.send("tools/call", {"name": tool, "arguments": arguments or {}})

    def _write(self, message: dict) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()

    def read(self, timeout: float = 30) -> dict:
        """The next message from the server (a response or a notification)."""
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"no message from the server in {timeout} s\n{self.log.read_text()}")
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the server closed its stdout\n{self.log.read_text()}")
        return json.loads(line)

    def response(self, request_id: int, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = self.read(max(0.1, deadline - time.monotonic()))
            if message.get("id") == request_id:
                return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no response to request {request_id}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class HttpServer:
    url: str
    """http://127.0.0.1:PORT/mcp"""
    admin_token: str
    user_token: str
    process: subprocess.Popen
    log: Path
    """The server's stderr."""

    @property
    def base(self) -> str:
        return self.url.removesuffix("/mcp")


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
"""A raw JSON-RPC `initialize` request (for tests that check the HTTP status a token gets)."""


def initialize_status(url: str, token: str) -> int:
    """The HTTP status of an `initialize` posted to `url` with `token` as the bearer."""
    return httpx.post(
        url,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        json=INITIALIZE,
        timeout=30,
    ).status_code


@pytest.fixture
def http_server(cli_env) -> Iterator[HttpServer]:
    """A server of the test's own (for tests that change tokens, gurus or the server itself)."""
    yield from initialized_http_server(cli_env)


@pytest.fixture(scope="module")
def module_http_server(module_cli_env) -> Iterator[HttpServer]:
    """One server for a module whose tests do not disturb each other (each names its own actions)."""
    yield from initialized_http_server(module_cli_env)


def initialized_http_server(
    env: dict[str, str], *options: str, log: Path | None = None
) -> Iterator[HttpServer]:
    admin = cli(env, "init", "--email", "ada@corp.example").stdout.strip()
    user = cli(env, "tokens", "create", "--email", "alex@corp.example", "--groups", "hr").stdout.strip()
    with serve_http(env, admin, user, options=options, log=log) as server:
        yield server


@contextmanager
def serve_http(
    env: dict[str, str],
    admin: str = "",
    user: str = "",
    *,
    options: tuple[str, ...] = (),
    log: Path | None = None,
) -> Iterator[HttpServer]:
    """`guru-mcp [OPTIONS] serve` over HTTP on a free loopback port, on the database of `env`, until
    the block ends; its stderr goes to `log` (a temporary file by default)."""
    port = free_port()
    if log is None:
        log = Path(tempfile.mkdtemp(prefix="guru-serve-")) / "server.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [GURU, *options, "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
    url = f"http://127.0.0.1:{port}/mcp"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the server exited ({process.returncode}):\n{log.read_text()}")
        try:
            return httpx.post(url, timeout=1).status_code == 401
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=60)
        yield HttpServer(url, admin, user, process, log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


from tests.executors.conftest import docker_api, sandbox_image  # noqa: E402,F401  (Docker fixtures: fail under CI)


@pytest.fixture
def sandbox_env(cli_env, request: pytest.FixtureRequest) -> dict[str, str]:
    """cli_env with the sandbox on: a one-container warm pool, no pre-imports (fast start-up)."""
    return {
        **cli_env,
        "GURU_MCP_SANDBOX_ENABLED": "true",
        "GURU_MCP_SANDBOX_IMAGE": request.getfixturevalue("sandbox_image"),
        "GURU_MCP_SANDBOX_POOL_SIZE": "1",
        "GURU_MCP_SANDBOX_PREIMPORT": "",
    }
