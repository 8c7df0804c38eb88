"""The Docker sandbox executor, measured at the executor level (no MCP), beside one-shot baselines.

All in one run, against the real engine and the sandbox image:

- `warm print(1)`           a run served by the warm pool (pool full before each timed run);
- `warm pandas, preimport`  `import pandas` in a pool container that pre-imported pandas and numpy;
- `warm pandas, no preimp.` the same script in a pool container that pre-imported nothing;
- `cold print(1)`           pool size 0: create + attach + start + run, per call;
- `one-shot SDK`            baseline: what `docker run --rm` does, through the SDK, with the same
                            hardened flags: create, attach, start, send the job, wait, remove;
- `one-shot docker run`     baseline: the `docker run --rm -i` command line itself, per call;
- sustained throughput      back-to-back runs from 4 concurrent callers through a pool of 2.

Containers are removed after every call, as in production; nothing talks to anything but the local
Docker engine. Targets (issue 3): warm p50 <= 10 ms, pandas p50 <= 20 ms with pre-import, cold p50
<= 300 ms, >= 7 runs/s sustained.

    python -m benchmarks.bench_sandbox_executor [-n 100] [--image REF]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import docker

from benchmarks._util import Summary, table
from guru_mcp.egress import EgressPolicy
from guru_mcp.executors.container import RUNNER_COMMAND, SANDBOX_USER, ContainerRecipe, Sandbox
from guru_mcp.executors.fleet import create_blocking, remove_blocking
from guru_mcp.executors.sandbox import SandboxExecutor, open_sandbox
from guru_mcp.models import ActionSpec, Job, RunStatus
from guru_mcp.settings import Settings

DEADLINE = 900.0
PRINT_1 = "print(1)"
PANDAS = "import pandas as pd\nprint(pd.DataFrame({'a': [1, 2, 3]})['a'].sum())"


def job(code: str) -> Job:
    spec = ActionSpec.model_validate(
        {"name": "bench", "action_type": "PYTHON_CODE", "config": {"code": code}}
    )
    return Job(
        run_id="bench", action=spec, arguments={"n": 1}, builtins={}, secrets={"TOKEN": "t" * 16}, timeout=60
    )


def settings(home: Path, **values: Any) -> Settings:
    return Settings(**{"home": home, "sandbox_egress": "proxy", **values})


async def timed(
    call: Callable[[], Awaitable[Any]],
    n: int,
    *,
    before: Callable[[], Awaitable[Any]] | None = None,
    stop_at: float,
) -> list[float]:
    samples: list[float] = []
    for _ in range(n):
        if before is not None:
            await before()
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
        if time.monotonic() > stop_at:
            raise TimeoutError(f"the benchmark ran past its {DEADLINE:g} s deadline")
    return samples


async def run_ok(executor: SandboxExecutor, code: str, expected: str) -> None:
    result = await executor.execute(job(code))
    if result.status is not RunStatus.OK or result.text.strip() != expected:
        raise RuntimeError(f"unexpected result: {result.status} {result.text!r} {result.error!r}")


def one_shot_sdk(api: docker.APIClient, recipe: ContainerRecipe, payload: bytes) -> None:
    """What `docker run --rm -i` does, with the executor's flags: create, attach, start, job, wait, remove."""
    box = Sandbox(recipe)
    try:
        create_blocking(api, box)
        assert box._sock is not None
        box._sock.setblocking(True)
        box._sock.sendall(payload)
        box._sock.shutdown(socket.SHUT_WR)
        while box._sock.recv(65536):
            pass
        api.wait(box.id, timeout=60)
    finally:
        remove_blocking(api, box)


def one_shot_cli(image: str, payload: bytes) -> None:
    command = [
        "docker",
        "run",
        "--rm",
        "-i",
        "--read-only",
        "--tmpfs",
        "/tmp:rw,noexec,nosuid,nodev,size=100m",
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
        "--network",
        "none",
        "--log-driver",
        "none",
        "--user",
        SANDBOX_USER,
        image,
        *RUNNER_COMMAND,
    ]
    out = subprocess.run(command, input=payload, capture_output=True, timeout=60, check=True).stdout
    if json.loads(out)["stdout"] != "1\n":
        raise RuntimeError(f"unexpected one-shot output: {out[:200]!r}")


async def main(n: int, image: str | None) -> None:
    stop_at = time.monotonic() + DEADLINE
    policy = EgressPolicy(["127.0.0.1"])
    rows: list[tuple[str, Summary]] = []
    with tempfile.TemporaryDirectory(prefix="guru-bench-") as tmp:
        home = Path(tmp)
        # Warm pool, print(1) and pandas with pre-import.
        async with open_sandbox(settings(home, sandbox_pool_size=2), policy, image=image) as executor:
            status = executor.status()
            if not status["available"]:
                sys.exit(f"sandbox unavailable: {status['reason']}")
            print(
                f"engine {status['engine']['version']}, image {status['image']}, egress {status['egress']}, "
                f"{os.cpu_count()} CPUs"
            )

            async def warm() -> None:
                await executor.wait_warm(120, preimported=True)

            await warm()
            for _ in range(3):
                await run_ok(executor, PRINT_1, "1")
                await warm()
            rows.append(
                (
                    "warm print(1)",
                    Summary.of(
                        await timed(lambda: run_ok(executor, PRINT_1, "1"), n, before=warm, stop_at=stop_at)
                    ),
                )
            )
            rows.append(
                (
                    "warm pandas, preimport",
                    Summary.of(
                        await timed(
                            lambda: run_ok(executor, PANDAS, "6"),
                            max(n // 2, 5),
                            before=warm,
                            stop_at=stop_at,
                        )
                    ),
                )
            )
            if executor.status()["cold_starts"]:
                raise RuntimeError("a 'warm' run was served cold")

            # Sustained: 4 callers, back to back, through the pool of 2.
            total = max(n, 40)
            done = 0

            async def caller() -> None:
                nonlocal done
                while done < total:
                    done += 1
                    await run_ok(executor, PRINT_1, "1")

            await warm()
            started = time.perf_counter()
            with anyio.fail_after(max(stop_at - time.monotonic(), 1)):
                async with anyio.create_task_group() as tg:
                    for _ in range(4):
                        tg.start_soon(caller)
            sustained = done / (time.perf_counter() - started)
            sustained_cold = executor.status()["cold_starts"]

        async with open_sandbox(
            settings(home, sandbox_pool_size=2, sandbox_preimport=[]), policy, image=image
        ) as executor:
            rows.append(
                (
                    "warm pandas, no preimp.",
                    Summary.of(
                        await timed(
                            lambda: run_ok(executor, PANDAS, "6"),
                            max(n // 4, 5),
                            before=lambda: executor.wait_warm(120),
                            stop_at=stop_at,
                        )
                    ),
                )
            )

        # Cold path: no pool.
        async with open_sandbox(settings(home, sandbox_pool_size=0), policy, image=image) as executor:
            await run_ok(executor, PRINT_1, "1")
            rows.append(
                (
                    "cold print(1)",
                    Summary.of(
                        await timed(lambda: run_ok(executor, PRINT_1, "1"), max(n // 4, 10), stop_at=stop_at)
                    ),
                )
            )
            image_ref = executor.image
            assert image_ref is not None

        # Baselines, same engine, same flags.
        client = docker.from_env(timeout=60)
        recipe = ContainerRecipe.from_settings(
            settings(home, sandbox_egress="none", sandbox_preimport=[]), image_ref, "bench-baseline"
        )
        payload = (
            json.dumps({"code": PRINT_1, "env": {"TOKEN": "t" * 16}, "max_output": 1 << 20}).encode() + b"\n"
        )
        cold_n = max(n // 4, 10)
        rows.append(
            (
                "one-shot SDK",
                Summary.of(
                    await timed(
                        lambda: anyio.to_thread.run_sync(one_shot_sdk, client.api, recipe, payload),
                        cold_n,
                        stop_at=stop_at,
                    )
                ),
            )
        )
        rows.append(
            (
                "one-shot docker run",
                Summary.of(
                    await timed(
                        lambda: anyio.to_thread.run_sync(one_shot_cli, image_ref, payload),
                        cold_n,
                        stop_at=stop_at,
                    )
                ),
            )
        )
        client.close()

    print(table(rows, title="\nSandbox executor latency (ms), container removed after every run"))
    figures = dict(rows)
    print(
        f"\n  sustained: {sustained:.1f} runs/s (4 concurrent callers, pool 2, {total} runs, "
        f"{sustained_cold} served cold)"
    )
    checks = [
        ("warm p50", figures["warm print(1)"].p50, 10.0, "ms"),
        ("pandas p50 with pre-import", figures["warm pandas, preimport"].p50, 20.0, "ms"),
        ("cold p50", figures["cold print(1)"].p50, 300.0, "ms"),
    ]
    print("\nTargets (issue 3):")
    for label, value, target, unit in checks:
        met = "MET" if value <= target else "MISSED"
        print(f"  {label:<28} {value:8.2f} {unit}  {met} (<= {target:g} {unit})")
    met = "MET" if sustained >= 7 else "MISSED"
    print(f"  {'sustained runs per second':<28} {sustained:8.2f}     {met} (>= 7)")
    base = figures["one-shot docker run"].p50
    print(
        f"\n  warm p50 is {base / figures['warm print(1)'].p50:.0f}x faster than a one-shot `docker run` "
        f"({base:.0f} ms); cold p50 is {base / figures['cold print(1)'].p50:.1f}x faster."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--iterations", "-n", type=int, default=100, help="warm runs timed (others scale from it)"
    )
    parser.add_argument(
        "--image", default=None, help="sandbox image (default: the tag computed from sandbox/)"
    )
    args = parser.parse_args()
    anyio.run(main, args.iterations, args.image)
