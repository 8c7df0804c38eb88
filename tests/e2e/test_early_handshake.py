"""A stdio server answers the handshake before its application is open; when opening it fails
afterwards, the client's waiting request gets a clear JSON-RPC error, the operator one line on
stderr, and the process exits with the usual status, without waiting for the client."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import GURU, StdioServer, free_port

UNAVAILABLE = 6


@pytest.fixture
def silent_database() -> Iterator[socket.socket]:
    """A loopback port that takes connections (in its backlog) and never speaks PostgreSQL: the
    server's database connection waits until the test accepts it and hangs up."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener


def stderr_lines(server: StdioServer) -> list[str]:
    return [line for line in server.log.read_text().splitlines() if line.strip()]


@pytest.mark.timeout(120)
def test_a_database_lost_after_the_handshake_answers_the_waiting_request_and_exits(
    cli_env, silent_database, tmp_path
) -> None:
    port = silent_database.getsockname()[1]
    env = cli_env | {
        "GURU_MCP_DATABASE_URL": f"postgresql+psycopg://postgres:pw-not-shown@127.0.0.1:{port}/guru"
    }
    server = StdioServer(env, tmp_path / "serve.log", until_open=False)  # initialize and its answer only
    try:
        listing = server.send("tools/list")
        connection, _ = silent_database.accept()
        connection.close()
        answer = server.response(listing)
        assert answer["error"]["code"] == -32603, answer
        message = answer["error"]["message"]
        assert message.startswith("guru-mcp could not start: cannot open the database 127.0.0.1:"), message
        assert "unreachable" in message and "pw-not-shown" not in message
        assert server.process.wait(30) == UNAVAILABLE
        lines = stderr_lines(server)
        assert len(lines) == 1 and lines[0].startswith("error: cannot open the database"), lines
    finally:
        server.stop()


@pytest.mark.timeout(120)
def test_a_database_unreachable_at_start_exits_with_one_line_without_waiting_for_the_client(
    cli_env, tmp_path
) -> None:
    env = cli_env | {
        "GURU_MCP_DATABASE_URL": f"postgresql+psycopg://postgres:pw@127.0.0.1:{free_port()}/guru"
    }
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [GURU, "serve"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
    try:
        assert process.wait(30) == UNAVAILABLE  # stdin still open: nothing was asked, nothing waits
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: cannot open the database"), lines
        assert "unreachable" in lines[0]
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
