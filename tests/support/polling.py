"""The suite's one polling helper, sync and async: a condition checked until it holds or a deadline
passes (bounded in time; prefer waiting on an event where the code under test offers one)."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable

import anyio


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll `predicate` from synchronous code (subprocess-driven tests) until it is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    if predicate():
        return
    raise AssertionError(f"condition not met in {timeout} s")


async def eventually(
    predicate: Callable[[], object | Awaitable[object]], timeout: float = 15.0, interval: float = 0.02
) -> None:
    """Poll `predicate` (a plain or an async function) from async code until it is true (TimeoutError
    after `timeout`)."""
    with anyio.fail_after(timeout):
        while True:
            held = predicate()
            if inspect.isawaitable(held):
                held = await held
            if held:
                return
            await anyio.sleep(interval)
