"""The scheduler with 10,000 schedules: load time, CPU while idle, lag between due time and run start.

Each scenario gets a throw-away SQLite database holding N scheduled API-call actions (written in bulk:
setup is not measured). A real `Scheduler` runs on the real clock with a no-op `fire` that only notes
when it was called, so the figures are the scheduler's own: planning, the timer, the claims in the
database (one transaction per batch of due times) and the lease release after each run.

- load     time from `run()` to "started" (every schedule read, synced with its state row, planned),
           first on an empty state table (rows created), then again as after a restart (rows exist);
- idle     process CPU time over a wall-clock window while every schedule is more than an hour away;
- spread   lag from due time to run start with N schedules `S * * * * *` (S = i mod 60: every minute,
           N/60 of them at each second), over a window of real time;
- herd     lag when all N fall due at the same instant (`0 * * * * *` / `30 ...`: every 30 s), once.

    python -m benchmarks.bench_scheduler [--schedules 10000] [--idle 10] [--window 20] [--no-herd]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio
import sqlalchemy as sa

from benchmarks._util import LOOPBACK, Summary, guru_settings, header, table
from guru_mcp.app import App, open_app
from guru_mcp.models import StoredAction, parse_spec
from guru_mcp.scheduler import Scheduler
from guru_mcp.store.tables import ActionRow

GURU = "default"


async def populate(app: App, crons: list[str]) -> None:
    """Insert one scheduled action per cron expression, in one transaction."""
    guru_id = await app.store.gurus.ensure_guru(GURU)
    now = datetime.now(UTC)
    rows = []
    for i, cron in enumerate(crons):
        spec = parse_spec(
            {
                "name": f"job_{i:05d}",
                "action_type": "API_CALL",
                "config": {"endpoint": f"http://{LOOPBACK}:9/jobs/{i}", "method": "POST", "body": {"job": i}},
                "schedule": {"cron": cron, "timezone": "Europe/Berlin" if i % 2 else "UTC"},
            }
        )
        rows.append(
            {
                "guru_id": guru_id,
                "name": spec.name,
                "spec": spec.model_dump_json(),
                "version": 1,
                "enabled": True,
                "disabled_reason": "",
                "created_at": now,
                "updated_at": now,
            }
        )

    def work() -> None:
        with app.store.engine.begin() as conn:
            conn.execute(sa.insert(ActionRow.__table__), rows)  # type: ignore[attr-defined]

    await anyio.to_thread.run_sync(work)


class Probe:
    """The no-op fire: notes how late each run started (for due times from `since` on)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.since = datetime.min.replace(tzinfo=UTC)

    async def __call__(self, action: StoredAction, due: datetime) -> Any:
        if due >= self.since:
            self.lags.append((datetime.now(UTC) - due).total_seconds())
        return None


async def with_scheduler(app: App, probe: Probe, owner: str, body: Callable[[float], Any]) -> None:
    """Start a scheduler, pass its load time (seconds) to `body`, stop it when `body` returns."""
    scheduler = Scheduler(app.catalog, app.store.schedules, probe, app.settings, owner_id=owner)
    async with anyio.create_task_group() as tg:
        started = time.perf_counter()
        await tg.start(scheduler.run)
        await body(time.perf_counter() - started)
        tg.cancel_scope.cancel()


async def idle_and_load(root: Path, n: int, idle_window: float) -> None:
    now = datetime.now(UTC)
    crons = [f"{i % 60} {(now.hour + 2 + i % 20) % 24} * * *" for i in range(n)]  # 2-21 h away
    settings = guru_settings(root / "idle")
    probe = Probe()
    loads: list[float] = []

    async def just_load(took: float) -> None:
        loads.append(took)

    async def idle(took: float) -> None:
        loads.append(took)
        cpu, wall = time.process_time(), time.perf_counter()
        await anyio.sleep(idle_window)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"idle CPU: {cpu * 1000:.1f} ms over {wall:.1f} s wall = {100 * cpu / wall:.3f} % of one CPU "
            f"({n} schedules, none due)"
        )

    async with open_app(settings, background=False, sandbox=False) as app:
        await populate(app, crons)
        await with_scheduler(app, probe, "bench-1", just_load)
    async with open_app(settings, background=False, sandbox=False) as app:  # a restart: a new process
        await with_scheduler(app, probe, "bench-2", idle)
    print(
        f"load {n} schedules: {loads[0]:.2f} s at first start (state rows created), {loads[1]:.2f} s at a restart"
    )
    assert not probe.lags, "nothing should have been due"


async def lag(root: Path, n: int, window: float, herd: bool) -> None:
    async with open_app(guru_settings(root / "spread"), background=False, sandbox=False) as app:
        await populate(app, [f"{i % 60} * * * * *" for i in range(n)])
        probe = Probe()

        async def spread(took: float) -> None:
            # Due times that passed while the schedules loaded fire at once, late: not counted.
            probe.since = datetime.now(UTC)
            cpu = time.process_time()
            await anyio.sleep(window)
            cpu = time.process_time() - cpu
            count = len(probe.lags)
            print(
                table(
                    [("spread", Summary.of(probe.lags))],
                    title=f"lag from due time to run start, {n} schedules, ~{n // 60}/s over {window:g} s",
                )
            )
            print(
                f"CPU while firing: {cpu:.2f} s over {window:g} s ({1000 * cpu / max(count, 1):.3f} ms per run)"
            )

        await with_scheduler(app, probe, "bench-spread", spread)
    if not herd:
        return
    async with open_app(guru_settings(root / "herd"), background=False, sandbox=False) as app:
        await populate(app, ["*/30 * * * * *"] * n)
        probe = Probe()

        async def one_herd(took: float) -> None:
            with anyio.fail_after(120):
                while len(probe.lags) < n:
                    await anyio.sleep(0.2)
            print(
                table(
                    [("herd", Summary.of(probe.lags))], title=f"lag when all {n} are due at the same instant"
                )
            )

        await with_scheduler(app, probe, "bench-herd", one_herd)


async def main(args: argparse.Namespace) -> None:
    header(f"scheduler: {args.schedules} schedules")
    with tempfile.TemporaryDirectory(prefix="guru-bench-sched-") as tmp:
        root = Path(tmp)
        await idle_and_load(root, args.schedules, args.idle)
        await lag(root, args.schedules, args.window, args.herd)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measurement")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of firing for the spread lag")
    parser.add_argument("--no-herd", dest="herd", action="store_false", help="skip the all-at-once case")
    known, _ = parser.parse_known_args()  # `python -m benchmarks -- ...` passes options to every benchmark
    anyio.run(main, known)
