"""The sandbox egress proxy and host-limited secrets (no Docker): a request holding such a secret goes
only to its hosts; an HTTPS tunnel, which cannot be looked into, only to hosts every such secret allows."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from guru_mcp.egress import EgressPolicy
from tests.executors.test_egress_proxy import exchange, proxy
from tests.support.http import QuietHandler, loopback_http

pytestmark = pytest.mark.anyio

KEY = "sk_live_proxy_9f8e7d6c"
LIMITED = {"API_KEY": (KEY, ["api.example.com"])}


@pytest.fixture
def origin() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """An HTTP server on 127.0.0.1 that answers GET and POST and records what it saw."""
    seen: list[dict[str, Any]] = []

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            seen.append({"path": self.path, "body": self.rfile.read(length).decode() if length else ""})
            self.reply(200, b"ok")

        do_GET = do_POST = _answer

    with loopback_http(Handler) as server:
        yield server.port, seen


def get(port: int, header: str = "") -> bytes:
    return f"GET http://127.0.0.1:{port}/x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{header}\r\n".encode()


@pytest.mark.parametrize(
    "header",
    [f"X-Api-Key: {KEY}\r\n", f"Authorization: Basic {base64.b64encode(f'u:{KEY}'.encode()).decode()}\r\n"],
)
async def test_a_plain_request_holding_a_host_limited_secret_is_refused_for_other_hosts(
    tmp_path, origin, header
):
    port, seen = origin
    async with proxy(tmp_path, EgressPolicy(["127.0.0.1"]), secrets=LIMITED) as server:
        response = await exchange(server.socket_path, get(port, header))
    assert response.startswith(b"HTTP/1.1 403")
    assert b"secret API_KEY may only be sent to api.example.com" in response
    assert seen == [] and list(server.refused) == ["127.0.0.1"]
    assert "limited to other hosts" in server.refused["127.0.0.1"]


async def test_a_body_holding_a_host_limited_secret_is_refused_for_other_hosts(tmp_path, origin):
    port, seen = origin
    body = f'{{"key": "{KEY}"}}'.encode()
    request = (
        f"POST http://127.0.0.1:{port}/p HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    async with proxy(tmp_path, EgressPolicy(["127.0.0.1"]), secrets=LIMITED) as server:
        response = await exchange(server.socket_path, request)
    assert response.startswith(b"HTTP/1.1 403") and seen == []


async def test_requests_without_the_secret_and_to_its_hosts_pass_with_their_body(tmp_path, origin):
    port, seen = origin
    body = f'{{"key": "{KEY}"}}'.encode()
    with_key = (
        f"POST http://127.0.0.1:{port}/p HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    async with proxy(tmp_path, EgressPolicy(["127.0.0.1"]), secrets=LIMITED) as server:
        plain = await exchange(server.socket_path, get(port))
    async with proxy(
        tmp_path, EgressPolicy(["127.0.0.1"]), secrets={"API_KEY": (KEY, ["127.0.0.1"])}
    ) as server:
        allowed = await exchange(server.socket_path, with_key)
    assert plain.startswith(b"HTTP/1.") and b" 200 " in plain.split(b"\r\n")[0]
    assert b" 200 " in allowed.split(b"\r\n")[0]
    assert seen == [{"path": "/x", "body": ""}, {"path": "/p", "body": body.decode()}]


async def test_a_chunked_body_is_refused_while_the_run_holds_a_host_limited_secret(tmp_path, origin):
    port, seen = origin
    request = (
        f"POST http://127.0.0.1:{port}/p HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\n"
    ).encode()
    async with proxy(tmp_path, EgressPolicy(["127.0.0.1"]), secrets=LIMITED) as server:
        response = await exchange(server.socket_path, request)
    assert response.startswith(b"HTTP/1.1 411") and seen == []


async def test_a_tunnel_goes_only_to_hosts_every_host_limited_secret_allows(tmp_path, origin):
    port, _seen = origin
    connect = f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode()
    async with proxy(tmp_path, EgressPolicy(["127.0.0.1"]), secrets=LIMITED) as server:
        refused = await exchange(server.socket_path, connect)
    two = {
        "API_KEY": (KEY, ["127.0.0.1"]),
        "OTHER_KEY": ("other-secret-value", ["*.example.com", "127.0.0.1"]),
    }
    async with proxy(tmp_path, EgressPolicy(["127.0.0.1"]), secrets=two) as server:
        allowed = await exchange(server.socket_path, connect)
    assert refused.startswith(b"HTTP/1.1 403") and b"cannot be checked" in refused
    assert allowed == b"HTTP/1.1 200 Connection established\r\n\r\n"
