"""Cron maths: fire times in zones and across daylight-saving changes, and schedule validation."""

from __future__ import annotations

from datetime import datetime

import pytest

from guru_mcp.cron import due_times, next_fire, parse_cron, prev_fire, validate_schedule
from guru_mcp.errors import ValidationFailed
from guru_mcp.models import parse_spec
from tests.conftest import api_action
from tests.scheduler.conftest import utc


def hhmm(instants: list[datetime]) -> list[str]:
    return [f"{t:%m-%d %H:%M:%S}" for t in instants]


def test_a_wall_time_skipped_by_spring_forward_fires_once_when_the_gap_ends():
    times = due_times("*/15 * * * *", "America/New_York", utc(2026, 3, 8, 6, 40), utc(2026, 3, 8, 7, 20))
    # 01:45 EST, then 02:00..02:45 do not exist and collapse into 03:00 EDT, then 03:15 EDT
    assert hhmm(times) == ["03-08 06:45:00", "03-08 07:00:00", "03-08 07:15:00"]


def test_a_fixed_time_in_the_repeated_hour_fires_once_in_its_first_pass():
    times = due_times("30 1 * * *", "America/New_York", utc(2026, 10, 31, 12), utc(2026, 11, 2, 12))
    assert hhmm(times) == ["11-01 05:30:00", "11-02 06:30:00"]


def test_an_interval_expression_keeps_firing_through_the_repeated_hour():
    times = due_times("0 * * * *", "America/New_York", utc(2026, 11, 1, 4, 30), utc(2026, 11, 1, 7, 30))
    assert hhmm(times) == ["11-01 05:00:00", "11-01 06:00:00", "11-01 07:00:00"]  # 01 EDT, 01 EST, 02 EST


def test_next_fire_from_inside_the_repeated_hour_sees_both_passes():
    first_pass = utc(2026, 11, 1, 5, 50)  # 01:50 EDT
    second_pass = utc(2026, 11, 1, 6, 20)  # 01:20 EST
    assert next_fire("*/15 * * * *", "America/New_York", first_pass) == utc(2026, 11, 1, 6)
    assert next_fire("*/15 * * * *", "America/New_York", second_pass) == utc(2026, 11, 1, 6, 30)
    assert next_fire("30 1 * * *", "America/New_York", second_pass) == utc(2026, 11, 2, 6, 30)


def test_prev_fire_includes_the_instant_itself_and_handles_both_passes():
    assert prev_fire("0 * * * *", "UTC", utc(2026, 1, 1, 9)) == utc(2026, 1, 1, 9)
    assert prev_fire("0 * * * *", "UTC", utc(2026, 1, 1, 9, 0, 1)) == utc(2026, 1, 1, 9)
    assert prev_fire("*/15 * * * *", "America/New_York", utc(2026, 11, 1, 6, 20)) == utc(2026, 11, 1, 6, 15)
    assert prev_fire("30 1 * * *", "America/New_York", utc(2026, 11, 1, 6, 20)) == utc(2026, 11, 1, 5, 30)
    assert prev_fire("30 2 * * *", "America/New_York", utc(2026, 3, 8, 7, 0)) == utc(2026, 3, 8, 7, 0)


def test_next_fire_is_strictly_after_and_in_utc():
    assert next_fire("0 9 * * *", "Europe/Berlin", utc(2026, 6, 1, 7)) == utc(2026, 6, 2, 7)
    result = next_fire("0 9 * * *", "Europe/Berlin", datetime.fromisoformat("2026-06-01T08:59:00+02:00"))
    assert result == utc(2026, 6, 1, 7) and result.tzinfo is not None
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire("0 9 * * *", "UTC", datetime(2026, 6, 1))


def test_a_sixth_field_in_front_gives_seconds():
    times = due_times("*/20 * * * * *", "UTC", utc(2026, 1, 1), utc(2026, 1, 1, 0, 1))
    assert hhmm(times) == ["01-01 00:00:20", "01-01 00:00:40", "01-01 00:01:00"]
    assert parse_cron("*/20 * * * * *").seconds and not parse_cron("* * * * *").seconds


def test_aliases_are_the_usual_expressions():
    assert next_fire("@daily", "UTC", utc(2026, 1, 1, 12)) == utc(2026, 1, 2)
    assert next_fire("@hourly", "UTC", utc(2026, 1, 1, 12, 1)) == utc(2026, 1, 1, 13)
    assert next_fire("0 9 * * MON", "UTC", utc(2026, 1, 1)) == utc(2026, 1, 5, 9)


def schedule_spec(schedule: dict, parameters: list[dict] | None = None):
    return parse_spec(
        api_action("job", "https://example.com/x", parameters=parameters or [], schedule=schedule)
    )


def problems(spec) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as err:
        validate_schedule(spec)
    return {e.field: e.message for e in err.value.errors}


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("61 * * * *", "not a valid cron expression"),
        ("* * * *", "has 4 fields"),
        ("* * * * * * *", "has 7 fields"),
        ("", "has 0 fields"),
        ("0 0 30 2 *", "never matches"),
        ("every day", "fields"),
        ("@reboot", "fields"),
    ],
)
def test_an_invalid_cron_expression_is_refused_naming_the_field(cron, words):
    found = problems(schedule_spec({"cron": cron}))
    assert words in found["schedule.cron"]


def test_an_unknown_time_zone_is_refused_with_a_suggestion():
    found = problems(schedule_spec({"cron": "0 9 * * *", "timezone": "Europe/Berlinn"}))
    assert "'Europe/Berlin'" in found["schedule.timezone"]
    found = problems(schedule_spec({"cron": "0 9 * * *", "timezone": "../../etc/passwd"}))
    assert "not a known time zone" in found["schedule.timezone"]


def test_a_required_parameter_needs_a_default_or_a_scheduled_value():
    params = [
        {"name": "team", "type": "string", "required": True},
        {"name": "days", "type": "number", "required": True, "default": 7},
        {"name": "verbose", "type": "boolean"},
    ]
    found = problems(schedule_spec({"cron": "0 9 * * 1"}, params))
    assert found == {"schedule.arguments": "required parameter team needs a default or a scheduled value"}
    validate_schedule(schedule_spec({"cron": "0 9 * * 1", "arguments": {"team": "ops"}}, params))


def test_scheduled_arguments_must_name_parameters_and_have_their_types():
    params = [{"name": "days", "type": "number"}, {"name": "verbose", "type": "boolean"}]
    found = problems(schedule_spec({"cron": "0 9 * * 1", "arguments": {"dayz": 3, "verbose": "yes"}}, params))
    assert found == {
        "schedule.arguments": "no parameter named dayz (parameters: days, verbose)",
        "schedule.arguments.verbose": "expected true or false",
    }


@pytest.mark.anyio
async def test_the_catalog_refuses_an_action_whose_schedule_cannot_run(app):
    spec = schedule_spec(
        {"cron": "0 25 * * *", "timezone": "Mars/Olympus"}, [{"name": "x", "required": True}]
    )
    with pytest.raises(ValidationFailed) as err:
        await app.catalog.save_spec("default", spec)
    assert {e.field for e in err.value.errors} == {"schedule.cron", "schedule.timezone", "schedule.arguments"}
    assert [a.name for a in await app.catalog.list_actions("default")] == []
