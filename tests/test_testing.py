"""guru_mcp.testing.FakeExecutor: the run service around it behaves as around a real executor."""

from __future__ import annotations

import pytest

from guru_mcp.app import open_app
from guru_mcp.errors import RunFailure
from guru_mcp.executors import Executor
from guru_mcp.models import ActionSpec, ActionType, RunStatus, Trigger, parse_spec
from guru_mcp.testing import FakeExecutor
from tests.conftest import USER

pytestmark = pytest.mark.anyio


def weather_action(*secrets: str) -> ActionSpec:
    return parse_spec(
        {
            "name": "weather",
            "action_type": "PYTHON_CODE",
            "config": {"code": "print('never runs here')"},
            "parameters": [{"name": "city", "required": True}],
            "secrets": list(secrets),
        }
    )


def handler(action: ActionSpec, arguments: dict) -> str | dict:
    if arguments["city"] == "Atlantis":
        raise RunFailure("no such city", status=RunStatus.TIMEOUT)
    if arguments["city"] == "Oslo":
        return {"city": "Oslo", "sky": "grey"}
    return f"{action.name}: sunny in {arguments['city']}"


async def test_a_fake_executor_serves_runs_and_records_the_jobs_it_got(settings):
    fake = FakeExecutor(handler)
    assert isinstance(fake, Executor)
    async with open_app(settings, sandbox=False, executors={ActionType.PYTHON_CODE: fake}) as app:
        await app.vault.put("default", "WEATHER_KEY", "wk-secret-value-1234")
        await app.catalog.save_spec("default", weather_action("WEATHER_KEY"))
        sunny = await app.runs.run("default", "weather", {"city": "Paris"}, USER, Trigger.TOOL_CALL)
        grey = await app.runs.run("default", "weather", {"city": "Oslo"}, USER, Trigger.TOOL_CALL)
        failed = await app.runs.run("default", "weather", {"city": "Atlantis"}, USER, Trigger.TOOL_CALL)
        records = {r.id: r for r in await app.store.runs.list_runs("default")}
    assert sunny.result.status is RunStatus.OK and sunny.result.text == "weather: sunny in Paris"
    assert grey.result.data == {"city": "Oslo", "sky": "grey"}
    assert failed.result.status is RunStatus.TIMEOUT and failed.result.error == "no such city"
    assert records[failed.record.id].status is RunStatus.TIMEOUT
    assert records[sunny.record.id].output == "weather: sunny in Paris"
    assert [call.arguments for call in fake.calls] == [
        {"city": "Paris"},
        {"city": "Oslo"},
        {"city": "Atlantis"},
    ]
    job = fake.calls[0].job
    assert job.secrets == {"WEATHER_KEY": "wk-secret-value-1234"}
    assert job.builtins["GURUBASE_USER_EMAIL"] == USER.email


async def test_an_async_handler_and_an_output_that_is_not_a_result(settings):
    async def answer(action: ActionSpec, arguments: dict) -> str:
        return "async " + arguments["city"]

    fake = FakeExecutor(answer)
    async with open_app(settings, sandbox=False, executors={ActionType.PYTHON_CODE: fake}) as app:
        await app.catalog.save_spec("default", weather_action())
        outcome = await app.runs.run("default", "weather", {"city": "Rome"}, USER, Trigger.TOOL_CALL)
    assert outcome.result.text == "async Rome"

    wrong = FakeExecutor(lambda action, arguments: 42)  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="return an ExecResult, str or dict"):
        await wrong.execute(fake.calls[0].job)
