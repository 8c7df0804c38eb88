"""The sandbox egress proxy: the only way out of a container started in `proxy` egress mode.

Each sandbox container has no network of its own (`network_mode: none`). The server runs one small
HTTP proxy per container on a Unix socket in a host directory that is bind-mounted into that container
(and only that one); the in-container runner exposes the socket on 127.0.0.1:3128 and the container's
`HTTP_PROXY`/`HTTPS_PROXY` point there, so `requests`, `httpx` and `urllib` work unchanged.

The proxy speaks just enough HTTP/1.1 for that: absolute-URI requests for `http://` (forwarded with
`Connection: close`, one request per connection, so a connection can never be reused towards another
host) and `CONNECT host:port` tunnels (HTTPS, end to end encrypted; the proxy sees only the host).
Every target passes the server's `EgressPolicy` (private and metadata addresses refused after DNS
resolution unless an operator allowed them; we connect to exactly the address that was checked), plus
the action's own `allowed_hosts` when it has any. Refusals get a `403` whose body says why.

A proxy is *disarmed* until a job is handed to its container: nothing the container does before its
one run (pre-imports) can reach out, and what the run does is recorded against that run only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
from anyio.abc import ByteStream, SocketStream, TaskGroup
from anyio.streams.buffered import BufferedByteReceiveStream

from guru_mcp.egress import EgressPolicy, host_allowed, refusal_line
from guru_mcp.errors import EgressDenied, RequestRefused
from guru_mcp.executors.unix_socket import UnixListener, UnixStream
from guru_mcp.secrets import Masker

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
"""Largest plain-HTTP request body read whole to check it for host-limited secrets."""
HEAD_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
MAX_CONNECTIONS = 32
_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization", b"te", b"upgrade"}


class _Refused(RequestRefused):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class EgressProxy:
    """An HTTP proxy on one Unix socket, serving one sandbox container for one run."""

    def __init__(self, policy: EgressPolicy, socket_path: Path) -> None:
        self.policy = policy
        self.socket_path = socket_path
        self.hosts: list[str] = []
        """Hosts this run connected to, in first-contact order."""
        self.refused: dict[str, str] = {}
        """Hosts this run tried and was refused, in order, each with the line that says how to allow it."""
        self._armed = False
        self._allowed_hosts: tuple[str, ...] = ()
        self._scoped: list[tuple[str, Masker, tuple[str, ...]]] = []
        """Host-limited secrets of the run: name, a masker finding its value, the hosts it may go to."""
        self._scope = anyio.CancelScope()
        self._slots = anyio.Semaphore(MAX_CONNECTIONS)
        self._listener: UnixListener | None = None

    async def start(self, task_group: TaskGroup) -> None:
        """Create the socket (connectable by the container's non-root user) and serve it."""
        self._listener = UnixListener(self.socket_path, mode=0o666)
        task_group.start_soon(self._serve)

    async def _serve(self) -> None:
        assert self._listener is not None
        try:
            with self._scope:
                await self._listener.serve(self._handle_safely)
        finally:
            self._listener.close()

    def arm(
        self,
        allowed_hosts: Sequence[str] = (),
        *,
        secrets: Mapping[str, tuple[str, Sequence[str]]] | None = None,
    ) -> None:
        """Start letting traffic through, for the run that is about to be handed to the container.

        `secrets`: the run's host-limited secrets, name -> (value, hosts it may be sent to). A plain
        HTTP request holding a value (in any masked form) goes only to that secret's hosts; a CONNECT
        tunnel, whose content cannot be seen, only to hosts that every such secret allows."""
        self._allowed_hosts = tuple(allowed_hosts)
        self._scoped = [
            (name, Masker([value]), tuple(hosts))
            for name, (value, hosts) in sorted((secrets or {}).items())
            if hosts
        ]
        self._armed = True

    def close(self) -> None:
        """Stop serving: every open connection is cut."""
        self._armed = False
        self._scope.cancel()
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)

    # -- one client connection -------------------------------------------------------------------

    async def _handle_safely(self, client: UnixStream) -> None:
        try:
            await self._handle(client)
        except Exception:  # one broken connection must not take the proxy down
            logger.exception("egress proxy: connection failed")

    async def _handle(self, client: UnixStream) -> None:
        async with client, self._slots:
            reader = BufferedByteReceiveStream(client)
            try:
                with anyio.fail_after(HEAD_TIMEOUT):
                    head = await reader.receive_until(b"\r\n\r\n", MAX_HEAD_BYTES)
            except (
                anyio.IncompleteRead,
                anyio.DelimiterNotFound,
                TimeoutError,
                OSError,
                anyio.BrokenResourceError,
            ):
                return
            try:
                body = await self._scoped_body(head, reader)
                upstream, connect = await self._open(head, body)
            except _Refused as exc:
                await _send_quietly(client, _error_response(exc.status, exc.reason))
                return
            async with upstream:
                if connect:
                    if not await _send_quietly(client, b"HTTP/1.1 200 Connection established\r\n\r\n"):
                        return
                else:
                    if not await _send_quietly(upstream, _origin_form(head) + (body or b"")):
                        return
                if reader.buffer and not await _send_quietly(upstream, bytes(reader.buffer)):
                    return
                await _splice(client, upstream)

    async def _scoped_body(self, head: bytes, reader: BufferedByteReceiveStream) -> bytes | None:
        """With host-limited secrets in the run, a plain HTTP request's whole body, read before anything
        is forwarded so it can be checked too (`Content-Length` bodies up to MAX_BODY_BYTES). None when
        there is nothing to check: no such secrets, or a CONNECT."""
        if not self._scoped or head.split(b" ", 1)[0].upper() == b"CONNECT":
            return None
        fields = _header_fields(head)
        if "transfer-encoding" in fields:
            raise _Refused(
                411, "send request bodies with a Content-Length (this run holds host-limited secrets)"
            )
        length_text = fields.get("content-length", "0").strip()
        if not length_text.isdigit() or int(length_text) > MAX_BODY_BYTES:
            raise _Refused(
                413, f"a request body must have a Content-Length of at most {MAX_BODY_BYTES} bytes"
            )
        try:
            with anyio.fail_after(HEAD_TIMEOUT):
                return await reader.receive_exactly(int(length_text)) if int(length_text) else b""
        except (anyio.IncompleteRead, TimeoutError, OSError, anyio.BrokenResourceError):
            raise _Refused(400, "the request body ended early") from None

    def _check_scoped_secrets(self, host: str, connect: bool, head: bytes, body: bytes | None) -> None:
        if connect:
            for name, _, hosts in self._scoped:
                if not host_allowed(host, hosts):
                    raise _Refused(
                        403,
                        f"egress refused: this run holds secret {name}, which may only be sent to {', '.join(hosts)}; "
                        f"an HTTPS tunnel to {host} cannot be checked, so it is refused",
                    )
            return
        text = (head + (body or b"")).decode("utf-8", "replace")
        for name, masker, hosts in self._scoped:
            if not host_allowed(host, hosts) and masker.contains(text):
                raise _Refused(
                    403, f"egress refused: secret {name} may only be sent to {', '.join(hosts)}, not {host}"
                )

    async def _open(self, head: bytes, body: bytes | None = None) -> tuple[SocketStream, bool]:
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _Refused(400, "malformed request line")
        method, target, _ = parts
        if method.upper() == "CONNECT":
            host, port = _split_authority(target)
        else:
            url = urllib.parse.urlsplit(target)
            if url.scheme.lower() != "http" or not url.hostname:
                raise _Refused(400, "send absolute http:// URLs, or use CONNECT for https")
            try:
                host, port = url.hostname, url.port or 80
            except ValueError:
                raise _Refused(400, "invalid port") from None
        host = host.lower()
        if not self._armed:
            raise _Refused(403, "egress refused: no run is active in this sandbox")
        if self._allowed_hosts and not host_allowed(host, self._allowed_hosts):
            self.refused.setdefault(host, refusal_line(host, by_action=True))
            allowed = ", ".join(self._allowed_hosts)
            raise _Refused(403, f"egress refused: {host} is not in this action's allowed hosts ({allowed})")
        try:
            self._check_scoped_secrets(host, method.upper() == "CONNECT", head, body)
        except _Refused:
            self.refused.setdefault(host, refusal_line(host, by_secret=True))
            raise
        try:
            addresses = await self.policy.resolve(host, port)
        except EgressDenied as exc:
            if exc.host:
                self.refused.setdefault(host, refusal_line(host))
            raise _Refused(403, str(exc)) from None
        last: Exception | None = None
        for address in addresses:
            try:
                with anyio.fail_after(CONNECT_TIMEOUT):
                    upstream = await anyio.connect_tcp(address, port)
            except (OSError, TimeoutError) as exc:
                last = exc
                continue
            self._note(self.hosts, host)
            return upstream, method.upper() == "CONNECT"
        raise _Refused(502, f"cannot connect to {host}:{port}: {last}")

    @staticmethod
    def _note(bucket: list[str], host: str) -> None:
        if host not in bucket:
            bucket.append(host)


def _header_fields(head: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            fields[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return fields


def _split_authority(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _Refused(400, "CONNECT needs host:port")
    return host.strip("[]"), int(port)


def _origin_form(head: bytes) -> bytes:
    """The request as the origin server expects it: origin-form target, no proxy headers, one request."""
    lines = head.split(b"\r\n")  # `receive_until` already dropped the blank line that ends the head
    method, target, version = lines[0].split(b" ")
    url = urllib.parse.urlsplit(target.decode("latin-1"))
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    out = [b" ".join((method, path.encode("latin-1"), version))]
    for line in lines[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name not in _HOP_BY_HOP:
            out.append(line)
    out.append(b"Connection: close")
    return b"\r\n".join(out) + b"\r\n\r\n"


def _error_response(status: int, reason: str) -> bytes:
    titles = {
        400: "Bad Request",
        403: "Forbidden",
        411: "Length Required",
        413: "Content Too Large",
        502: "Bad Gateway",
    }
    body = f"guru-mcp egress proxy: {reason}\n".encode()
    return (
        f"HTTP/1.1 {status} {titles.get(status, 'Error')}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nX-Guru-Egress: refused\r\n\r\n"
    ).encode() + body


async def _send_quietly(stream: ByteStream, data: bytes) -> bool:
    try:
        await stream.send(data)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        return False
    return True


async def _splice(client: ByteStream, upstream: ByteStream) -> None:
    """Copy bytes both ways until the upstream side is done (half-closes are passed on)."""

    async def client_to_upstream() -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            async for chunk in client:
                await upstream.send(chunk)
            await upstream.send_eof()

    async with anyio.create_task_group() as tg:
        tg.start_soon(client_to_upstream)
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            async for chunk in upstream:
                await client.send(chunk)
        tg.cancel_scope.cancel()
