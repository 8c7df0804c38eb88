"""Console pages in-process (the ASGI app on the suite's database, SQLite or PostgreSQL), for what the
browser journey does not reach: scheduled runs' due and fired times, run filters, masked values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from guru_mcp.console import build_console
from guru_mcp.models import RunStatus, Trigger, parse_spec
from tests.conftest import api_action
from tests.support.records import run_record

TOKEN = "gmcp_console_pages_admin_token"
SECRET = "v3ry-s3cret-value-42"


@pytest.fixture
async def admin(app):
    await app.store.tokens.create_token(
        TOKEN, guru="default", label="t", is_admin=True, email="ada@corp.example"
    )
    asgi = build_console(app, app.auth.caller)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://console.test", headers={"authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client


async def _run(
    app, name: str, *, trigger=Trigger.TOOL_CALL, status="ok", started=None, caller=None, output="", due=None
) -> str:
    action = await app.catalog.get("default", name)
    started = started or datetime.now(UTC)
    record = run_record(
        action,
        id=f"{name}-{started.timestamp()}-{trigger.value}",
        trigger=trigger,
        caller=caller or {"key": "token:9", "email": "alex@corp.example"},
        started_at=started,
        due_at=due,
    )
    await app.store.runs.start_run(record)
    await app.store.runs.finish_run(
        record.id,
        status=RunStatus(status),
        output=output,
        truncated=False,
        error="",
        hosts=["127.0.0.1"],
        ended_at=started + timedelta(milliseconds=12),
        duration_ms=12.0,
    )
    return record.id


@pytest.mark.anyio
async def test_a_scheduled_runs_page_shows_its_due_and_fired_times(app, admin, echo_server):
    await app.catalog.save_spec("default", parse_spec(api_action("nightly", echo_server.url + "/n")))
    due = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    run_id = await _run(
        app,
        "nightly",
        trigger=Trigger.SCHEDULE,
        started=due + timedelta(milliseconds=250),
        due=due,
        caller={"key": "schedule:1", "email": ""},
    )
    page = (await admin.get(f"/admin/runs/{run_id}")).text
    assert "<dt>Due</dt><dd>2026-03-01 02:00:00 UTC</dd>" in page
    assert "<dt>Fired</dt><dd>2026-03-01 02:00:00 UTC" in page and "250 ms after due" in page
    assert 'id="config-snapshot"' in page and "/n" in page


@pytest.mark.anyio
async def test_run_history_filters_by_caller_time_range_and_text(app, admin, echo_server):
    await app.catalog.save_spec("default", parse_spec(api_action("lookup", echo_server.url + "/l")))
    now = datetime.now(UTC).replace(microsecond=0)
    await _run(
        app,
        "lookup",
        started=now - timedelta(days=2),
        output="old answer 100%",
        caller={"key": "token:1", "email": "grace@corp.example"},
    )
    await _run(
        app,
        "lookup",
        started=now - timedelta(hours=1),
        output="fresh answer",
        status="error",
        caller={"key": "token:2", "email": "alex@corp.example"},
    )

    async def rows(**params) -> str:
        answer = await admin.get("/admin/runs", params=params, headers={"hx-request": "true"})
        assert answer.status_code == 200, answer.text
        return answer.text

    assert "old answer" in await rows(caller="grace") and "fresh answer" not in await rows(caller="grace")
    since = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    recent = await rows(since=since)
    assert "fresh answer" in recent and "old answer" not in recent
    assert "old answer" in await rows(until=since)
    assert "old answer" in await rows(q="100%") and "fresh answer" not in await rows(q="100%")  # % is literal
    assert "No runs match" in await rows(q="100_")
    assert "fresh answer" in await rows(status="error") and "old answer" not in await rows(status="error")
    assert (await admin.get("/admin/runs", params={"since": "last tuesday"})).status_code == 422
    assert (await admin.get("/admin/runs", params={"status": "great"})).status_code == 422


@pytest.mark.anyio
async def test_a_secret_written_literally_is_masked_in_the_editor_and_cannot_be_saved_back(
    app, admin, echo_server
):
    await app.vault.put("default", "HR_TOKEN", SECRET)
    spec = api_action("literal", echo_server.url + "/x", headers=[{"key": "X-Key", "value": SECRET}])
    await app.catalog.save_spec("default", parse_spec(spec))
    page = (await admin.get("/admin/actions/literal")).text
    assert SECRET not in page and 'value="[REDACTED]"' in page
    form = {
        "existing": "literal",
        "name": "literal",
        "action_type": "API_CALL",
        "endpoint": echo_server.url + "/x",
        "method": "GET",
        "h_key": "X-Key",
        "h_value": "[REDACTED]",
    }
    answer = await admin.post("/admin/actions/literal", data=form)
    assert answer.status_code == 422 and "write the {SECRET_NAME} placeholder instead" in answer.text
    assert (await app.catalog.get("default", "literal")).spec.config.headers[0].value == SECRET


@pytest.mark.anyio
async def test_the_actions_list_counts_runs_in_the_chosen_window(app, admin, echo_server):
    await app.catalog.save_spec("default", parse_spec(api_action("counted", echo_server.url + "/c")))
    now = datetime.now(UTC)
    await _run(app, "counted", started=now - timedelta(hours=2))
    await _run(app, "counted", started=now - timedelta(days=3), status="timeout")

    async def cells(window: str) -> list[str]:
        html = (
            await admin.get("/admin/actions", params={"window": window}, headers={"hx-request": "true"})
        ).text
        row = html.split("counted", 1)[1].split("</tr>", 1)[0]
        return [c.split(">", 1)[1].split("<", 1)[0] for c in row.split('<td class="num"')[1:]]

    assert (await cells("24h"))[:2] == ["1", "0.0%"]
    assert (await cells("7d"))[:2] == ["2", "50.0%"]
    assert (await admin.get("/admin/actions", params={"window": "fortnight"})).status_code == 422
