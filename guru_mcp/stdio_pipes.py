"""Non-blocking stdio for the MCP stdio transport.

The SDK's default stdio streams read and write through a worker thread per line; over pipes (how
MCP clients start servers) the event loop can watch the descriptors itself, which takes a thread
hop off every message (about 0.3 ms per tool call here). As the SDK does, the real descriptors are
moved out of the way first: the wire gets private copies, fd 1 then points at stderr (a stray
`print` cannot corrupt the protocol) and fd 0 at the null device.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sniffio

LINE_LIMIT = 64 * 1024 * 1024
"""Longest message line accepted (large tool arguments and imports travel as one line)."""


class PipeReader:
    """`async for line in reader` over a pipe, decoded as UTF-8."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> PipeReader:
        return self

    async def __anext__(self) -> str:
        line = await self._reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")


class WriteFlow(asyncio.Protocol):
    """The write side's protocol: asyncio's flow-control callbacks (`pause_writing`/`resume_writing`,
    `connection_lost`) turned into an awaitable `drain()`, as `StreamWriter.drain` does."""

    def __init__(self) -> None:
        self._writable = asyncio.Event()
        self._writable.set()
        self._lost = False
        self._error: BaseException | None = None

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost, self._error = True, exc
        self._writable.set()  # nobody waits for a pipe that is gone

    async def drain(self) -> None:
        """Return once the pipe takes more data; raise if it was closed while or before waiting."""
        if self._lost:
            raise ConnectionResetError("Connection lost")
        await self._writable.wait()
        if self._error is not None:
            raise self._error


class PipeWriter:
    """`await write(text)` / `await flush()` over a pipe."""

    def __init__(self, transport: asyncio.WriteTransport, flow: WriteFlow) -> None:
        self._transport = transport
        self._flow = flow

    async def write(self, text: str) -> None:
        self._transport.write(text.encode("utf-8"))

    async def flush(self) -> None:
        if self._transport.is_closing():
            await asyncio.sleep(0)  # let connection_lost run, so drain() sees the pipe is gone
        await self._flow.drain()


def pipes_possible() -> bool:
    """True when both stdin and stdout are pipes or sockets and the loop is asyncio's."""
    try:
        if sniffio.current_async_library() != "asyncio":
            return False
        return all(stat.S_ISFIFO(m) or stat.S_ISSOCK(m) for m in (os.fstat(0).st_mode, os.fstat(1).st_mode))
    except (OSError, sniffio.AsyncLibraryNotFoundError):
        return False


@asynccontextmanager
async def pipe_stdio() -> AsyncIterator[tuple[Any, Any]]:
    """(stdin, stdout) async files for `mcp.server.stdio.stdio_server(stdin, stdout)`."""
    loop = asyncio.get_running_loop()
    wire_in, wire_out = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    read_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0)
    )
    write_transport, flow = await loop.connect_write_pipe(WriteFlow, os.fdopen(wire_out, "wb", buffering=0))
    try:
        yield PipeReader(reader), PipeWriter(write_transport, flow)
    finally:
        read_transport.close()
        write_transport.close()
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)
