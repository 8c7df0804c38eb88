"""Two `guru-mcp serve` replicas behind one address, a round-robin proxy that sends each connection to
the next replica, and a 2026-07-28 client that opens a new connection per request: every request
lands on the other replica, and everything works (no session affinity needed)."""

from __future__ import annotations

import contextlib
import json

import anyio
import httpx2
import mcp_types as types
import pytest
from anyio.abc import SocketStream
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import accept_confirmation, api_action
from tests.e2e.conftest import cli, serve_http


class RoundRobinProxy:
    """A TCP proxy on 127.0.0.1: connection n goes to backend n mod len(backends)."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.served: list[int] = []
        self.port = 0

    async def serve(self, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        task_status.started()
        await listener.serve(self._handle)

    async def _handle(self, client: SocketStream) -> None:
        index = len(self.served) % len(self.backends)
        self.served.append(index)
        async with client, await anyio.connect_tcp("127.0.0.1", self.backends[index]) as upstream:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_pump, client, upstream)
                await _pump(upstream, client)
                tg.cancel_scope.cancel()


async def _pump(source: SocketStream, target: SocketStream) -> None:
    try:
        while True:
            await target.send(await source.receive())
    except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
        pass
    with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
        await target.send_eof()


@pytest.mark.anyio
async def test_a_stateless_client_alternating_between_two_replicas_is_fully_served(
    cli_env, tmp_path, echo_server
):
    admin = cli(cli_env, "init", "--email", "ada@corp.example").stdout.strip()
    actions = [
        api_action("whoami", echo_server.url + "/me?u={GURUBASE_USER_EMAIL}"),
        api_action(
            "drop_item",
            echo_server.url + "/items/{item}",
            method="DELETE",
            parameters=[{"name": "item", "required": True}],
        ),
    ]
    (tmp_path / "actions.json").write_text(json.dumps(actions))
    cli(cli_env, "actions", "import", str(tmp_path / "actions.json"))
    with serve_http(cli_env, admin, "") as one, serve_http(cli_env, admin, "") as two:
        ports = [int(s.url.rsplit(":", 1)[1].split("/")[0]) for s in (one, two)]
        proxy = RoundRobinProxy(ports)
        async with anyio.create_task_group() as tg:
            await tg.start(proxy.serve)
            limits = httpx2.Limits(
                max_keepalive_connections=0
            )  # a new connection, so a new replica, per request
            headers = {"Authorization": f"Bearer {admin}"}
            async with httpx2.AsyncClient(headers=headers, timeout=30, limits=limits) as http:
                transport = streamable_http_client(f"http://127.0.0.1:{proxy.port}/mcp", http_client=http)
                async with Client(transport, mode="auto", elicitation_callback=accept_confirmation) as client:
                    assert client.protocol_version == "2026-07-28"  # found by server/discover
                    after_discover = len(proxy.served)
                    names = {t.name for t in (await client.list_tools()).tools}
                    assert {"whoami", "drop_item", "admin_runs_list"} <= names
                    for _ in range(2):
                        result = await client.call_tool("whoami", {})
                        assert not result.is_error, result.content[0].text
                    # Confirmation: the question comes from one replica, the answer goes to the other,
                    # which accepts the state the first one sealed (both derive the key from the same secret).
                    dropped = await client.call_tool("drop_item", {"item": "i-7"})
                    assert not dropped.is_error, dropped.content[0].text
                    runs = await client.call_tool("admin_runs_list", {})
            tg.cancel_scope.cancel()
    assert after_discover >= 1
    # discover, tools/list, 2 calls, the confirmation's two legs, runs list: one connection each
    assert len(proxy.served) >= 7
    assert proxy.served[:6] == [0, 1, 0, 1, 0, 1]  # every request went to the other replica
    assert {0, 1} <= set(proxy.served)
    assert [r["method"] for r in echo_server.requests] == ["GET", "GET", "DELETE"]
    assert echo_server.requests[-1]["path"] == "/items/i-7"
    statuses = sorted(r["status"] for r in runs.structured_content["runs"])
    assert statuses == ["ok", "ok", "ok"]
    assert isinstance(dropped, types.CallToolResult)
