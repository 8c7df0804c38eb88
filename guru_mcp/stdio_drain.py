"""Ending an stdio session without losing answers.

The MCP SDK cancels the requests in flight when its input ends, so neither the client closing
stdin nor a signal may end the input while a call is unanswered. `GracefulStdio` sits between the
transport and the session: it forwards messages both ways and keeps the ids of requests not yet
answered. At the end of stdin it ends the session's input only after the server has drained its
runs (`guru_mcp.shutdown.stop_gracefully`) and every request in flight has had its answer written
(bounded by `ANSWER_TIMEOUT`); on a signal, `serve_stdio` drains, waits for `answered()`, then
closes the transport. Calls that come meanwhile are read and refused ("shutting down").
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from mcp_types import JSONRPCError, JSONRPCRequest, JSONRPCResponse

ANSWER_TIMEOUT = 10.0
"""Seconds to wait, once runs have drained, for the answers of requests still in flight."""


class GracefulStdio:
    def __init__(self, stop: Callable[[], Awaitable[None]]) -> None:
        self._stop = stop
        self._pending: set[Any] = set()
        self._answered = anyio.Event()
        self._written = anyio.Event()

    async def answered(self) -> None:
        """Return once every request read so far has its answer written (or after ANSWER_TIMEOUT)."""
        with anyio.move_on_after(ANSWER_TIMEOUT):
            while self._pending:
                await self._answered.wait()

    async def _read(self, source: ObjectReceiveStream[Any], sink: ObjectSendStream[Any]) -> None:
        async with sink:
            async for item in source:
                message = getattr(item, "message", None)
                if isinstance(message, JSONRPCRequest):
                    self._pending.add(message.id)
                await sink.send(item)
            await self._stop()  # stdin closed: the calls in flight are still answered
            await self.answered()

    async def _write(self, source: ObjectReceiveStream[Any], sink: ObjectSendStream[Any]) -> None:
        try:
            async with source, sink:
                async for item in source:
                    await sink.send(item)
                    message = getattr(item, "message", None)
                    if isinstance(message, JSONRPCResponse | JSONRPCError):
                        self._pending.discard(message.id)
                        self._answered.set()
                        self._answered = anyio.Event()
        finally:
            self._written.set()

    @asynccontextmanager
    async def wrap(
        self, read: ObjectReceiveStream[Any], write: ObjectSendStream[Any]
    ) -> AsyncIterator[tuple[ObjectReceiveStream[Any], ObjectSendStream[Any]]]:
        """The (read, write) pair to hand to the MCP session instead of the transport's."""
        to_session, session_reads = anyio.create_memory_object_stream[Any](16)
        session_writes, from_session = anyio.create_memory_object_stream[Any](16)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._read, read, to_session)
            tg.start_soon(self._write, from_session, write)
            yield session_reads, session_writes
            with anyio.move_on_after(ANSWER_TIMEOUT):  # the session's last words reach the client
                await self._written.wait()
            tg.cancel_scope.cancel()
