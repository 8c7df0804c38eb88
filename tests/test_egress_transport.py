"""`GuardedTransport` behaves like httpx's own transport: bodies stream, httpcore's errors arrive as
httpx's, the policy's refusal as `EgressDenied`. Real loopback sockets only."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from guru_mcp.egress import EgressPolicy, GuardedTransport, build_http_client, build_http_transport
from guru_mcp.errors import EgressDenied

CHUNKS = [b"first;", b"second;", b"third"]


def chunked_reply(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    for chunk in CHUNKS:
        conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn.sendall(b"0\r\n\r\n")


def silent_reply(conn: socket.socket) -> None:
    conn.recv(65536)  # read the request, then say nothing until the client gives up
    conn.settimeout(10)
    with contextlib.suppress(OSError):
        conn.recv(1)


def garbage_reply(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"this is not HTTP\r\n\r\n")


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A one-connection loopback server answering with `request.param`."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            request.param(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/"
    listener.close()
    thread.join(timeout=10)


@pytest.mark.anyio
@pytest.mark.parametrize("server", [chunked_reply], indirect=True)
async def test_a_response_body_streams_through(server):
    transport = build_http_transport(EgressPolicy(["127.0.0.1"]))
    assert isinstance(transport, GuardedTransport)
    async with build_http_client(EgressPolicy(["127.0.0.1"]), transport=transport) as client:
        async with client.stream("GET", server) as response:
            assert response.status_code == 200
            parts = [part async for part in response.aiter_raw()]
    assert b"".join(parts) == b"".join(CHUNKS)


@pytest.mark.anyio
@pytest.mark.parametrize("server", [silent_reply], indirect=True)
async def test_a_read_timeout_is_httpx_read_timeout(server):
    async with build_http_client(EgressPolicy(["127.0.0.1"])) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server, timeout=0.2)


@pytest.mark.anyio
@pytest.mark.parametrize("server", [garbage_reply], indirect=True)
async def test_a_broken_response_is_httpx_remote_protocol_error(server):
    async with build_http_client(EgressPolicy(["127.0.0.1"])) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server)


@pytest.mark.anyio
async def test_a_refused_connection_is_httpx_connect_error():
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    async with build_http_client(EgressPolicy(["127.0.0.1"])) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")


@pytest.mark.anyio
async def test_a_refused_host_is_egress_denied_not_an_httpx_error():
    async with build_http_client(EgressPolicy()) as client:
        with pytest.raises(EgressDenied):
            await client.get("http://127.0.0.1:9/")
