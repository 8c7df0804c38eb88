"""The warm pool's bookkeeping with fake sandboxes (no Docker): hand-outs are final, pre-imports adapt."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from guru_mcp.executors.container import Sandbox
from guru_mcp.executors.pool import WarmPool

pytestmark = pytest.mark.anyio


class Factory:
    def __init__(self) -> None:
        self.made: list[Sandbox] = []
        self.discarded: list[Sandbox] = []

    async def make(self, preimport: bool) -> Sandbox:
        await anyio.lowlevel.checkpoint()
        box = Sandbox(recipe=None, preimport=preimport)  # type: ignore[arg-type]
        self.made.append(box)
        return box

    def discard(self, box: Sandbox) -> None:
        self.discarded.append(box)


async def test_a_sandbox_handed_out_is_never_handed_out_again():
    factory = Factory()
    pool = WarmPool(2, factory.make, factory.discard, preimport=True)
    taken: list[Sandbox] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(pool.run)
        with anyio.fail_after(5):
            for _ in range(20):
                await pool.wait_full()
                box = pool.take()
                assert box is not None
                taken.append(box)
        tg.cancel_scope.cancel()
    assert len(set(taken)) == 20  # 20 distinct sandboxes (compared by identity)
    assert pool.ready <= 2 and not set(pool.drain()) & set(taken)


async def test_the_oldest_waiting_sandbox_goes_first():
    factory = Factory()
    pool = WarmPool(3, factory.make, factory.discard, preimport=False)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pool.run)
        with anyio.fail_after(5):
            await pool.wait_full()
        first, second = pool.take(), pool.take()
        tg.cancel_scope.cancel()
    assert [first, second] == factory.made[:2]


async def test_an_empty_pool_says_so_and_refills_without_preimports_under_pressure():
    factory = Factory()
    pool = WarmPool(1, factory.make, factory.discard, preimport=True, pressure_window=60)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pool.run)
        with anyio.fail_after(5):
            await pool.wait_full()
            assert pool.take() is not None and factory.made[0].preimport
            assert pool.take() is None  # a miss: the caller starts a cold sandbox
            assert pool.under_pressure()
            await pool.wait_full()
        tg.cancel_scope.cancel()
    assert factory.made[-1].preimport is False


async def test_once_quiet_plain_sandboxes_are_swapped_for_preimporting_ones():
    factory = Factory()
    pool = WarmPool(1, factory.make, factory.discard, preimport=True, pressure_window=0.05)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pool.run)
        with anyio.fail_after(10):
            await pool.wait_full()
            pool.take()
            assert pool.take() is None
            await pool.wait_full(preimported=True)
        tg.cancel_scope.cancel()
    plain = [box for box in factory.made if not box.preimport]
    assert plain and plain[0] in factory.discarded
    assert factory.made[-1].preimport


async def test_failures_to_start_a_sandbox_back_off_and_retry():
    factory = Factory()
    calls = 0

    async def flaky(preimport: bool) -> Sandbox | None:
        nonlocal calls
        calls += 1
        return None if calls == 1 else await factory.make(preimport)

    pool = WarmPool(1, flaky, factory.discard, preimport=False)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pool.run)
        with anyio.fail_after(5):
            await pool.wait_full()
        tg.cancel_scope.cancel()
    assert calls == 2 and pool.ready == 1
