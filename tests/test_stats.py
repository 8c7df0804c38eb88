"""Run statistics over a time window (part of the admin stats tool and the console)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guru_mcp.errors import ValidationFailed
from guru_mcp.models import RunStatus, Trigger
from guru_mcp.stats import Window, bucket_size, parse_window, series, summarize, window_stats
from tests.conftest import ADMIN, api_action, connect
from tests.support.records import run_record

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_windows_parse_and_bad_ones_name_the_field():
    assert parse_window("24h") == Window("24h", timedelta(hours=24))
    assert parse_window(" 7D ").length == timedelta(days=7)
    assert parse_window("90m").length == timedelta(minutes=90)
    assert parse_window("all").length is None
    assert parse_window(None).label == "24h"
    for bad in ("yesterday", "0h", "12w", "-1d", "99999d"):
        with pytest.raises(ValidationFailed) as caught:
            parse_window(bad)
        assert caught.value.errors[0].field == "window"


def test_summaries_count_every_non_ok_status_as_an_error():
    facts = [
        ("a", "tool_call", s, d, NOW)
        for s, d in [("ok", 10.0), ("ok", 30.0), ("timeout", 200.0), ("denied", None)]
    ]
    summary = summarize(facts)
    assert summary == {"runs": 4, "errors": 2, "error_rate": 0.5, "p50_ms": 30.0, "p95_ms": 183.0}
    assert summarize([]) == {"runs": 0, "errors": 0, "error_rate": None, "p50_ms": None, "p95_ms": None}


def test_series_put_runs_in_their_buckets_and_leave_empty_ones_at_zero():
    since = NOW - timedelta(hours=3)
    facts = [
        ("a", "test", "ok", 5.0, since + timedelta(minutes=10)),
        ("a", "test", "error", 7.0, since + timedelta(minutes=20)),
        ("a", "test", "ok", 9.0, since + timedelta(hours=2, minutes=5)),
    ]
    out = series(facts, since, NOW, timedelta(hours=1))
    assert out["runs"] == [2, 0, 1, 0]
    assert out["errors"] == [1, 0, 0, 0]
    assert out["error_rate"] == [0.5, None, 0.0, None]
    assert out["p50_ms"][0] == 6.0 and out["p95_ms"][1] is None
    assert out["t"][1] - out["t"][0] == 3600
    assert bucket_size(parse_window("24h")) == timedelta(hours=1)
    assert bucket_size(parse_window("7d")) == timedelta(hours=6)
    assert bucket_size(parse_window("30d")) == timedelta(days=1)


async def _record(app, name: str, status: str, trigger: Trigger, started: datetime, ms: float) -> None:
    action = await app.catalog.get("default", name)
    record = run_record(
        action, id=f"{name}-{started.timestamp()}-{status}", trigger=trigger, started_at=started
    )
    await app.store.runs.start_run(record)
    await app.store.runs.finish_run(
        record.id,
        status=RunStatus(status),
        output="",
        truncated=False,
        error="",
        hosts=[],
        ended_at=started + timedelta(milliseconds=ms),
        duration_ms=ms,
    )


@pytest.mark.anyio
async def test_window_stats_count_only_runs_in_the_window_per_action_and_trigger(app, echo_server):
    from guru_mcp.models import parse_spec

    for name in ("alpha", "beta"):
        await app.catalog.save_spec("default", parse_spec(api_action(name, echo_server.url + "/x")))
    await _record(app, "alpha", "ok", Trigger.TOOL_CALL, NOW - timedelta(hours=1), 10)
    await _record(app, "alpha", "error", Trigger.SCHEDULE, NOW - timedelta(hours=2), 30)
    await _record(app, "alpha", "ok", Trigger.TEST, NOW - timedelta(days=3), 50)
    await _record(app, "beta", "ok", Trigger.MANUAL, NOW - timedelta(days=20), 70)

    day = await window_stats(app.store, "default", ["alpha", "beta"], parse_window("24h"), now=NOW)
    alpha, beta = day["stats"]
    assert (alpha["runs"], alpha["errors"], alpha["error_rate"]) == (2, 1, 0.5)
    assert alpha["last_run_at"] == (NOW - timedelta(hours=1)).isoformat()
    assert alpha["by_trigger"]["tool_call"]["runs"] == 1 and alpha["by_trigger"]["schedule"]["errors"] == 1
    assert beta["runs"] == 0 and beta["last_run_at"] == (NOW - timedelta(days=20)).isoformat()
    assert day["overall"]["runs"] == 2 and day["since"] == (NOW - timedelta(hours=24)).isoformat()

    month = await window_stats(app.store, "default", ["alpha"], parse_window("30d"), now=NOW)
    assert month["stats"][0]["runs"] == 3 and month["overall"]["runs"] == 4
    assert list(month["overall"]["by_trigger"]) == ["tool_call", "test", "manual", "schedule"]


@pytest.mark.anyio
async def test_the_admin_stats_tool_takes_a_window(app, echo_server):
    async with connect(app, ADMIN) as client:
        created = await client.call_tool(
            "admin_action_create", {"action": api_action("ping", echo_server.url + "/p")}
        )
        assert not created.is_error
        await client.call_tool("admin_action_test", {"name": "ping", "arguments": {}})
        answer = (
            await client.call_tool("admin_action_stats", {"name": "ping", "window": "7d"})
        ).structured_content
        assert answer["window"] == "7d" and answer["stats"][0]["runs"] == 1
        assert answer["stats"][0]["by_trigger"]["test"]["runs"] == 1 and answer["stats"][0]["last_run_at"]
        bad = await client.call_tool("admin_action_stats", {"window": "fortnight"})
        assert bad.is_error and "window" in bad.content[0].text
