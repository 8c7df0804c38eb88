"""Fixtures for the console tests: one real `guru-mcp serve` over HTTP per module, a loopback HTTP API
for its actions to call, and one headless Chromium (Debian's, driven by Playwright) per module."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_KEY, fresh_database, unavailable
from tests.e2e.conftest import serve_http
from tests.support.cli import run_cli
from tests.support.http import EchoServer, echo_server

CHROMIUM = os.environ.get("GURU_MCP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
NOTES_SCREENSHOTS = Path("/work/notes/screenshots")


@dataclass
class Console:
    base: str
    """http://127.0.0.1:PORT"""
    admin_token: str
    user_token: str
    env: dict[str, str]
    process: subprocess.Popen
    log: Path
    """The server's stderr."""

    @property
    def admin(self) -> str:
        return self.base + "/admin"

    def cli(self, *args: str) -> str:
        done = run_cli(self.env, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def echo_api() -> Iterator[EchoServer]:
    """The loopback HTTP API the console's actions call (module-wide, unlike tests.conftest's)."""
    with echo_server() as echo:
        yield echo


@pytest.fixture(scope="module")
def console_db(postgres_server) -> Iterator[str | None]:
    """The module's database: a fresh PostgreSQL one on the PostgreSQL pass, else None (SQLite)."""
    yield from fresh_database(postgres_server)


@pytest.fixture(scope="module")
def console(tmp_path_factory, console_db) -> Iterator[Console]:
    home = tmp_path_factory.mktemp("console") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURU_MCP_")}
    env.update(
        GURU_MCP_HOME=str(home),
        GURU_MCP_SECRET_KEY=TEST_KEY,
        GURU_MCP_EGRESS_ALLOW="127.0.0.1",
        GURU_MCP_SANDBOX_ENABLED="false",
        GURU_MCP_SCHEDULER_ENABLED="false",
        GURU_MCP_CATALOG_POLL_INTERVAL="0.2",
    )
    if console_db:
        env["GURU_MCP_DATABASE_URL"] = console_db

    def run(*args: str) -> str:
        done = run_cli(env, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    admin = run("init", "--email", "ada@corp.example", "--name", "Ada")
    user = run("tokens", "create", "--email", "alex@corp.example", "--groups", "hr")
    with serve_http(env, admin, user, log=home.parent / "server.log") as server:
        yield Console(server.base, admin, user, env, server.process, server.log)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module: Debian's binary, never a downloaded one."""
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        unavailable(f"no Chromium at {CHROMIUM}; install it with `apt-get install -y chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is missing; pip install -e '.[test]'")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def login(client: httpx.Client, console: Console, token: str) -> httpx.Response:
    """Log in through the form (login CSRF included) with a plain HTTP client."""
    page = client.get(console.admin + "/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    return client.post(
        console.admin + "/login", data={"csrf": csrf.group(1), "token": token, "next": "/admin/actions"}
    )


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]*)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)
