"""Plain-HTTP (`http://`) requests of API-call actions on a lean HTTP/1.1 pool.

httpx and httpcore cost about 0.3 ms of CPU per request on loopback beyond what the HTTP/1.1 protocol
itself (h11, the parser httpcore uses) needs: request and response models built twice, per-phase
lock, trace and timeout scopes. An API call is one request, so that was the largest share of a tool
call. This pool speaks HTTP/1.1 with h11 directly over anyio sockets and keeps what matters of
httpcore's behaviour:

- every connection is made through `EgressPolicy.resolve`: the addresses checked after DNS are the
  ones connected to (as `GuardedNetworkBackend` does);
- at most `max_connections` requests in flight (more wait, within their timeout); keep-alive
  connections are reused per (host, port), at most `max_idle` kept, each for at most
  `keepalive_expiry` seconds, and dropped if the server closed (or wrote to) them while idle;
- each phase (connect, write, every read) gets the request's timeout, as `httpx.Timeout(t)` does;
- gzip and deflate bodies are decoded as httpx decodes them (the request says it accepts them), and
  the response limit applies to the decoded body, which is never decoded further than the limit
  (`executors/decoding.py`); any other coding passes through as is;
- no retries; a failure is the executor's `RunFailure` with httpcore's error name.

TLS (`https://`) stays on the httpcore transport, with its certificate checks.
"""

from __future__ import annotations

import select
import socket
import time
import zlib
from dataclasses import dataclass

import anyio
import anyio.abc
import h11

from guru_mcp.egress import EgressPolicy
from guru_mcp.errors import GuruError, RunFailure
from guru_mcp.executors.decoding import BoundedDecoder
from guru_mcp.models import RunStatus

_READ_SIZE = 65536


@dataclass
class Reply:
    """A response as the executor uses it: status, headers (lower-cased names), body."""

    status_code: int
    reason_phrase: str
    headers: dict[str, str]
    """Lower-cased name -> value; repeated headers joined with ", " (as `httpx.Headers.get`)."""
    body: bytes
    truncated: bool

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class _Connection:
    __slots__ = ("idle_since", "sock", "state", "stream", "writing")

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.sock: socket.socket = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        self.state = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0
        self.writing = False

    def reusable(self, now: float, expiry: float) -> bool:
        """Still fit to carry a request: not idle too long, and nothing to read (a closed or
        chattering idle connection is readable)."""
        if now - self.idle_since > expiry:
            return False
        try:
            poller = select.poll()  # not select(): descriptors past FD_SETSIZE are fine
            poller.register(self.sock, select.POLLIN)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False


class PlainHttpPool:
    """Sends one `http://` request at a time per connection; see the module docstring."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        max_connections: int = 100,
        max_idle: int = 20,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self.policy = policy
        self._slots = anyio.Semaphore(max_connections, fast_acquire=True)
        """Requests in flight (each holds one connection); more wait, within their timeout."""
        self.max_idle = max_idle
        self.keepalive_expiry = keepalive_expiry
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._idle_count = 0

    async def send(
        self,
        method: str,
        host: str,
        port: int,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        *,
        timeout: float,
        limit: int,
    ) -> Reply:
        """One request; the body read up to `limit` bytes (decoded). Raises `RunFailure` (status
        `timeout` for a timeout), or `EgressDenied` from the policy."""
        key = (host, port)
        conn: _Connection | None = None
        done = False
        try:
            with anyio.CancelScope() as scope:
                scope.deadline = anyio.current_time() + timeout
                async with self._slots:
                    try:
                        conn = await self._take(key) or await self._connect(host, port)
                        reply, done = await self._exchange(
                            conn, scope, method, target, headers, body, timeout, limit
                        )
                    finally:
                        if conn is not None:
                            await self._release(key, conn, done)
            if scope.cancelled_caught:
                raise RunFailure(
                    f"the request to {host} timed out after {timeout:g} s", status=RunStatus.TIMEOUT
                )
            return reply
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise RunFailure(f"the request to {host} failed: {_failure_name(conn, exc)}: {exc}") from None
        except h11.RemoteProtocolError as exc:
            raise RunFailure(f"the request to {host} failed: RemoteProtocolError: {exc}") from None
        except h11.LocalProtocolError as exc:
            raise RunFailure(f"the request to {host} failed: LocalProtocolError: {exc}") from None
        except zlib.error as exc:
            raise RunFailure(f"the request to {host} failed: DecodingError: {exc}") from None

    async def _release(self, key: tuple[str, int], conn: _Connection, done: bool) -> None:
        """Keep a connection that finished its exchange cleanly (room permitting); close any other."""
        if done and self._idle_count < self.max_idle:
            conn.idle_since = time.monotonic()
            self._idle.setdefault(key, []).append(conn)
            self._idle_count += 1
            return
        with anyio.CancelScope(shield=True):
            await conn.stream.aclose()

    async def _take(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            self._idle_count -= 1
            if conn.reusable(now, self.keepalive_expiry):
                return conn
            await conn.stream.aclose()
        return None

    async def _connect(self, host: str, port: int) -> _Connection:
        addresses = await self.policy.resolve(host, port)
        last: OSError | None = None
        for address in addresses:
            try:
                return _Connection(await anyio.connect_tcp(address, port))
            except OSError as exc:
                last = exc
        assert last is not None
        raise _ConnectFailed(str(last)) from None

    async def _exchange(
        self,
        conn: _Connection,
        scope: anyio.CancelScope,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeout: float,
        limit: int,
    ) -> tuple[Reply, bool]:
        """Write the request, read the response. Returns it and whether the connection may be kept."""
        state = conn.state
        data = state.send(h11.Request(method=method, target=target, headers=headers))
        if body:
            data += state.send(h11.Data(data=body))
        data += state.send(h11.EndOfMessage())
        scope.deadline = anyio.current_time() + timeout
        conn.writing = True
        await conn.stream.send(data)
        conn.writing = False
        response: h11.Response | None = None
        decoder: BoundedDecoder | None = None
        chunks: list[bytes] = []
        size = 0
        while True:
            event = state.next_event()
            if event is h11.NEED_DATA:
                scope.deadline = anyio.current_time() + timeout
                try:
                    received = await conn.stream.receive(_READ_SIZE)
                except anyio.EndOfStream:
                    received = b""
                state.receive_data(received)
                continue
            if isinstance(event, h11.Response):
                response = event
                decoder = BoundedDecoder.of(
                    (v.decode("latin-1") for n, v in event.headers if n == b"content-encoding"), limit
                )
            elif isinstance(event, h11.Data):
                assert decoder is not None
                part = decoder.decode(bytes(event.data))
                chunks.append(part)
                size += len(part)
                if size > limit:
                    return _reply(response, b"".join(chunks)[:limit], True), False
            elif isinstance(event, h11.EndOfMessage):
                assert decoder is not None
                tail = decoder.flush()
                if tail:
                    chunks.append(tail)
                    size += len(tail)
                content = b"".join(chunks)
                truncated = size > limit
                reply = _reply(response, content[:limit] if truncated else content, truncated)
                keep = state.our_state is h11.DONE and state.their_state is h11.DONE
                if keep:
                    state.start_next_cycle()
                return reply, keep
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("Server disconnected without sending a response.")
            # InformationalResponse (1xx): wait for the final response

    async def aclose(self) -> None:
        idle = [conn for conns in self._idle.values() for conn in conns]
        self._idle.clear()
        self._idle_count = 0
        with anyio.CancelScope(shield=True):
            for conn in idle:
                await conn.stream.aclose()


class _ConnectFailed(GuruError, OSError):
    """No address of the host accepted the connection (an `OSError`, so `send` reports it as one)."""


def _failure_name(conn: _Connection | None, exc: BaseException) -> str:
    """httpcore's name for the failure (the executor's messages name it, as they did with httpx)."""
    if isinstance(exc, _ConnectFailed) or conn is None:
        return "ConnectError"
    if conn.writing:
        return "WriteError"
    return "ReadError"


def _reply(response: h11.Response | None, body: bytes, truncated: bool) -> Reply:
    assert response is not None
    headers: dict[str, str] = {}
    for name, value in response.headers:
        key = name.decode("latin-1")  # h11 lower-cases names
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return Reply(response.status_code, response.reason.decode("latin-1"), headers, body, truncated)
