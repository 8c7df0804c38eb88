"""A Unix-socket listener and byte stream on `anyio.wait_readable` / `wait_writable`.

anyio 4.16's own UNIX sockets on asyncio register `loop.add_reader(sock, future.set_result, None)`
and deregister only once the waiting task has run; when the socket is reported ready again before
that (several connections arriving together, as a sandbox's HTTP clients do), the future is resolved
twice and the event loop reports `InvalidStateError`. `wait_readable` guards against exactly that,
so these thin wrappers use it instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import ByteStream

CHUNK = 64 * 1024


class UnixStream(ByteStream):
    """One accepted connection."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock: socket.socket | None = sock

    def _live(self) -> socket.socket:
        if self._sock is None:
            raise anyio.ClosedResourceError
        return self._sock

    async def receive(self, max_bytes: int = CHUNK) -> bytes:
        while True:
            sock = self._live()
            try:
                data = sock.recv(max_bytes)
            except (BlockingIOError, InterruptedError):
                await anyio.wait_readable(sock)
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            if not data:
                raise anyio.EndOfStream
            return data

    async def send(self, item: bytes) -> None:
        view = memoryview(item)
        while view:
            sock = self._live()
            try:
                sent = sock.send(view)
            except (BlockingIOError, InterruptedError):
                await anyio.wait_writable(sock)
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            view = view[sent:]

    async def send_eof(self) -> None:
        with contextlib.suppress(OSError):
            self._live().shutdown(socket.SHUT_WR)

    async def aclose(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            anyio.notify_closing(sock)
            sock.close()
        await anyio.lowlevel.checkpoint()


class UnixListener:
    """A listening Unix socket whose file is connectable by any user (`mode`)."""

    def __init__(self, path: Path, *, mode: int = 0o666, backlog: int = 128) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            os.chmod(path, mode)
            sock.listen(backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock: socket.socket | None = sock

    async def serve(self, handler: Callable[[UnixStream], Coroutine[Any, Any, None]]) -> None:
        """Accept connections, each handled in its own task, until cancelled."""
        async with anyio.create_task_group() as tg:
            while True:
                sock = self._sock
                if sock is None:
                    return
                try:
                    conn, _ = sock.accept()
                except (BlockingIOError, InterruptedError):
                    await anyio.wait_readable(sock)
                    continue
                tg.start_soon(handler, UnixStream(conn))

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(RuntimeError):  # no running loop: nothing waits on it
                anyio.notify_closing(sock)
            sock.close()
