"""Streamable HTTP sessions belong to the token that opened them, and their ids stay out of the logs."""

from collections.abc import Iterator

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.conftest import INITIALIZE, HttpServer, initialized_http_server

HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def verbose_http_server(module_cli_env, tmp_path_factory) -> Iterator[tuple[HttpServer, object]]:
    """The server at `-v` (INFO logs), its stderr going to a file the tests read (one for the module:
    each test opens sessions of its own)."""
    log = tmp_path_factory.mktemp("sessions") / "server.log"
    for server in initialized_http_server(module_cli_env, "-v", log=log):
        yield server, server.log


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
    init = INITIALIZE
    async with httpx.AsyncClient(timeout=30) as http:
        opened = await http.post(server.url, headers=owner, json=init)
        assert opened.status_code == 200, opened.text
        session = opened.headers["mcp-session-id"]
        ended = await http.delete(server.url, headers={**owner, "Mcp-Session-Id": session})
        again = await http.delete(server.url, headers={**owner, "Mcp-Session-Id": session})
    assert ended.status_code == 200 and again.status_code == 404
