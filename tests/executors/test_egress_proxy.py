"""The sandbox egress proxy on its own (no Docker): what passes, what is refused, what is recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from guru_mcp.egress import EgressPolicy
from guru_mcp.executors.egress_proxy import EgressProxy, host_allowed
from tests.support.http import QuietHandler, loopback_http

pytestmark = pytest.mark.anyio


@pytest.fixture
def origin() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """An HTTP server on 127.0.0.1 that answers `hello from <path>` and records what it saw."""
    seen: list[dict[str, Any]] = []

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
            self.reply(200, f"hello from {self.path}".encode())

    with loopback_http(Handler) as server:
        yield server.port, seen


@asynccontextmanager
async def proxy(
    tmp_path: Path, policy: EgressPolicy, *, armed: bool = True, **arm: Any
) -> AsyncIterator[EgressProxy]:
    async with anyio.create_task_group() as tg:
        server = EgressProxy(policy, tmp_path / "proxy.sock")
        await server.start(tg)
        if armed:
            server.arm(**arm)
        yield server
        server.close()


async def exchange(path: Path, request: bytes) -> bytes:
    with anyio.fail_after(10):
        async with await anyio.connect_unix(path) as stream:
            await stream.send(request)
            response = b""
            async for chunk in stream:
                response += chunk
                if b"\r\n\r\n" in response and response.startswith(b"HTTP/1.1 200 Connection established"):
                    break
            return response


async def test_an_absolute_uri_request_is_forwarded_in_origin_form_and_its_host_recorded(tmp_path, origin):
    port, seen = origin
    async with proxy(tmp_path, EgressPolicy(["127.0.0.1"])) as server:
        request = (
            f"GET http://127.0.0.1:{port}/a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\n\r\n"
        ).encode()
        response = await exchange(server.socket_path, request)
    assert response.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))
    assert response.endswith(b"hello from /a?b=1")
    assert seen[0]["path"] == "/a?b=1"
    assert "proxy-authorization" not in seen[0]["headers"] and "proxy-connection" not in seen[0]["headers"]
    assert seen[0]["headers"]["connection"] == "close"
    assert server.hosts == ["127.0.0.1"]


async def test_every_header_reaches_the_origin_whole_including_the_last_one(tmp_path, origin):
    port, seen = origin
    async with proxy(tmp_path, EgressPolicy(["127.0.0.1"])) as server:
        request = (
            f"GET http://127.0.0.1:{port}/h HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "X-First: one\r\nAuthorization: Bearer token-ends-with-4a5b\r\n\r\n"
        ).encode()
        await exchange(server.socket_path, request)
    assert seen[0]["headers"]["x-first"] == "one"
    assert seen[0]["headers"]["authorization"] == "Bearer token-ends-with-4a5b"


async def test_a_connect_tunnel_carries_bytes_both_ways(tmp_path, origin):
    port, _seen = origin
    async with proxy(tmp_path, EgressPolicy(["127.0.0.1"])) as server:
        with anyio.fail_after(10):
            async with await anyio.connect_unix(server.socket_path) as stream:
                await stream.send(
                    f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
                )
                established = await stream.receive()
                await stream.send(b"GET /tunnelled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                response = b""
                async for chunk in stream:
                    response += chunk
    assert established == b"HTTP/1.1 200 Connection established\r\n\r\n"
    assert response.endswith(b"hello from /tunnelled")
    assert server.hosts == ["127.0.0.1"]


async def test_a_private_address_is_refused_with_a_403_that_says_why(tmp_path, origin):
    port, seen = origin
    async with proxy(tmp_path, EgressPolicy([])) as server:
        response = await exchange(
            server.socket_path, f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\n\r\n".encode()
        )
    assert response.startswith(b"HTTP/1.1 403 Forbidden")
    assert b"egress refused: 127.0.0.1 is a loopback address" in response
    assert server.hosts == [] and list(server.refused) == ["127.0.0.1"]
    assert seen == []


async def test_the_actions_allowed_hosts_narrow_the_policy(tmp_path, origin):
    port, seen = origin
    async with proxy(tmp_path, EgressPolicy(["127.0.0.1"]), allowed_hosts=["api.example.com"]) as server:
        response = await exchange(server.socket_path, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
    assert response.startswith(b"HTTP/1.1 403")
    assert b"127.0.0.1 is not in this action's allowed hosts (api.example.com)" in response
    assert seen == []


async def test_nothing_passes_before_the_run_arms_the_proxy(tmp_path, origin):
    port, seen = origin
    async with proxy(tmp_path, EgressPolicy(["127.0.0.1"]), armed=False) as server:
        response = await exchange(
            server.socket_path, f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\n\r\n".encode()
        )
    assert response.startswith(b"HTTP/1.1 403") and b"no run is active" in response
    assert seen == []


@pytest.mark.parametrize(
    "request_line",
    [b"GET /relative HTTP/1.1", b"GET https://127.0.0.1/ HTTP/1.1", b"CONNECT nohost HTTP/1.1", b"garbage"],
)
async def test_requests_a_proxy_cannot_serve_get_a_400(tmp_path, request_line: bytes):
    async with proxy(tmp_path, EgressPolicy(["127.0.0.1"])) as server:
        response = await exchange(server.socket_path, request_line + b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 400")


def test_allowed_hosts_match_exact_names_and_wildcard_suffixes():
    assert host_allowed("API.Example.com.", ["api.example.com"])
    assert host_allowed("eu.api.example.com", ["*.example.com"])
    assert host_allowed("example.com", ["*.example.com"])
    assert not host_allowed("example.com.evil.net", ["*.example.com", "example.com"])
    assert host_allowed("::1", ["[::1]"])
