"""The admin console's pages with a populated store: how long an admin waits for each.

In-process (the console's ASGI app through httpx's ASGI transport, bearer-header authentication) on a
throw-away SQLite home holding `--actions` actions and `--runs` finished runs spread over 30 days,
so every page reads real rows and renders real templates (masking included):

- actions     the actions list with 24 h figures per action;
- editor      one action's editor page;
- runs        run history, first page (50 rows), filtered by text;
- run         one run's page with its config snapshot;
- analytics   overall charts and per-action table, 24 h and 30 d (the window reads every run in it).

    python -m benchmarks -k console [-- --iterations 50 --actions 50 --runs 20000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio
import httpx

from benchmarks._util import LOOPBACK, guru_settings, header, iterations_arg, measure, table
from guru_mcp.app import open_app
from guru_mcp.console import build_console
from guru_mcp.models import RunRecord, RunStatus, Trigger, parse_spec

GURU = "default"
TOKEN = "gmcp_bench_console_admin"


def _action(name: str) -> dict:
    return {
        "name": name,
        "action_type": "API_CALL",
        "parameters": [{"name": "q", "type": "string", "description": "Query.", "required": True}],
        "config": {"endpoint": f"http://{LOOPBACK}:9/{name}?q={{q}}", "method": "GET", "timeout": 5},
    }


async def _populate(app, actions: int, runs: int) -> str:
    names = [f"action_{i:03d}" for i in range(actions)]
    for name in names:
        await app.catalog.save_spec(GURU, parse_spec(_action(name)), actor="bench")
    stored = {a.name: a for a in await app.catalog.list_actions(GURU)}
    now = datetime.now(UTC)
    statuses = [RunStatus.OK] * 9 + [RunStatus.ERROR]
    triggers = [Trigger.TOOL_CALL] * 6 + [Trigger.SCHEDULE, Trigger.TEST, Trigger.MANUAL, Trigger.TOOL_CALL]
    last = ""
    for i in range(runs):
        action = stored[names[i % actions]]
        started = now - timedelta(seconds=(30 * 86400) * i / runs)
        record = RunRecord(
            id=f"run-{i:07d}",
            guru=GURU,
            action_id=action.id,
            action_name=action.name,
            action_version=action.version,
            trigger=triggers[i % 10],
            caller={"key": "token:1", "email": "a@b.c"},
            inputs={"q": f"item {i}"},
            status=RunStatus.RUNNING,
            started_at=started,
        )
        await app.store.runs.start_run(record)
        await app.store.runs.finish_run(
            record.id,
            status=statuses[i % 10],
            output=f'{{"item": {i}, "ok": true}}',
            truncated=False,
            error="",
            hosts=[LOOPBACK],
            ended_at=started + timedelta(milliseconds=5 + i % 40),
            duration_ms=5.0 + i % 40,
        )
        last = record.id
    return last


async def main(iterations: int, actions: int, runs: int) -> None:
    header(f"console: {iterations} requests per page, {actions} actions, {runs} runs over 30 days")
    with tempfile.TemporaryDirectory() as tmp:
        async with open_app(guru_settings(Path(tmp)), background=False, sandbox=False) as app:
            await app.store.tokens.create_token(
                TOKEN, guru=GURU, label="bench", is_admin=True, email="bench@example.com"
            )
            run_id = await _populate(app, actions, runs)
            console = build_console(app, app.auth.caller)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=console),
                base_url="http://console.bench",
                headers={"authorization": f"Bearer {TOKEN}"},
            ) as client:

                def page(path: str):
                    async def get() -> None:
                        answer = await client.get(path)
                        if answer.status_code != 200:
                            raise AssertionError(f"{path}: {answer.status_code} {answer.text[:300]}")

                    return get

                results = await measure(
                    [
                        ("actions list (24 h figures)", page("/admin/actions")),
                        ("action editor", page("/admin/actions/action_000")),
                        ("runs, first page, text filter", page("/admin/runs?q=item%201")),
                        ("one run with its snapshot", page(f"/admin/runs/{run_id}")),
                        ("analytics, all actions, 24 h", page("/admin/analytics?window=24h")),
                        ("analytics, all actions, 30 d", page("/admin/analytics?window=30d")),
                    ],
                    iterations=iterations,
                    warmup=2,
                    block=10,
                )
                print(table(list(results.items()), title="per page"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    iterations_arg(parser, 30)
    parser.add_argument("--actions", type=int, default=50, help="actions in the store (default 50)")
    parser.add_argument("--runs", type=int, default=20000, help="finished runs over 30 days (default 20000)")
    args = parser.parse_args()
    anyio.run(main, args.iterations, args.actions, args.runs)
