"""Python actions end to end through MCP over stdio, beside a one-shot `docker run` per call.

Variants, each a fresh `guru-mcp serve --transport stdio --admin` subprocess with the real sandbox:

- warm: a trivial script, each call taken by a pre-started container (between timed calls we wait,
  untimed, for the pool to hold a ready container again — so this is the warm path's own cost);
- pandas with pre-import (pool containers imported pandas while waiting) and without;
- cold: pool size 0, every call creates and starts a container;
- sustained: calls back to back from 3 concurrent clients tasks for a fixed time (warm when the pool
  keeps up, cold when it does not), reported as runs per second;
- baseline: `docker run --rm` with the same hardening flags per call.

Loopback only: the containers have no network (egress mode `none`). Bounded in count and time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from benchmarks._util import Summary, guru_cli, guru_command, guru_env, header, table, verdict

TRIVIAL = {"name": "trivial", "action_type": "PYTHON_CODE", "config": {"code": "print(1)"}}
PANDAS = {
    "name": "pandas_sum",
    "action_type": "PYTHON_CODE",
    "config": {"code": "import pandas as pd\nprint(pd.DataFrame({'a': [1, 2, 3]}).a.sum())"},
}
TARGETS = {"warm": 10.0, "pandas, pre-imported": 20.0, "cold (pool 0)": 300.0}


def image() -> str:
    from guru_mcp.sandbox_image import expected_tag

    return expected_tag()


def server_env(home: Path, *, pool: int, preimport: str) -> dict[str, str]:
    env = guru_env(home)
    env.update(
        GURU_MCP_SANDBOX_ENABLED="true",
        GURU_MCP_SANDBOX_IMAGE=image(),
        GURU_MCP_SANDBOX_POOL_SIZE=str(pool),
        GURU_MCP_SANDBOX_PREIMPORT=preimport,
        GURU_MCP_SANDBOX_EGRESS="none",
        GURU_MCP_MAX_CONCURRENT_RUNS_PER_CALLER="3",
    )
    return env


async def _ready(client: Any, deadline: float) -> None:
    """Wait (untimed) until the pool holds a ready container and nothing is being removed."""
    while time.monotonic() < deadline:
        status = (await client.call_tool("admin_sandbox_status", {})).structured_content
        pool = status["pool"]
        if pool["ready"] >= 1 and pool["removing"] == 0 and pool["starting"] == 0:
            return
        await anyio.sleep(0.02)
    raise TimeoutError("the pool did not refill in time")


async def measure_server(
    home: Path, *, pool: int, preimport: str, action: str, calls: int, wait_warm: bool, deadline: float
) -> Summary:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=guru_command(),
        args=["serve", "--admin"],
        env=server_env(home, pool=pool, preimport=preimport),
    )
    times: list[float] = []
    async with Client(params, read_timeout_seconds=120) as client:
        for i in range(calls + 2):
            if wait_warm:
                await _ready(client, deadline)
            started = time.perf_counter()
            result = await client.call_tool(action, {})
            elapsed = time.perf_counter() - started
            if result.is_error:
                raise RuntimeError(f"{action} failed: {result.content[0].text}")
            if i >= 2:  # two untimed warm-up calls
                times.append(elapsed)
            if time.monotonic() > deadline:
                break
    return Summary.of(times)


async def sustained(home: Path, *, seconds: float, workers: int) -> tuple[float, Summary]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=guru_command(), args=["serve", "--admin"], env=server_env(home, pool=2, preimport="")
    )
    times: list[float] = []
    async with Client(params, read_timeout_seconds=120) as client:
        await _ready(client, time.monotonic() + 60)
        stop = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < stop:
                started = time.perf_counter()
                result = await client.call_tool("trivial", {})
                if result.is_error:
                    raise RuntimeError(result.content[0].text)
                times.append(time.perf_counter() - started)

        began = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(worker)
        wall = time.perf_counter() - began
    return len(times) / wall, Summary.of(times)


def docker_run_baseline(calls: int) -> Summary:
    flags = [
        "--rm",
        "--read-only",
        "--network",
        "none",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--pids-limit",
        "128",
        "--memory",
        "512m",
        "--memory-swap",
        "512m",
        "--cpus",
        "1",
        "--user",
        "10001",
        "--tmpfs",
        "/tmp:rw,noexec,nosuid,nodev,size=100m",
    ]
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        done = subprocess.run(
            ["docker", "run", *flags, image(), "python3", "-c", "print(1)"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        times.append(time.perf_counter() - started)
        if done.stdout.strip() != "1":
            raise RuntimeError(f"docker run failed: {done.stderr}")
    return Summary.of(times)


async def run(args: argparse.Namespace) -> None:
    deadline = time.monotonic() + args.deadline
    with tempfile.TemporaryDirectory(prefix="guru-bench-py-") as tmp:
        home = Path(tmp) / "home"
        guru_cli(home, "init")
        doc = Path(tmp) / "actions.json"
        import json

        doc.write_text(json.dumps([TRIVIAL, PANDAS]))
        guru_cli(home, "actions", "import", str(doc))
        rows: list[tuple[str, Summary]] = []
        n = args.iterations
        rows.append(
            (
                "warm",
                await measure_server(
                    home, pool=2, preimport="", action="trivial", calls=n, wait_warm=True, deadline=deadline
                ),
            )
        )
        rows.append(
            (
                "pandas, pre-imported",
                await measure_server(
                    home,
                    pool=2,
                    preimport="pandas,numpy",
                    action="pandas_sum",
                    calls=n,
                    wait_warm=True,
                    deadline=deadline,
                ),
            )
        )
        rows.append(
            (
                "pandas, no pre-import",
                await measure_server(
                    home,
                    pool=2,
                    preimport="",
                    action="pandas_sum",
                    calls=n,
                    wait_warm=True,
                    deadline=deadline,
                ),
            )
        )
        rows.append(
            (
                "cold (pool 0)",
                await measure_server(
                    home,
                    pool=0,
                    preimport="",
                    action="trivial",
                    calls=max(5, n // 3),
                    wait_warm=False,
                    deadline=deadline,
                ),
            )
        )
        rows.append(
            ("one-shot docker run", await anyio.to_thread.run_sync(docker_run_baseline, max(5, n // 3)))
        )
        rate, summary = await sustained(home, seconds=args.seconds, workers=3)
        rows.append((f"sustained, 3 concurrent, {args.seconds:g} s", summary))
    print(table(rows, title=f"Python action through MCP over stdio ({n} calls per warm variant)"))
    for label, s in rows:
        if label in TARGETS:
            print(f"target, {label} p50: {s.p50:.1f} ms, {verdict(s.p50, TARGETS[label])}")
    print(f"sustained: {rate:.1f} runs per second, {'MET' if rate >= 7 else 'MISSED'} (target >= 7)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=60, help="timed calls per warm variant")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the sustained run")
    parser.add_argument("--deadline", type=float, default=900.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    header("bench_python_mcp: Python actions through MCP over stdio")
    anyio.run(run, args)


if __name__ == "__main__":
    main(sys.argv[1:])
