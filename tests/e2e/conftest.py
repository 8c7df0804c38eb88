"""Fixtures that run the real `guru-mcp` command as a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_KEY, wait_for

GURU = str(Path(sys.executable).with_name("guru-mcp"))


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURU_MCP_")}
    env.update(
        GURU_MCP_HOME=str(tmp_path / "home"),
        GURU_MCP_SECRET_KEY=TEST_KEY,
        GURU_MCP_EGRESS_ALLOW="127.0.0.1",
        GURU_MCP_SANDBOX_ENABLED="false",
        GURU_MCP_SCHEDULER_ENABLED="false",
        GURU_MCP_CATALOG_POLL_INTERVAL="0.2",
        GURU_MCP_STDIO_USER_EMAIL="sam@corp.example",
    )
    return env


def cli(env: dict[str, str], *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [GURU, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    if check and result.returncode != 0:
        raise AssertionError(f"guru-mcp {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class HttpServer:
    url: str
    admin_token: str
    user_token: str
    process: subprocess.Popen


@pytest.fixture
def http_server(cli_env) -> Iterator[HttpServer]:
    admin = cli(cli_env, "init", "--email", "ada@corp.example").stdout.strip()
    user = cli(cli_env, "tokens", "create", "--email", "alex@corp.example", "--groups", "hr").stdout.strip()
    port = free_port()
    process = subprocess.Popen(
        [GURU, "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"

    def up() -> bool:
        try:
            return httpx.post(url, timeout=1).status_code == 401
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=30)
        yield HttpServer(url, admin, user, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


from tests.executors.conftest import docker_api, sandbox_image  # noqa: E402,F401  (Docker fixtures: fail under CI)


@pytest.fixture
def sandbox_env(cli_env, sandbox_image) -> dict[str, str]:
    """cli_env with the sandbox on: a one-container warm pool, no pre-imports (fast start-up)."""
    return {
        **cli_env,
        "GURU_MCP_SANDBOX_ENABLED": "true",
        "GURU_MCP_SANDBOX_IMAGE": sandbox_image,
        "GURU_MCP_SANDBOX_POOL_SIZE": "1",
        "GURU_MCP_SANDBOX_PREIMPORT": "",
    }
