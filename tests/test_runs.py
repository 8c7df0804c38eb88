"""Run records when a run does not end normally: cancellation, and crash leftovers at start-up."""

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from guru_mcp.app import open_app
from guru_mcp.models import RunStatus, Trigger, parse_spec
from tests.conftest import USER, api_action
from tests.support.records import run_record


@pytest.mark.anyio
async def test_a_cancelled_run_is_recorded_as_cancelled(app, echo_server):
    await app.catalog.save_spec(
        "default", parse_spec(api_action("slow", echo_server.url + "/slow", timeout=20))
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(app.runs.run, "default", "slow", {}, USER, Trigger.TOOL_CALL)
        with anyio.fail_after(10):
            while not echo_server.requests:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    runs = await app.store.runs.list_runs("default")
    assert [r.status for r in runs] == [RunStatus.CANCELLED]
    assert runs[0].error == "the run was cancelled" and runs[0].ended_at is not None


@pytest.mark.anyio
async def test_runs_left_running_by_a_crash_are_marked_at_the_next_start(settings):
    async with open_app(settings, sandbox=False, background=False) as app:
        await app.store.runs.start_run(
            run_record(id="crashed-run", name="gone", started_at=datetime.now(UTC) - timedelta(hours=2))
        )
    async with open_app(settings, sandbox=False, background=False) as app:
        run = await app.store.runs.get_run("default", "crashed-run")
    assert run.status is RunStatus.CANCELLED
    assert run.error == "the server stopped during this run"
