"""Two `guru-mcp serve` processes on one SQLite database fire a schedule due every two seconds:
each due time yields exactly one run record, and killing the process that is firing loses none.

Real time, real processes: the waits poll the database with deadlines. The kill lands between two
due times (a kill inside the claim-to-record window is covered, with a fake clock, by
tests/scheduler/test_scheduler.py: the lease expires and another process fires the due time).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from tests.conftest import EchoServer, wait_for
from tests.e2e.conftest import GURU, cli, free_port

PERIOD = 2


def scheduled_runs(db: Path) -> list[tuple[datetime, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            "SELECT due_at, status FROM runs WHERE trigger = 'schedule' ORDER BY due_at"
        ).fetchall()
    return [(datetime.fromisoformat(due), status) for due, status in rows]


def last_claimer_pid(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        (owner,) = conn.execute("SELECT claimed_by FROM schedule_state").fetchone()
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
    db = Path(env["GURU_MCP_HOME"]) / "guru-mcp.db"
    cli(env, "init")
    action = {
        "name": "tick",
        "action_type": "API_CALL",
        "config": {"endpoint": echo_server.url + "/tick", "method": "GET", "timeout": 2},
        "schedule": {"cron": f"*/{PERIOD} * * * * *"},
    }
    (tmp_path / "tick.json").write_text(json.dumps(action))
    cli(env, "actions", "import", str(tmp_path / "tick.json"))

    processes = [serve(env, tmp_path / f"serve-{i}.log") for i in range(2)]
    try:
        wait_for(lambda: all(answers(url) for _, url in processes), timeout=30)
        wait_for(lambda: len(scheduled_runs(db)) >= 4, timeout=30)

        wait_for(between_due_times, timeout=5, interval=0.01)
        victim = last_claimer_pid(db)
        assert victim in {p.pid for p, _ in processes}
        os.kill(victim, signal.SIGKILL)
        killed_at = datetime.now(UTC).replace(tzinfo=None)  # SQLite hands back naive UTC
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
    dues = [due for due, _ in runs]
    assert len(dues) == len(set(dues)), f"a due time was fired twice\n{logs(tmp_path)}"
    gaps = [(a, b) for a, b in pairwise(dues) if b - a != timedelta(seconds=PERIOD)]
    assert not gaps, f"due times were lost: {gaps}\n{logs(tmp_path)}"
    assert {status for _, status in runs} == {"ok"}
    assert len([r for r in echo_server.requests if r["path"] == "/tick"]) == len(runs)
