"""Every call leaves one record, even one refused before it ran; every finished run logs one line;
draining lets runs finish, then cancels the rest; runs and claims of a stopped process are recovered."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from guru_mcp.app import open_app
from guru_mcp.errors import Busy, ShuttingDown
from guru_mcp.models import RunRecord, RunStatus, Trigger, parse_spec
from guru_mcp.store.processes import STOPPED_REASON
from tests.conftest import USER, api_action
from tests.support.polling import eventually
from tests.support.records import run_record

pytestmark = pytest.mark.anyio


async def test_a_call_refused_for_too_many_runs_is_recorded_as_denied(settings, echo_server):
    settings = settings.model_copy(update={"max_concurrent_runs_per_caller": 1, "run_queue_timeout": 0.3})
    async with open_app(settings, sandbox=False, background=False) as app:
        await app.catalog.save_spec(
            "default", parse_spec(api_action("slow", echo_server.url + "/slow", timeout=20))
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(app.runs.run, "default", "slow", {}, USER, Trigger.TOOL_CALL)
            await eventually(lambda: echo_server.requests)
            with pytest.raises(Busy, match="too many runs"):
                await app.runs.run("default", "slow", {}, USER, Trigger.TOOL_CALL)
            echo_server.gate.set()
        runs = await app.store.runs.list_runs("default")
    assert sorted(r.status for r in runs) == sorted([RunStatus.OK, RunStatus.DENIED])
    [denied] = [r for r in runs if r.status is RunStatus.DENIED]
    assert "too many runs" in denied.error and denied.ended_at is not None


async def test_each_finished_run_logs_one_line_with_its_fields(app, echo_server, caplog):
    await app.catalog.save_spec("default", parse_spec(api_action("hello", echo_server.url + "/status/500")))
    with caplog.at_level(logging.INFO, logger="guru_mcp.run"):
        outcome = await app.runs.run("default", "hello", {}, USER, Trigger.TOOL_CALL)
    lines = [r for r in caplog.records if r.name == "guru_mcp.run"]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert fields["run_id"] == outcome.record.id
    assert (fields["guru"], fields["action"], fields["version"], fields["trigger"]) == (
        "default",
        "hello",
        1,
        "tool_call",
    )
    assert (
        fields["caller"] == USER.email and fields["status"] == "error" and fields["duration_ms"] is not None
    )
    assert "500" in fields["error"] and "\n" not in fields["error"]
    assert outcome.record.id in lines[0].getMessage()


async def test_json_log_lines_carry_the_run_fields():
    from guru_mcp.logs import JsonFormatter

    record = logging.LogRecord("guru_mcp.run", logging.INFO, __file__, 1, "run x", None, None)
    record.fields = {"run_id": "x", "status": "ok"}
    line = json.loads(JsonFormatter().format(record))
    assert line["run_id"] == "x" and line["status"] == "ok" and line["logger"] == "guru_mcp.run"


async def test_drain_lets_runs_finish_within_the_grace_then_cancels_the_rest(app, echo_server):
    await app.catalog.save_spec(
        "default", parse_spec(api_action("slow", echo_server.url + "/slow", timeout=20))
    )
    outcomes = []

    async def call() -> None:
        outcomes.append(await app.runs.run("default", "slow", {}, USER, Trigger.TOOL_CALL))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await eventually(lambda: echo_server.requests)
        assert await app.runs.drain(0.2) == 1
        with pytest.raises(ShuttingDown):
            await app.runs.run("default", "slow", {}, USER, Trigger.TOOL_CALL)
    [cut] = outcomes
    assert cut.result.status is RunStatus.CANCELLED and "shutting down" in cut.result.error
    statuses = sorted(r.status for r in await app.store.runs.list_runs("default"))
    assert statuses == [RunStatus.CANCELLED, RunStatus.CANCELLED]
    echo_server.gate.set()


async def test_a_sweep_settles_the_runs_of_a_process_whose_heartbeat_lapsed(settings):
    async with open_app(settings, sandbox=False, background=False) as app:  # no sweeping of its own
        await _sweep(app)


async def _sweep(app) -> None:
    processes = app.store.processes
    now = datetime.now(UTC)
    await processes.beat("gone", host="elsewhere", pid=1, now=now - timedelta(minutes=1))
    await processes.beat("alive", host="elsewhere", pid=2, now=now)

    def run(run_id: str) -> RunRecord:
        return run_record(id=run_id, started_at=now)

    for run_id, owner in (("of-gone", "gone"), ("of-alive", "alive")):
        app.store.runs.process_id = owner
        await app.store.runs.start_run(run(run_id))
    app.store.runs.process_id = None
    found = await processes.recover(
        me=app.process_id, now=now, lapse=timedelta(seconds=3), host="here", dead=lambda pid: False
    )
    assert found.processes == ["gone"] and found.runs == 1
    gone, alive = (
        await app.store.runs.get_run("default", "of-gone"),
        await app.store.runs.get_run("default", "of-alive"),
    )
    assert gone.status is RunStatus.CANCELLED and gone.error == STOPPED_REASON
    assert alive.status is RunStatus.RUNNING
    assert "gone" not in await processes.live() and "alive" in await processes.live()


async def test_refused_egress_and_unauthorized_requests_log_one_line_each_without_the_token(app, caplog):
    import httpx

    from guru_mcp.server import build_server, http_asgi

    await app.catalog.save_spec("default", parse_spec(api_action("inside", "http://10.1.2.3/secret")))
    with caplog.at_level(logging.INFO, logger="guru_mcp.refused"):
        outcome = await app.runs.run("default", "inside", {}, USER, Trigger.TOOL_CALL)
        asgi = http_asgi(build_server(app), app, host="127.0.0.1")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=asgi), base_url="http://127.0.0.1"
        ) as http:
            for headers in ({}, {"Authorization": "Bearer gmcp_not-a-real-token-123"}):
                assert (await http.post("/mcp", headers=headers, json={})).status_code == 401
    assert outcome.record.status is RunStatus.DENIED
    lines = [r for r in caplog.records if r.name == "guru_mcp.refused"]
    assert [r.fields["refused"] for r in lines] == ["egress", "unauthorized", "unauthorized"]  # type: ignore[attr-defined]
    assert outcome.record.id in lines[0].getMessage() and "10.1.2.3" in lines[0].getMessage()
    assert "no bearer token" in lines[1].getMessage() and "unknown, revoked" in lines[2].getMessage()
    assert all("gmcp_not-a-real-token" not in r.getMessage() for r in lines)


def _a_run(run_id: str, started: datetime) -> RunRecord:
    return RunRecord(
        id=run_id,
        guru="default",
        action_id=1,
        action_name="a",
        action_version=1,
        trigger=Trigger.TOOL_CALL,
        caller={"key": "k"},
        inputs={"x": "y"},
        status=RunStatus.RUNNING,
        started_at=started,
    )


async def test_run_records_read_back_the_same_whether_written_on_the_loop_or_in_a_worker_thread(app) -> None:
    # On SQLite the run writes go on the event loop as plain statements; with that path switched off
    # they go through SQLAlchemy in a worker thread (PostgreSQL's path). Both must store the same.
    runs = app.store.runs
    started = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    inline = runs._inline
    for run_id, path in (("loop", inline), ("thread", None)):
        runs._inline = path
        await runs.start_run(_a_run(run_id, started))
        await runs.finish_run(
            run_id,
            status=RunStatus.OK,
            output="out",
            truncated=True,
            error="",
            hosts=["h.example"],
            ended_at=started + timedelta(seconds=1),
            duration_ms=1.5,
            usage={"n": 1},
        )
    runs._inline = inline
    loop, thread = await runs.get_run("default", "loop"), await runs.get_run("default", "thread")
    assert loop.model_dump(exclude={"id"}) == thread.model_dump(exclude={"id"})
    assert (loop.started_at, loop.status, loop.truncated, loop.hosts) == (
        started,
        RunStatus.OK,
        True,
        ["h.example"],
    )


async def test_a_sqlite_run_write_waits_for_a_write_lock_held_elsewhere_and_then_lands(tmp_path) -> None:
    # The write on the loop never waits for a lock: it gives up at once and the usual path (a worker
    # thread with the busy timeout) does it once the other writer lets go. SQLite only (its own file).
    import sqlite3

    from guru_mcp.store import Store, create_db_engine, migrate

    path = tmp_path / "runs.db"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate(engine)
    store = Store(engine)
    await store.gurus.ensure_guru("default")
    await store.runs.start_run(_a_run("first", datetime.now(UTC)))  # on the loop: nobody else writes
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.runs.start_run, _a_run("waited", datetime.now(UTC)))
            await anyio.sleep(0.3)
            assert other.execute("SELECT count(*) FROM runs WHERE id = 'waited'").fetchone() == (0,)
            other.execute("COMMIT")
    finally:
        other.close()
    assert (await store.runs.get_run("default", "waited")).status is RunStatus.RUNNING
    store.runs.close()
    engine.dispose()
