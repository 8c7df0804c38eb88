"""Admin tools for schedules over MCP, the CLI's listing, and import/export carrying schedules."""

from __future__ import annotations

import pytest

from guru_mcp.models import RunStatus, parse_spec
from guru_mcp.tools.admin_schedules import list_schedules
from tests.conftest import ADMIN, api_action, connect
from tests.scheduler.conftest import utc
from tests.support.records import run_record

pytestmark = pytest.mark.anyio


def data(result):
    assert not result.is_error, result.content[0].text
    return result.structured_content


def error(result) -> str:
    assert result.is_error
    return result.content[0].text


async def add_report(app, **extra) -> None:
    params = [
        {"name": "team", "type": "string", "required": True},
        {"name": "days", "type": "number", "default": 7},
    ]
    await app.catalog.save_spec(
        "default", parse_spec(api_action("report", "https://example.com/r", parameters=params, **extra))
    )


async def test_an_admin_sets_pauses_resumes_and_clears_a_schedule(app):
    await add_report(app)
    async with connect(app, ADMIN) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["admin_schedule_clear"].annotations.destructive_hint is True
        assert tools["admin_schedules_list"].annotations.read_only_hint is True

        row = data(
            await client.call_tool(
                "admin_schedule_set",
                {
                    "action": "report",
                    "cron": "0 9 * * 1",
                    "timezone": "Europe/Berlin",
                    "arguments": {"team": "ops"},
                },
            )
        )
        assert row["state"] == "active" and row["version"] == 2
        assert row["overlap"] == "skip" and row["misfire"] == "run_once"
        assert len(row["upcoming_local"]) == 3
        assert all(t.endswith(("+01:00", "+02:00")) and "T09:00:00" in t for t in row["upcoming_local"])
        assert row["next_fire_utc"].endswith("+00:00") and row["next_fire_local"] == row["upcoming_local"][0]

        moved = data(
            await client.call_tool("admin_schedule_set", {"action": "report", "timezone": "Asia/Tokyo"})
        )
        assert moved["cron"] == "0 9 * * 1" and moved["arguments"] == {"team": "ops"}
        assert moved["next_fire_local"].endswith("T09:00:00+09:00")

        paused = data(await client.call_tool("admin_schedule_pause", {"action": "report"}))
        assert paused["state"] == "paused" and paused["next_fire_utc"] is None
        assert "report" in [t.name for t in (await client.list_tools()).tools]  # the tool stays
        resumed = data(await client.call_tool("admin_schedule_resume", {"action": "report"}))
        assert resumed["state"] == "active" and resumed["next_fire_utc"]

        [listed] = data(await client.call_tool("admin_schedules_list", {}))["schedules"]
        assert (
            listed["action"] == "report" and listed["timezone"] == "Asia/Tokyo" and listed["last_run"] is None
        )

        cleared = data(await client.call_tool("admin_schedule_clear", {"action": "report"}))
        assert cleared["schedule"] is None
        assert data(await client.call_tool("admin_schedules_list", {}))["schedules"] == []
        assert "no schedule" in error(await client.call_tool("admin_schedule_pause", {"action": "report"}))


async def test_a_schedule_that_cannot_run_is_refused_naming_the_field(app):
    await add_report(app)
    async with connect(app, ADMIN) as client:
        assert "cron" in error(await client.call_tool("admin_schedule_set", {"action": "report"}))
        text = error(await client.call_tool("admin_schedule_set", {"action": "report", "cron": "0 9 * *"}))
        assert "schedule.cron" in text and "4 fields" in text
        text = error(
            await client.call_tool(
                "admin_schedule_set", {"action": "report", "cron": "0 9 * * *", "timezone": "Europe/Pariss"}
            )
        )
        assert "schedule.timezone" in text and "Europe/Paris" in text
        text = error(await client.call_tool("admin_schedule_set", {"action": "report", "cron": "0 9 * * *"}))
        assert "schedule.arguments" in text and "team" in text
        text = error(await client.call_tool("admin_schedule_set", {"action": "nope", "cron": "0 9 * * *"}))
        assert "nope" in text
        assert (await app.catalog.get("default", "report")).spec.schedule is None


async def test_the_listing_shows_the_last_scheduled_run_and_the_cli_gets_the_same_rows(app):
    await add_report(app, schedule={"cron": "*/15 * * * *", "arguments": {"team": "ops"}})
    action = await app.catalog.get("default", "report")
    await app.store.runs.start_run(
        run_record(
            action,
            id="r1",
            status=RunStatus.ERROR,
            error="upstream said no",
            due_at=utc(2026, 3, 7, 1),
            started_at=utc(2026, 3, 7, 1, 0, 1),
        )
    )
    [row] = await list_schedules(app, "default")
    assert row["last_run"] == {
        "run_id": "r1",
        "status": "error",
        "error": "upstream said no",
        "due_at": "2026-03-07T01:00:00+00:00",
        "started_at": "2026-03-07T01:00:01+00:00",
    }
    async with connect(app, ADMIN) as client:
        [listed] = data(await client.call_tool("admin_schedules_list", {"action": "report"}))["schedules"]
    assert listed == row | {
        "next_fire_utc": listed["next_fire_utc"],
        "next_fire_local": listed["next_fire_local"],
    }


async def test_export_and_import_carry_the_schedule(app):
    await add_report(
        app,
        schedule={
            "cron": "0 9 * * *",
            "timezone": "America/New_York",
            "arguments": {"team": "x"},
            "overlap": "allow",
            "misfire": "skip",
        },
    )
    async with connect(app, ADMIN) as client:
        [exported] = data(await client.call_tool("admin_export", {"names": ["report"]}))["actions"]
        assert exported["schedule"] == {
            "cron": "0 9 * * *",
            "timezone": "America/New_York",
            "enabled": True,
            "arguments": {"team": "x"},
            "overlap": "allow",
            "misfire": "skip",
        }
        await client.call_tool("admin_action_delete", {"name": "report"})
        data(await client.call_tool("admin_import", {"document": [exported]}))
        [listed] = data(await client.call_tool("admin_schedules_list", {}))["schedules"]
    assert listed["cron"] == "0 9 * * *" and listed["overlap"] == "allow" and listed["misfire"] == "skip"
