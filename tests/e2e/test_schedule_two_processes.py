"""Two `guru-mcp serve` processes on one database (SQLite or PostgreSQL) fire a schedule due every two seconds:
each due time yields exactly one run record, and killing the process that is firing loses none.

Real time, real processes: the waits poll the database with deadlines. The kill lands between two
due times (a kill inside the claim-to-record window is covered, with a fake clock, by
tests/scheduler/test_scheduler.py: the lease expires and another process fires the due time).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.conftest import GURU, cli, database, free_port, runs
from tests.support.http import EchoServer
from tests.support.polling import wait_for

PERIOD = 2


def aware(value: datetime | str) -> datetime:
    """A UTC datetime from a raw column (SQLite hands back naive text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def scheduled_runs(db: sa.Engine) -> list[tuple[datetime, str]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT due_at, status FROM runs WHERE trigger = 'schedule' ORDER BY due_at")
        ).all()
    return [(aware(due), status) for due, status in rows]


def last_claimer_pid(db: sa.Engine) -> int:
    with db.connect() as conn:
        owner = conn.execute(sa.text("SELECT claimed_by FROM schedule_state")).scalar_one()
    return int(owner.split(":")[1])  # host:pid:instance


def serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [GURU, "-v", "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return process, f"http://127.0.0.1:{port}/mcp"


def logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(tmp_path.glob("serve-*.log")))


def answers(url: str) -> bool:
    try:
        return httpx.post(url, timeout=1).status_code == 401
    except httpx.HTTPError:
        return False


def between_due_times() -> bool:
    return 0.8 <= time.time() % PERIOD <= 1.2


@pytest.mark.timeout(180)
def test_two_servers_fire_each_due_time_once_and_survive_a_kill(cli_env, echo_server: EchoServer, tmp_path):
    env = cli_env | {"GURU_MCP_SCHEDULER_ENABLED": "true", "GURU_MCP_RUN_QUEUE_TIMEOUT": "2"}
    cli(env, "init")
    db = database(env)
    action = {
        "name": "tick",
        "action_type": "API_CALL",
        "config": {"endpoint": echo_server.url + "/tick", "method": "GET", "timeout": 2},
        # "allow": this test is about exactly-once and take-over; with "skip", a due time that comes
        # while a slow start-up run is still going is rightly skipped, which is not a loss.
        "schedule": {"cron": f"*/{PERIOD} * * * * *", "overlap": "allow"},
    }
    (tmp_path / "tick.json").write_text(json.dumps(action))
    cli(env, "actions", "import", str(tmp_path / "tick.json"))

    processes = [serve(env, tmp_path / f"serve-{i}.log") for i in range(2)]
    try:
        wait_for(
            lambda: all(answers(url) for _, url in processes), timeout=90
        )  # start-up on a loaded machine
        wait_for(lambda: len(scheduled_runs(db)) >= 4, timeout=30)

        wait_for(between_due_times, timeout=5, interval=0.01)
        victim = last_claimer_pid(db)
        assert victim in {p.pid for p, _ in processes}
        os.kill(victim, signal.SIGKILL)
        killed_at = datetime.now(UTC)
        survivor = next(p for p, _ in processes if p.pid != victim)

        def fired_after_kill() -> int:
            return sum(1 for due, _ in scheduled_runs(db) if due > killed_at)

        wait_for(lambda: fired_after_kill() >= 4, timeout=30)
        assert last_claimer_pid(db) == survivor.pid
        wait_for(between_due_times, timeout=5, interval=0.01)
    finally:
        for process, _ in processes:
            if process.poll() is None:
                process.terminate()
        for process, _ in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()

    runs = scheduled_runs(db)
    db.dispose()
    dues = [due for due, _ in runs]
    assert len(dues) == len(set(dues)), f"a due time was fired twice\n{logs(tmp_path)}"
    gaps = [(a, b) for a, b in pairwise(dues) if b - a != timedelta(seconds=PERIOD)]
    assert not gaps, f"due times were lost: {gaps}\n{logs(tmp_path)}"
    assert {status for _, status in runs} == {"ok"}
    assert len([r for r in echo_server.requests if r["path"] == "/tick"]) == len(runs)


@pytest.mark.timeout(180)
def test_killing_the_claim_holder_mid_run_hands_the_schedule_to_the_other_server(
    cli_env, echo_server: EchoServer, tmp_path
):
    """The process holding a schedule's claim (its run in flight, its lease standing) is killed:
    the other server settles the run as cancelled and fires the next due times, none twice."""
    env = cli_env | {
        "GURU_MCP_SCHEDULER_ENABLED": "true",
        "GURU_MCP_RUN_QUEUE_TIMEOUT": "2",
        "GURU_MCP_PROCESS_LAPSE": "1",
    }
    cli(env, "init")
    db = database(env)
    action = {
        "name": "hold",
        "action_type": "API_CALL",  # /slow blocks until the gate opens: the first run is in flight
        "config": {"endpoint": echo_server.url + "/slow", "method": "GET", "timeout": 30},
        "schedule": {"cron": f"*/{PERIOD} * * * * *", "overlap": "skip"},
    }
    (tmp_path / "hold.json").write_text(json.dumps(action))
    cli(env, "actions", "import", str(tmp_path / "hold.json"))

    processes = [serve(env, tmp_path / f"serve-{i}.log") for i in range(2)]
    try:
        wait_for(
            lambda: all(answers(url) for _, url in processes), timeout=90
        )  # start-up on a loaded machine
        wait_for(lambda: any(r["status"] == "running" for r in runs(db, trigger="schedule")), timeout=30)
        [held] = [r for r in runs(db, trigger="schedule") if r["status"] == "running"]
        victim = int(str(held["process_id"]).split(":")[1])
        assert victim in {p.pid for p, _ in processes}
        assert last_claimer_pid(db) == victim
        os.kill(victim, signal.SIGKILL)
        echo_server.gate.set()  # from now on every run returns at once
        survivor = next(p for p, _ in processes if p.pid != victim)

        def settled() -> dict:
            [row] = runs(db, id=held["id"])
            return row

        wait_for(lambda: settled()["status"] != "running", timeout=30)
        held_due = aware(held["due_at"])

        def fired_after() -> list[tuple[datetime, str]]:
            return [(due, status) for due, status in scheduled_runs(db) if due > held_due]

        wait_for(lambda: len(fired_after()) >= 3, timeout=30)
        assert last_claimer_pid(db) == survivor.pid
    finally:
        for process, _ in processes:
            if process.poll() is None:
                process.terminate()
        for process, _ in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()

    row = settled()
    assert row["status"] == "cancelled" and row["error"] == "the server running it stopped", row
    recovered_at = aware(row["ended_at"])
    after = [due for due, _ in scheduled_runs(db) if due > held_due]
    db.dispose()
    dues = [due for due, _ in scheduled_runs(database(env))]
    assert len(dues) == len(set(dues)), f"a due time was fired twice\n{logs(tmp_path)}"
    # Due times that passed while the killed run seemed to go were skipped (overlap "skip"), or
    # collapsed into one run (misfire); from the recovery on, none is lost.
    assert after[0] <= recovered_at + timedelta(seconds=PERIOD), f"{after} {recovered_at}\n{logs(tmp_path)}"
    gaps = [(a, b) for a, b in pairwise(after) if b - a != timedelta(seconds=PERIOD)]
    assert not gaps, f"due times were lost after the take-over: {gaps}\n{logs(tmp_path)}"
