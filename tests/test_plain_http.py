"""The plain-HTTP pool of API calls (`executors/plain_http.py`) against real loopback sockets: keep-alive
reuse, idle connections the server closed, decoding, the response limit, and each failure as the
executor reports it. Talks only to 127.0.0.1."""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
from collections.abc import Callable, Iterator

import anyio
import pytest

from guru_mcp.egress import EgressPolicy
from guru_mcp.errors import EgressDenied, RunFailure
from guru_mcp.executors.plain_http import PlainHttpPool
from guru_mcp.models import RunStatus

Reply = Callable[[socket.socket], bool]
"""Answers one request on a connection; returns whether to keep serving that connection."""


class LoopbackServer:
    """Accepts connections on 127.0.0.1, each served on its own thread by `reply` until it says stop."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(10)
            while self.reply(conn):
                pass

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept
        self.listener.close()
        self.acceptor.join(10)
        for thread in self.threads:
            thread.join(10)


@contextlib.contextmanager
def serving(reply: Reply) -> Iterator[LoopbackServer]:
    server = LoopbackServer(reply)
    try:
        yield server
    finally:
        server.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        part = conn.recv(65536)
        if not part:
            raise OSError("closed")
        data += part
    return data


def answer(body: bytes, *extra: str, close: bool = False) -> Reply:
    def reply(conn: socket.socket) -> bool:
        read_request(conn)
        headers = [f"Content-Length: {len(body)}", *extra] + (["Connection: close"] if close else [])
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + "".join(h + "\r\n" for h in headers).encode() + b"\r\n" + body)
        return not close

    return reply


ALLOW = EgressPolicy(["127.0.0.1"])


async def get(pool: PlainHttpPool, port: int, *, timeout: float = 10, limit: int = 1 << 20):
    headers = [(b"Host", f"127.0.0.1:{port}".encode()), (b"Accept-Encoding", b"gzip, deflate")]
    return await pool.send("GET", "127.0.0.1", port, b"/x", headers, b"", timeout=timeout, limit=limit)


@pytest.mark.anyio
async def test_keep_alive_connections_are_reused_for_the_same_host():
    with serving(answer(b'{"ok": true}')) as server:
        pool = PlainHttpPool(ALLOW)
        try:
            replies = [await get(pool, server.port) for _ in range(3)]
        finally:
            await pool.aclose()
    assert [r.body for r in replies] == [b'{"ok": true}'] * 3
    assert replies[0].status_code == 200 and replies[0].is_success
    assert server.connections == 1


@pytest.mark.anyio
async def test_a_connection_the_server_closed_is_not_reused():
    with serving(answer(b"bye", close=True)) as server:
        pool = PlainHttpPool(ALLOW)
        try:
            first = await get(pool, server.port)
            second = await get(pool, server.port)
        finally:
            await pool.aclose()
    assert first.body == second.body == b"bye"
    assert server.connections == 2


@pytest.mark.anyio
async def test_an_idle_connection_closed_by_the_server_is_dropped_before_use():
    served: list[int] = []

    def once_then_close(conn: socket.socket) -> bool:
        read_request(conn)
        served.append(1)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        return False  # closes the connection although the reply promised keep-alive

    with serving(once_then_close) as server:
        pool = PlainHttpPool(ALLOW)
        try:
            await get(pool, server.port)
            server.threads[0].join(10)  # the server has closed that connection
            second = await get(pool, server.port)
        finally:
            await pool.aclose()
    assert second.body == b"hi" and len(served) == 2 and server.connections == 2


@pytest.mark.anyio
async def test_a_gzip_body_is_decoded_and_the_limit_counts_decoded_bytes():
    text = b"abcdefghij" * 100
    with serving(answer(gzip.compress(text), "Content-Encoding: gzip")) as server:
        pool = PlainHttpPool(ALLOW)
        try:
            whole = await get(pool, server.port)
            capped = await get(pool, server.port, limit=50)
        finally:
            await pool.aclose()
    assert whole.body == text and not whole.truncated
    assert capped.body == text[:50] and capped.truncated


@pytest.mark.anyio
async def test_a_chunked_body_is_read_whole():
    def chunked(conn: socket.socket) -> bool:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"first;", b"second;", b"third"):
            conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        conn.sendall(b"0\r\n\r\n")
        return True

    with serving(chunked) as server:
        pool = PlainHttpPool(ALLOW)
        try:
            reply = await get(pool, server.port)
        finally:
            await pool.aclose()
    assert reply.body == b"first;second;third"


@pytest.mark.anyio
async def test_a_silent_server_is_a_timeout():
    def silent(conn: socket.socket) -> bool:
        read_request(conn)
        conn.recv(1)  # until the client gives up
        return False

    with serving(silent) as server:
        pool = PlainHttpPool(ALLOW)
        try:
            with pytest.raises(RunFailure, match=r"timed out after 0\.2 s") as caught:
                await get(pool, server.port, timeout=0.2)
        finally:
            await pool.aclose()
    assert caught.value.status == RunStatus.TIMEOUT


@pytest.mark.anyio
async def test_a_broken_response_is_a_remote_protocol_error():
    def garbage(conn: socket.socket) -> bool:
        read_request(conn)
        conn.sendall(b"this is not HTTP\r\n\r\n")
        return False

    with serving(garbage) as server:
        pool = PlainHttpPool(ALLOW)
        try:
            with pytest.raises(RunFailure, match="RemoteProtocolError"):
                await get(pool, server.port)
        finally:
            await pool.aclose()


@pytest.mark.anyio
async def test_a_refused_connection_is_a_connect_error():
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    pool = PlainHttpPool(ALLOW)
    with pytest.raises(RunFailure, match="ConnectError"):
        await get(pool, port)


@pytest.mark.anyio
async def test_every_connection_passes_the_egress_policy():
    with serving(answer(b"never")) as server:
        pool = PlainHttpPool(EgressPolicy())
        with pytest.raises(EgressDenied, match="loopback"):
            await get(pool, server.port)
    assert server.connections == 0


@pytest.mark.anyio
async def test_requests_past_the_connection_limit_wait_within_their_timeout():
    go = threading.Event()

    def held(conn: socket.socket) -> bool:
        read_request(conn)
        go.wait(10)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nheld")
        return True

    with serving(held) as server:
        pool = PlainHttpPool(ALLOW, max_connections=1)
        replies = []
        try:
            async with anyio.create_task_group() as tg:

                async def first() -> None:
                    replies.append(await get(pool, server.port))

                tg.start_soon(first)
                await anyio.wait_all_tasks_blocked()
                with pytest.raises(RunFailure, match="timed out") as caught:
                    await get(pool, server.port, timeout=0.2)
                go.set()
        finally:
            go.set()
            await pool.aclose()
    assert caught.value.status == RunStatus.TIMEOUT
    assert [r.body for r in replies] == [b"held"] and server.connections == 1
