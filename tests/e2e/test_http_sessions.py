"""Streamable HTTP sessions belong to the token that opened them, and their ids stay out of the logs."""

import subprocess
from collections.abc import Iterator

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import wait_for
from tests.e2e.conftest import GURU, HttpServer, cli, free_port

HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@pytest.fixture
def verbose_http_server(cli_env, tmp_path) -> Iterator[tuple[HttpServer, object]]:
    """The server at `-v` (INFO logs), its stderr going to a file the test reads."""
    admin = cli(cli_env, "init", "--email", "ada@corp.example").stdout.strip()
    user = cli(cli_env, "tokens", "create", "--email", "alex@corp.example").stdout.strip()
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [GURU, "-v", "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
            env=cli_env,
            stdout=subprocess.DEVNULL,
            stderr=log,
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
        yield HttpServer(url, admin, user, process), log_path
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.anyio
async def test_another_token_holding_a_stolen_session_id_gets_404_and_the_session_lives_on(
    verbose_http_server,
):
    server, log_path = verbose_http_server
    seen: list[str] = []

    async def remember_session(response):
        if "mcp-session-id" in response.headers:
            seen.append(response.headers["mcp-session-id"])

    victim_http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {server.user_token}"},
        timeout=30,
        event_hooks={"response": [remember_session]},
    )
    async with (
        victim_http,
        Client(streamable_http_client(server.url, http_client=victim_http), mode="legacy") as victim,
    ):
        await victim.list_tools()
        assert seen, "the server gave the client no session id"
        stolen = seen[0]
        thief = {**HEADERS, "Authorization": f"Bearer {server.admin_token}", "Mcp-Session-Id": stolen}
        async with httpx.AsyncClient(timeout=30) as http:
            deleted = await http.delete(server.url, headers=thief)
            posted = await http.post(
                server.url, headers=thief, json={"jsonrpc": "2.0", "id": 7, "method": "tools/list"}
            )
            got = await http.get(server.url, headers={**thief, "Accept": "text/event-stream"})
        assert (deleted.status_code, posted.status_code, got.status_code) == (404, 404, 404)
        assert "tools" not in posted.text
        await victim.list_tools()  # still the victim's, still open
    log = log_path.read_text()
    assert "session" in log.lower(), (
        "the server logged nothing about sessions; the check below would be empty"
    )
    assert stolen not in log


@pytest.mark.anyio
async def test_the_owner_can_end_its_own_session(verbose_http_server):
    server, _ = verbose_http_server
    owner = {**HEADERS, "Authorization": f"Bearer {server.user_token}"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    async with httpx.AsyncClient(timeout=30) as http:
        opened = await http.post(server.url, headers=owner, json=init)
        assert opened.status_code == 200, opened.text
        session = opened.headers["mcp-session-id"]
        ended = await http.delete(server.url, headers={**owner, "Mcp-Session-Id": session})
        again = await http.delete(server.url, headers={**owner, "Mcp-Session-Id": session})
    assert ended.status_code == 200 and again.status_code == 404
