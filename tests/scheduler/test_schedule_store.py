"""The schedule state table: the row claim that makes a due time fire once, leases, and sync."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import anyio
import pytest

from guru_mcp.models import StoredAction, parse_spec
from guru_mcp.store import Store, create_db_engine, migrate
from guru_mcp.store.schedules import Claim, Finished, ScheduleStore, SyncItem
from tests.conftest import api_action
from tests.scheduler.conftest import START, utc
from tests.support.records import run_record

pytestmark = pytest.mark.anyio
FP = "0 * * * *\x1fUTC"
DUE = utc(2026, 3, 7, 1)


@dataclass
class Db:
    url: str
    store: Store
    schedules: ScheduleStore
    action: StoredAction

    def other_process(self) -> ScheduleStore:
        """A second engine on the same file, as another server process would have."""
        return Store(create_db_engine(self.url)).schedules

    def claim(self, due=DUE, *, fp=FP, lease=timedelta(minutes=2), exclusive=True) -> Claim:
        return Claim(self.action.id, due, fp, due + lease, exclusive)


@pytest.fixture
async def db(tmp_path, db_url) -> AsyncIterator[Db]:
    url = db_url or f"sqlite:///{tmp_path / 'state.db'}"
    engine = create_db_engine(url)
    await anyio.to_thread.run_sync(migrate, engine)
    store = Store(engine)
    await store.gurus.ensure_guru("default")
    spec = parse_spec(api_action("job", "https://example.com/", schedule={"cron": "0 * * * *"}))
    action, _ = await store.actions.save_action("default", spec, enabled=True)
    schedules = store.schedules
    await schedules.sync([SyncItem(action.id, action.revision, FP, START)])
    yield Db(url, store, schedules, action)
    engine.dispose()


async def test_of_many_processes_racing_for_one_due_time_exactly_one_wins(db: Db) -> None:
    results: list[bool] = []

    async def contender(n: int) -> None:
        store = db.other_process()
        [lost] = await store.claim([db.claim()], now=DUE, owner=f"p{n}")
        results.append(lost is None)
        store.engine.dispose()

    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(contender, n)
    assert sorted(results) == [False] * 7 + [True]
    [state] = (await db.schedules.states([db.action.id])).values()
    assert state.last_due_at == DUE and state.claimed_by is not None and state.last_fired_at == DUE


async def test_a_due_time_at_or_before_the_last_claimed_one_is_refused(db: Db) -> None:
    assert await db.schedules.claim([db.claim()], now=DUE, owner="a") == [None]
    [again] = await db.schedules.claim([db.claim(exclusive=False)], now=DUE, owner="b")
    [earlier] = await db.schedules.claim(
        [db.claim(DUE - timedelta(hours=1), exclusive=False)], now=DUE, owner="b"
    )
    assert again is not None and again.last_due_at == DUE and again.claimed_by == "a"
    assert earlier is not None


async def test_a_claim_from_a_stale_view_or_for_a_disabled_action_is_refused(db: Db) -> None:
    [stale] = await db.schedules.claim([db.claim(fp="0 9 * * *\x1fUTC")], now=DUE, owner="a")
    assert stale is not None
    await db.store.actions.set_enabled("default", ["job"], False)
    [disabled] = await db.schedules.claim([db.claim()], now=DUE, owner="a")
    assert disabled is not None and disabled.last_due_at is None


async def test_a_live_lease_of_another_process_blocks_exclusive_claims_until_it_expires(db: Db) -> None:
    later = DUE + timedelta(minutes=1)
    assert await db.schedules.claim([db.claim()], now=DUE, owner="a") == [None]  # lease until 01:02
    [blocked] = await db.schedules.claim([db.claim(later)], now=later, owner="b")
    assert blocked is not None and blocked.claimed_by == "a"
    assert await db.schedules.claim([db.claim(later, exclusive=False)], now=later, owner="b") == [None]
    assert await db.schedules.claim([db.claim(later + timedelta(minutes=1))], now=later, owner="b") == [None]
    expired = DUE + timedelta(minutes=10)
    assert await db.schedules.claim([db.claim(expired)], now=expired, owner="c") == [None]


async def test_finish_releases_only_the_lease_it_holds(db: Db) -> None:
    await db.schedules.claim([db.claim()], now=DUE, owner="a")
    await db.schedules.finish([Finished(db.action.id, DUE)], "b")
    assert (await db.schedules.states([db.action.id]))[db.action.id].claimed_by == "a"
    await db.schedules.finish([Finished(db.action.id, DUE - timedelta(hours=1))], "a")
    assert (await db.schedules.states([db.action.id]))[db.action.id].claimed_by == "a"
    await db.schedules.finish([Finished(db.action.id, DUE)], "a")
    state = (await db.schedules.states([db.action.id]))[db.action.id]
    assert state.lease_until is None and state.lease_until is None and state.last_error == ""
    later = DUE + timedelta(hours=1)
    await db.schedules.claim([db.claim(later)], now=later, owner="a")
    await db.schedules.finish([Finished(db.action.id, later, "boom")], "a")
    state = (await db.schedules.states([db.action.id]))[db.action.id]
    assert state.lease_until is None and state.last_error == "boom"


async def test_claims_in_one_batch_are_won_or_lost_each_on_its_own(db: Db) -> None:
    others = []
    for name in ("two", "three", "four"):
        spec = parse_spec(api_action(name, "https://example.com/", schedule={"cron": "0 * * * *"}))
        action, _ = await db.store.actions.save_action("default", spec, enabled=True)
        others.append(action)
    await db.schedules.sync([SyncItem(a.id, a.revision, FP, START) for a in others])
    await db.store.actions.set_enabled("default", ["three"], False)
    two, three, four = others
    batch = [
        db.claim(),
        Claim(two.id, DUE, FP, DUE + timedelta(minutes=5), exclusive=False),
        Claim(three.id, DUE, FP, DUE + timedelta(minutes=2), exclusive=True),
        Claim(four.id, DUE, "stale\x1fUTC", DUE + timedelta(minutes=2), exclusive=True),
    ]
    results = await db.schedules.claim(batch, now=DUE, owner="a")
    assert [r is None for r in results] == [True, True, False, False]
    states = await db.schedules.states([db.action.id, two.id])
    assert states[two.id].lease_until == DUE + timedelta(minutes=5)
    await db.schedules.finish([Finished(db.action.id, DUE), Finished(two.id, DUE)], "a")
    states = await db.schedules.states([db.action.id, two.id])
    assert {s.lease_until for s in states.values()} == {None}


async def test_recover_tells_held_from_recorded_from_orphaned(db: Db) -> None:
    await db.schedules.claim([db.claim()], now=DUE, owner="dead")
    lease_end = DUE + timedelta(minutes=2)
    held = await db.schedules.recover(db.action.id, DUE, now=DUE, owner="b", lease_until=lease_end)
    assert held == ("held", lease_end)
    orphaned = await db.schedules.recover(
        db.action.id, DUE, now=lease_end, owner="b", lease_until=lease_end + timedelta(minutes=5)
    )
    assert orphaned == ("orphaned", None)
    state = (await db.schedules.states([db.action.id]))[db.action.id]
    assert state.claimed_by == "b"
    again = await db.schedules.recover(db.action.id, DUE, now=lease_end, owner="c", lease_until=lease_end)
    assert again == ("held", lease_end + timedelta(minutes=5))


async def test_recover_clears_an_expired_lease_whose_run_was_recorded(db: Db) -> None:
    await db.schedules.claim([db.claim()], now=DUE, owner="dead")
    await db.store.runs.start_run(run_record(db.action, id="r1", due_at=DUE, started_at=DUE))
    later = DUE + timedelta(hours=1)
    assert await db.schedules.recover(db.action.id, DUE, now=later, owner="b", lease_until=later) == (
        "done",
        None,
    )
    assert (await db.schedules.states([db.action.id]))[db.action.id].lease_until is None
    assert (await db.schedules.last_runs([db.action.id]))[db.action.id].run_id == "r1"


async def test_sync_starts_a_changed_schedule_afresh_but_never_from_a_stale_view(db: Db) -> None:
    changed_at = START + timedelta(hours=5)
    spec = db.action.spec.model_copy(
        update={"schedule": db.action.spec.schedule.model_copy(update={"cron": "0 9 * * *"})}
    )
    newer, _ = await db.store.actions.save_action("default", spec, enabled=True)
    stale = await db.schedules.sync([SyncItem(db.action.id, db.action.revision, "old\x1fUTC", changed_at)])
    assert stale[db.action.id].fingerprint == FP and stale[db.action.id].since == START
    fresh = await db.schedules.sync([SyncItem(newer.id, newer.revision, "0 9 * * *\x1fUTC", changed_at)])
    assert fresh[db.action.id].fingerprint == "0 9 * * *\x1fUTC" and fresh[db.action.id].since == changed_at
    assert fresh[db.action.id].anchor == changed_at


async def test_an_inactive_schedule_gets_no_row_and_rows_go_with_their_action(db: Db) -> None:
    spec = parse_spec(
        api_action("paused", "https://example.com/", schedule={"cron": "0 * * * *", "enabled": False})
    )
    paused, _ = await db.store.actions.save_action("default", spec, enabled=True)
    assert await db.schedules.sync([SyncItem(paused.id, paused.revision, "", START)]) == {}
    await db.store.actions.delete_action("default", "job")
    assert await db.schedules.states([db.action.id]) == {}
