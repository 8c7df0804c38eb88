"""The scheduler loop with a fake clock: fire times, changes while waiting, overlap, misfire,
restarts, several processes on one database, and the path through RunService."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import anyio
import pytest

from guru_mcp.app import open_app
from guru_mcp.clock import FakeClock
from guru_mcp.executors import Executor
from guru_mcp.models import ActionSpec, ActionType, RunStatus, Trigger, parse_spec
from guru_mcp.scheduler import fire_with
from guru_mcp.store.schedules import Claim
from guru_mcp.testing import FakeExecutor
from tests.conftest import api_action
from tests.scheduler.conftest import START, Harness, utc
from tests.support.records import run_record

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("cron", "tz", "start", "end", "expected"),
    [
        pytest.param(  # daily at 09:00 over New York's spring-forward (2026-03-08)
            "0 9 * * *",
            "America/New_York",
            START,
            utc(2026, 3, 10),
            [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), utc(2026, 3, 9, 13)],
            id="daily-new-york-spring",
        ),
        pytest.param(  # hourly over New York's fall-back (2026-11-01): 01:00 EDT, 01:00 EST, 02:00 EST
            "0 * * * *",
            "America/New_York",
            utc(2026, 11, 1, 4, 30),
            utc(2026, 11, 1, 7, 30),
            [utc(2026, 11, 1, 5), utc(2026, 11, 1, 6), utc(2026, 11, 1, 7)],
            id="hourly-new-york-fall",
        ),
        pytest.param(  # Mondays at 09:00 over Berlin's spring-forward (2026-03-29)
            "0 9 * * 1",
            "Europe/Berlin",
            utc(2026, 3, 20),
            utc(2026, 4, 7),
            [utc(2026, 3, 23, 8), utc(2026, 3, 30, 7), utc(2026, 4, 6, 7)],
            id="weekly-berlin-spring",
        ),
        pytest.param(  # every 15 minutes: 01:45 EST is followed by 03:00 EDT, 15 real minutes later
            "*/15 * * * *",
            "America/New_York",
            utc(2026, 3, 8, 6, 10),
            utc(2026, 3, 8, 7, 20),
            [
                utc(2026, 3, 8, 6, 15),
                utc(2026, 3, 8, 6, 30),
                utc(2026, 3, 8, 6, 45),
                utc(2026, 3, 8, 7),
                utc(2026, 3, 8, 7, 15),
            ],
            id="quarter-hourly-new-york-spring",
        ),
        pytest.param(  # every 15 minutes keeps going through Berlin's repeated 02:00-03:00 (2026-10-25)
            "*/15 * * * *",
            "Europe/Berlin",
            utc(2026, 10, 24, 23, 50),
            utc(2026, 10, 25, 2, 5),
            [utc(2026, 10, 25, 0, m) for m in (0, 15, 30, 45)]
            + [utc(2026, 10, 25, 1, m) for m in (0, 15, 30, 45)]
            + [utc(2026, 10, 25, 2)],
            id="quarter-hourly-berlin-fall",
        ),
        pytest.param(  # 02:30 does not exist on 2026-03-08 in New York: it fires once at 03:00 EDT
            "30 2 * * *",
            "America/New_York",
            START,
            utc(2026, 3, 10),
            [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)],
            id="skipped-wall-time",
        ),
        pytest.param(  # 01:30 happens twice on 2026-11-01 in New York: a daily job runs once
            "30 1 * * *",
            "America/New_York",
            utc(2026, 10, 31),
            utc(2026, 11, 3),
            [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)],
            id="repeated-wall-time",
        ),
    ],
)
async def test_seed_expressions_fire_at_the_right_instants_across_daylight_saving_changes(
    h: Harness, cron: str, tz: str, start: datetime, end: datetime, expected: list[datetime]
) -> None:
    h.clock.set(start)
    await h.start()
    await h.schedule("job", cron, tz)
    await h.until(end)
    assert h.dues("job") == expected
    assert [c.at for c in h.calls] == expected  # fired at the due instant, not later


async def test_a_schedule_added_while_the_loop_waits_fires_at_its_first_due_time(h: Harness) -> None:
    await h.schedule("daily", "0 9 * * *")
    await h.start()
    await h.until(START + timedelta(minutes=5))
    await h.schedule("often", "*/15 * * * *")
    await h.until(START + timedelta(minutes=31))
    assert h.dues("often") == [utc(2026, 3, 7, 0, 15), utc(2026, 3, 7, 0, 30)]
    assert h.dues("daily") == []


async def test_a_changed_schedule_takes_effect_at_once(h: Harness) -> None:
    await h.schedule("job", "0 9 * * *")
    await h.start()
    await h.until(utc(2026, 3, 7, 0, 5))
    await h.schedule("job", "0 6 * * *", "Europe/Berlin")
    await h.until(utc(2026, 3, 7, 10))
    assert h.dues("job") == [utc(2026, 3, 7, 5)]


async def test_a_paused_schedule_stops_and_resumes_without_making_up_missed_times(h: Harness) -> None:
    await h.schedule("job", "0 * * * *")
    await h.start()
    await h.until(utc(2026, 3, 7, 1, 30))
    await h.schedule("job", "0 * * * *", enabled=False)
    await h.until(utc(2026, 3, 7, 5, 30))
    assert h.dues("job") == [utc(2026, 3, 7, 1)]
    await h.schedule("job", "0 * * * *", enabled=True)
    await h.until(utc(2026, 3, 7, 6, 30))
    assert h.dues("job") == [utc(2026, 3, 7, 1), utc(2026, 3, 7, 6)]


async def test_disabling_or_deleting_an_action_or_deleting_its_secret_stops_its_schedule(h: Harness) -> None:
    await h.app.vault.put(h.guru, "TOKEN", "s3cret-value-123")
    await h.schedule("disabled", "0 * * * *")
    await h.schedule("deleted", "0 * * * *")
    spec = api_action(
        "secretive", "http://127.0.0.1:9/x", headers={"X-Token": "{TOKEN}"}, schedule={"cron": "0 * * * *"}
    )
    await h.app.catalog.save_spec(h.guru, parse_spec(spec))
    await h.start()
    await h.until(utc(2026, 3, 7, 1))
    assert sorted(c.action for c in h.calls) == ["deleted", "disabled", "secretive"]
    await h.app.catalog.set_enabled(h.guru, "disabled", False)
    await h.app.catalog.delete(h.guru, "deleted")
    assert await h.app.vault.delete(h.guru, "TOKEN") == ["secretive"]
    await h.until(utc(2026, 3, 7, 3))
    assert len(h.calls) == 3
    assert h.running["a"].scheduler.status() == []


async def test_overlap_skip_skips_due_times_while_the_previous_run_is_going(h: Harness) -> None:
    h.gates["slow"] = anyio.Event()
    await h.schedule("slow", "* * * * *")
    scheduler = await h.start()
    await h.until(utc(2026, 3, 7, 0, 3))
    assert h.dues("slow") == [utc(2026, 3, 7, 0, 1)]
    assert scheduler.status()[0]["skipped"] == 2 and scheduler.status()[0]["running"] == 1
    h.release("slow")
    await h.until(utc(2026, 3, 7, 0, 4))
    assert h.dues("slow") == [utc(2026, 3, 7, 0, 1), utc(2026, 3, 7, 0, 4)]


async def test_overlap_allow_lets_runs_overlap(h: Harness) -> None:
    h.gates["slow"] = anyio.Event()
    await h.schedule("slow", "* * * * *", overlap="allow")
    scheduler = await h.start()
    await h.until(utc(2026, 3, 7, 0, 3))
    assert h.dues("slow") == [utc(2026, 3, 7, 0, m) for m in (1, 2, 3)]
    assert scheduler.status()[0]["running"] == 3
    h.release("slow")


async def test_overlap_skip_holds_across_processes_sharing_the_database(h: Harness) -> None:
    h.gates["slow"] = anyio.Event()
    await h.schedule("slow", "*/20 * * * * *")
    await h.start("a")
    await h.start("b")
    await h.until(utc(2026, 3, 7, 0, 1, 5))  # the 00:00:20 run is still going (its lease is longer)
    assert h.dues("slow") == [utc(2026, 3, 7, 0, 0, 20)]
    h.release("slow")
    await h.until(utc(2026, 3, 7, 0, 1, 20))
    assert h.dues("slow") == [utc(2026, 3, 7, 0, 0, 20), utc(2026, 3, 7, 0, 1, 20)]


async def test_a_crashing_action_is_noted_and_the_loop_goes_on(h: Harness) -> None:
    h.crash.add("bad")
    await h.schedule("bad", "* * * * *")
    await h.schedule("good", "* * * * *")
    scheduler = await h.start()
    await h.until(utc(2026, 3, 7, 0, 3))
    assert len(h.dues("bad")) == 3 and len(h.dues("good")) == 3
    rows = {r["action"]: r for r in scheduler.status()}
    assert rows["bad"]["failed"] == 3 and rows["bad"]["last_status"] == "failed"
    assert rows["good"]["fired"] == 3 and rows["good"]["last_status"] == "ok"
    bad = await h.app.catalog.get(h.guru, "bad")
    state = (await h.app.store.schedules.states([bad.id]))[bad.id]
    assert state.last_error == "internal error (RuntimeError); see the server log"
    assert state.lease_until is None


async def test_scheduled_runs_take_the_tool_path_and_record_due_time_and_an_empty_identity(
    h: Harness, echo_server
) -> None:

    spec = api_action(
        "report",
        echo_server.url + "/report?n={n}",
        headers={
            "X-Email": "{GURUBASE_USER_EMAIL}",
            "X-Groups": "{GURUBASE_USER_GROUPS}",
            "X-Guru": "{GURUBASE_GURU_SLUG}",
        },
        parameters=[{"name": "n", "type": "number", "required": True}],
        schedule={"cron": "0 * * * *", "arguments": {"n": 3}},
    )
    action = (await h.app.catalog.save_spec(h.guru, parse_spec(spec))).action
    await h.start(fire=fire_with(h.app.runs))
    await h.until(utc(2026, 3, 7, 1))  # returns once the run has ended
    [run] = await h.app.store.runs.list_runs(h.guru)
    assert run.status is RunStatus.OK and run.trigger is Trigger.SCHEDULE
    assert run.schedule_id == action.id and run.due_at == utc(2026, 3, 7, 1)
    assert run.caller == {
        "key": f"schedule:{action.id}",
        "email": "",
        "name": "",
        "admin": False,
        "via": "schedule",
    }
    assert run.inputs == {"n": 3} and run.started_at is not None
    seen = echo_server.last()
    assert seen["query"] == {"n": "3"}
    assert seen["headers"]["x-email"] == "" and seen["headers"]["x-groups"] == "Everyone"
    assert seen["headers"]["x-guru"] == h.guru


def _crash(action: ActionSpec, arguments: dict[str, Any]) -> str:
    raise RuntimeError("the executor fell over")


async def test_a_crashing_run_is_recorded_as_an_error_and_later_due_times_still_fire(settings) -> None:
    crashing: dict[ActionType, Executor] = {ActionType.API_CALL: FakeExecutor(_crash)}
    async with (
        open_app(settings, background=False, sandbox=False, executors=crashing) as app,
        anyio.create_task_group() as tg,
    ):
        h = Harness(app, FakeClock(START), tg)
        await h.schedule("crashy", "0 * * * *")
        await h.start(fire=fire_with(app.runs))
        await h.until(utc(2026, 3, 7, 2))
        runs = await app.store.runs.list_runs(h.guru, trigger="schedule")
        assert sorted(r.due_at for r in runs) == [utc(2026, 3, 7, 1), utc(2026, 3, 7, 2)]
        assert {r.status for r in runs} == {RunStatus.ERROR}
        assert "internal error" in runs[0].error
        tg.cancel_scope.cancel()


async def test_missed_due_times_run_once_on_start_up_within_the_grace_window(h: Harness) -> None:
    await h.schedule("job", "0 * * * *")
    await h.start("a")
    await h.until(utc(2026, 3, 7, 1, 30))
    await h.stop("a")
    h.clock.set(utc(2026, 3, 7, 4, 20))  # down from 01:30 to 04:20: 02:00, 03:00, 04:00 missed
    await h.start("b")
    await h.until(utc(2026, 3, 7, 5))
    assert [(c.due, c.at) for c in h.calls] == [
        (utc(2026, 3, 7, 1), utc(2026, 3, 7, 1)),
        (utc(2026, 3, 7, 4), utc(2026, 3, 7, 4, 20)),
        (utc(2026, 3, 7, 5), utc(2026, 3, 7, 5)),
    ]


async def test_missed_due_times_older_than_the_grace_window_are_skipped(h: Harness) -> None:
    await h.schedule("job", "0 * * * *")
    await h.start("a")
    await h.until(utc(2026, 3, 7, 1, 30))
    await h.stop("a")
    h.clock.set(utc(2026, 3, 7, 4, 20))
    await h.start("b", scheduler_misfire_grace=600)
    await h.until(utc(2026, 3, 7, 5))
    assert h.dues("job") == [utc(2026, 3, 7, 1), utc(2026, 3, 7, 5)]


async def test_misfire_skip_skips_missed_due_times(h: Harness) -> None:
    await h.schedule("job", "0 * * * *", misfire="skip")
    await h.start("a")
    await h.until(utc(2026, 3, 7, 1, 30))
    await h.stop("a")
    h.clock.set(utc(2026, 3, 7, 4, 0, 30))
    await h.start("b")
    await h.until(utc(2026, 3, 7, 5))
    assert h.dues("job") == [utc(2026, 3, 7, 1), utc(2026, 3, 7, 5)]


async def test_a_restart_neither_repeats_nor_drops_a_due_time(h: Harness) -> None:
    await h.schedule("job", "0 * * * *", misfire="skip")
    await h.start("a")
    await h.until(utc(2026, 3, 7, 1))
    await h.stop("a")  # fired 01:00, then stopped at once
    await h.start("b")
    await h.until(utc(2026, 3, 7, 1, 59, 58))
    await h.stop("b")
    h.clock.set(utc(2026, 3, 7, 2, 0, 3))  # back three seconds after 02:00: late, not missed
    await h.start("c")
    await h.until(utc(2026, 3, 7, 3))
    assert [(c.due, c.owner) for c in h.calls] == [
        (utc(2026, 3, 7, 1), "a"),
        (utc(2026, 3, 7, 2), "c"),
        (utc(2026, 3, 7, 3), "c"),
    ]


async def test_two_schedulers_on_one_database_fire_each_due_time_exactly_once(h: Harness) -> None:
    await h.schedule("minutely", "* * * * *", overlap="allow")
    await h.schedule("quarterly", "*/15 * * * *")
    await h.schedule("hourly", "0 * * * *", "Asia/Kolkata")
    await h.start("a")
    await h.start("b")
    end = utc(2026, 3, 7, 3)
    await h.until(end)
    for name, step in (("minutely", 1), ("quarterly", 15), ("hourly", 60)):
        expected = [START + timedelta(minutes=step * i) for i in range(1, 180 // step + 1)]
        if name == "hourly":  # Kolkata is UTC+05:30: its full hours fall on the half hour
            expected = [START + timedelta(minutes=30 + 60 * i) for i in range(3)]
        assert h.dues(name) == expected, name


async def test_a_due_time_claimed_by_a_process_that_died_before_running_it_is_fired_by_another(
    h: Harness,
) -> None:
    action = await h.schedule("job", "0 * * * *")
    await h.start("a")
    await h.until(utc(2026, 3, 7, 0, 59))
    # Process "dead" claims 01:00 and dies before RunService records anything.
    store = h.app.store.schedules
    won = await store.claim(
        [Claim(action.id, utc(2026, 3, 7, 1), "0 * * * *\x1fUTC", utc(2026, 3, 7, 1, 2), exclusive=True)],
        now=utc(2026, 3, 7, 0, 59, 59),
        owner="dead",
    )
    assert won == [None]
    await h.until(utc(2026, 3, 7, 1, 5))
    assert [(c.due, c.at, c.owner) for c in h.calls] == [(utc(2026, 3, 7, 1), utc(2026, 3, 7, 1, 2), "a")]


async def test_a_claimed_due_time_whose_run_was_recorded_is_not_fired_again(h: Harness) -> None:
    action = await h.schedule("job", "0 * * * *")
    await h.start("a")
    store = h.app.store.schedules
    won = await store.claim(
        [Claim(action.id, utc(2026, 3, 7, 1), "0 * * * *\x1fUTC", utc(2026, 3, 7, 1, 2), exclusive=True)],
        now=START,
        owner="dead",
    )
    assert won == [None]
    await h.app.store.runs.start_run(
        run_record(action, id="r1", due_at=utc(2026, 3, 7, 1), started_at=utc(2026, 3, 7, 1))
    )
    await h.until(utc(2026, 3, 7, 1, 30))  # past the dead lease: found recorded, released
    assert (await store.states([action.id]))[action.id].lease_until is None
    await h.until(utc(2026, 3, 7, 2, 30))
    assert h.dues("job") == [utc(2026, 3, 7, 2)]


async def test_status_shows_the_next_fire_time_in_utc_and_in_the_schedule_zone(h: Harness) -> None:
    await h.schedule("job", "0 10 * * *", "Asia/Tokyo")
    scheduler = await h.start()
    [row] = scheduler.status()
    assert row["next_fire_utc"] == "2026-03-07T01:00:00+00:00"
    assert row["next_fire_local"] == "2026-03-07T10:00:00+09:00"


async def test_due_times_that_piled_up_while_behind_run_once_for_the_latest(h: Harness) -> None:
    await h.schedule("job", "*/20 * * * * *", misfire="skip")
    await h.start("a")
    await h.until(utc(2026, 3, 7, 0, 0, 30))
    await h.stop("a")
    h.clock.set(utc(2026, 3, 7, 0, 1, 3))  # 00:00:40 and 00:01:00 passed; the latest is 3 s late
    await h.start("b")
    await h.until(utc(2026, 3, 7, 0, 1, 25))
    assert [(c.due, c.at) for c in h.calls] == [
        (utc(2026, 3, 7, 0, 0, 20), utc(2026, 3, 7, 0, 0, 20)),
        (utc(2026, 3, 7, 0, 1), utc(2026, 3, 7, 0, 1, 3)),
        (utc(2026, 3, 7, 0, 1, 20), utc(2026, 3, 7, 0, 1, 20)),
    ]
