"""Sustained fresh-container throughput: the configuration before issue 13 against today's, interleaved.

Every run gets a fresh hardened container that is destroyed afterwards, on every side. The sides
differ only in settings:

- `runc, pool 2`   the configuration before issue 13: `sandbox_runtime=default` (the engine's
                   default runtime, runc here), pool of 2;
- one row per `--config RUNTIME[:POOL]` (default `auto`, today's default setting: crun when the
                   engine has it registered, else the engine's default; `auto:4` adds a pool of 4).

Each round runs every configuration once, back to back (`--runs` runs from 4 concurrent callers
through the pool, pool full at the start), in an order that rotates from round to round, so
machine load hits all sides alike. Per configuration it prints runs/s over all rounds, the ratio to
`runc, pool 2`, and CPU per run read from /proc (dockerd, containerd, this process, and the whole
machine's busy time, which on a shared machine also holds other work).

    python -m benchmarks.bench_sandbox_lifecycle [--rounds 4] [--runs 30] [--config auto --config default:4 ...]
        [--breakdown 10]

First (`--breakdown N`, 0 to skip) it prints where the CPU of one container's lifecycle goes, per
process and per Docker API call, for each runtime compared (benchmarks/_lifecycle_breakdown.py).

Only the local Docker engine is talked to; the containers have no network (egress proxy mode, the
default, over a Unix socket).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from benchmarks._lifecycle_breakdown import proc_cpu
from benchmarks.bench_sandbox_executor import PRINT_1, run_ok, settings
from guru_mcp.egress import EgressPolicy
from guru_mcp.executors.sandbox import open_sandbox

DEADLINE = 1500.0
CALLERS = 4
POOL = 2
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    """CPU seconds of a process and its reaped children (user + system)."""
    return proc_cpu(pid, children=True)


def _pid_of(name: str) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == name:
                        return int(entry)
            except OSError:
                continue
    return None


def _machine_busy() -> float:
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / TICK  # all but idle and iowait


@dataclass
class Side:
    runtime: str
    pool: int = POOL
    runs: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("dockerd", "containerd", "us", "machine"), 0.0)
    )
    resolved: str = "?"
    cold: int = 0

    @property
    def label(self) -> str:
        return f"{self.resolved}, pool {self.pool}"

    @property
    def rate(self) -> float:
        return self.runs / self.seconds if self.seconds else 0.0


async def one_round(side: Side, home: Path, runs: int, pids: dict[str, int | None], stop_at: float) -> None:
    values = settings(home, sandbox_pool_size=side.pool, sandbox_runtime=side.runtime)
    async with open_sandbox(values, EgressPolicy(["127.0.0.1"])) as executor:
        status = executor.status()
        if not status["available"]:
            sys.exit(f"sandbox unavailable (runtime {side.runtime}): {status['reason']}")
        runtime = status["engine"]["runtime"]
        side.resolved = "runc" if runtime == "default" else runtime
        await executor.wait_warm(120)
        done = 0

        async def caller() -> None:
            nonlocal done
            while done < runs:
                done += 1
                await run_ok(executor, PRINT_1, "1")

        before = {name: _cpu_of(pid) for name, pid in pids.items() if pid is not None}
        busy = _machine_busy()
        started = time.perf_counter()
        with anyio.fail_after(max(stop_at - time.monotonic(), 1)):
            async with anyio.create_task_group() as tg:
                for _ in range(CALLERS):
                    tg.start_soon(caller)
            await executor.wait_warm(120)  # the last containers' removal counts too
        side.seconds += time.perf_counter() - started
        side.runs += done
        side.cold += executor.status()["cold_starts"]
        for name, pid in pids.items():
            if pid is not None:
                side.cpu[name] += _cpu_of(pid) - before[name]
        side.cpu["machine"] += _machine_busy() - busy


def print_breakdown(sides: list[Side], n: int) -> None:
    import docker

    from benchmarks._lifecycle_breakdown import breakdown
    from guru_mcp.executors.container import ContainerRecipe
    from guru_mcp.executors.engine import default_image, resolve_runtime

    client = docker.from_env(timeout=60)
    try:
        registered = set(client.info().get("Runtimes") or {})
        seen: set[str | None] = set()
        with tempfile.TemporaryDirectory(prefix="guru-bench-") as tmp:
            values = settings(Path(tmp))
            image = default_image(values)
            assert image is not None
            for side in sides:
                runtime = resolve_runtime(side.runtime, registered)
                if runtime in seen:
                    continue
                seen.add(runtime)
                recipe = ContainerRecipe.from_settings(values, image, "breakdown", runtime=runtime)
                print(
                    f"\nCPU ms per container, {runtime or 'runc'} ({n} containers one at a time, load {os.getloadavg()[0]:.1f}):"
                )
                print(breakdown(client.api, recipe, n), flush=True)
    finally:
        client.close()
    print()


async def main(rounds: int, runs: int, configs: list[str], breakdown_n: int = 0) -> None:
    stop_at = time.monotonic() + DEADLINE
    sides = [Side("default")]
    for config in configs:
        runtime, _, pool = config.partition(":")
        sides.append(Side(runtime, int(pool or POOL)))
    pids: dict[str, int | None] = {
        "dockerd": _pid_of("dockerd"),
        "containerd": _pid_of("containerd"),
        "us": os.getpid(),
    }
    print(
        f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.1f}; {rounds} rounds x {runs} runs per side"
    )
    if breakdown_n:
        print_breakdown(sides, breakdown_n)
    if not rounds:
        return
    with tempfile.TemporaryDirectory(prefix="guru-bench-") as tmp:
        for r in range(rounds):
            order = sides[r % len(sides) :] + sides[: r % len(sides)]
            for side in order:
                await one_round(side, Path(tmp), runs, pids, stop_at)
            print(
                f"  round {r + 1}: "
                + ", ".join(f"{s.label} {s.rate:.2f}/s" for s in sides)
                + f"  (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    base = sides[0]
    print(f"\nSustained fresh-container runs ({CALLERS} callers, every container used once and removed)")
    print(
        f"  {'configuration':<20} {'runs/s':>7} {'ratio':>6}   CPU ms per run: {'dockerd':>7} {'containerd':>10} {'us':>5} {'machine':>7}  cold"
    )
    for side in sides:
        per = {k: v * 1000 / max(side.runs, 1) for k, v in side.cpu.items()}
        print(
            f"  {side.label:<20} {side.rate:7.2f} {side.rate / base.rate:5.2f}x   {'':15} {per['dockerd']:7.0f} {per['containerd']:10.0f} "
            f"{per['us']:5.0f} {per['machine']:7.0f}  {side.cold}"
        )
    print(
        f"\nload average at the end {os.getloadavg()[0]:.1f} (machine CPU includes other work on a shared host)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    parser.add_argument(
        "--iterations", "--runs", "-n", dest="runs", type=int, default=30, help="runs per side per round"
    )
    parser.add_argument(
        "--config",
        action="append",
        default=None,
        help="RUNTIME[:POOL] to compare with default:2 (repeatable; default: auto)",
    )
    parser.add_argument(
        "--breakdown",
        type=int,
        default=10,
        help="containers for the per-process/per-call breakdown (0: none)",
    )
    args = parser.parse_args()
    anyio.run(main, args.rounds, args.runs, args.config or ["auto"], args.breakdown)
