"""Fixtures for the console tests: one real `guru-mcp serve` over HTTP per module, a loopback HTTP API
for its actions to call, and one headless Chromium (Debian's, driven by Playwright) per module."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_KEY, EchoServer, _Handler, unavailable, wait_for
from tests.e2e.conftest import GURU, free_port

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
        done = subprocess.run([GURU, *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def echo_api() -> Iterator[EchoServer]:
    """The loopback HTTP API the console's actions call (module-wide, unlike tests.conftest's)."""
    echo = EchoServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"echo": echo}))
    httpd.daemon_threads = True
    echo.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield echo
    echo.gate.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def console_db(postgres_server) -> Iterator[str | None]:
    """The module's database: a fresh PostgreSQL one on the PostgreSQL pass, else None (SQLite)."""
    if postgres_server is None:
        yield None
        return
    name = postgres_server.create()
    try:
        yield postgres_server.url_of(name)
    finally:
        postgres_server.drop(name)


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
        done = subprocess.run([GURU, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    admin = run("init", "--email", "ada@corp.example", "--name", "Ada")
    user = run("tokens", "create", "--email", "alex@corp.example", "--groups", "hr")
    port = free_port()
    log_path = home.parent / "server.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [GURU, "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {(home.parent / 'server.log').read_text()}")
        try:
            return httpx.get(base + "/admin/login", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=60)
        yield Console(base, admin, user, env, process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


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
