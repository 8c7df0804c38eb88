"""Start-up, whole process: how long an operator or an MCP client waits for a fresh `guru-mcp`.

Every figure is the median of N fresh processes on an existing home (initialised once, holding the
repository's example actions):

- `--help`           the command's help (no server code is imported);
- `actions list`     the CLI listing the actions (settings, database, catalog);
- stdio initialize   spawn `guru-mcp serve` and get the answer to `initialize`, with the official
                     MCP SDK client (`mcp.Client` over stdio), the sandbox on as configured by
                     default unless `--no-sandbox` (its engine probe and warm pool start in the
                     background and must not delay the answer).

Wall time is what one waits; CPU time (user + system of the process) is less disturbed by a busy
machine. `--guru-mcp` (repeatable) measures other builds, alternately with this one, at the same
moment (the README's before/after figures):

    python -m benchmarks -k startup [-- --iterations 11]
    python benchmarks/bench_startup.py --guru-mcp /tmp/before/.venv/bin/guru-mcp --guru-mcp .venv/bin/guru-mcp
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

from benchmarks._util import REPO, guru_command, guru_env, header, iterations_arg

TARGETS = {"--help": 0.3, "actions list": 0.3, "stdio initialize": 1.0}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_command(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return wall, _children_cpu() - cpu


def _timed_initialize(build: str, env: dict[str, str]) -> tuple[float, float]:
    """Spawn `build serve` and wait for the SDK client's initialize to complete; the server's CPU
    time is its rusage once it has exited (stdin closed right after the answer)."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=build, args=["serve", "--transport", "stdio"], env=env)
    took = 0.0

    async def once() -> None:
        nonlocal took
        with anyio.fail_after(120):
            started = time.perf_counter()
            async with Client(params, read_timeout_seconds=60):
                took = time.perf_counter() - started

    cpu = _children_cpu()
    anyio.run(once)
    return took, _children_cpu() - cpu


def _home(build: str, root: Path, sandbox: bool) -> dict[str, str]:
    home = root / f"home-{abs(hash(build))}"
    env = guru_env(home)
    if sandbox:
        env.pop("GURU_MCP_SANDBOX_ENABLED", None)  # the default: on
    _timed_command([build, "init"], env)
    examples = sorted(str(p) for p in (REPO / "actions").glob("*.json"))
    _timed_command([build, "actions", "import", *examples], env)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    iterations_arg(parser, 11)
    parser.add_argument(
        "--guru-mcp", action="append", dest="builds", help="a guru-mcp executable (repeatable)"
    )
    parser.add_argument("--no-sandbox", action="store_true", help="serve with the sandbox switched off")
    parser.add_argument("--only", choices=sorted(TARGETS), action="append", help="measure only these")
    args = parser.parse_args()
    builds = args.builds or [guru_command()]
    chosen = args.only or list(TARGETS)
    header(f"start-up, whole process: median of {args.iterations} fresh processes per figure")
    with tempfile.TemporaryDirectory() as tmp:
        envs = {b: _home(b, Path(tmp), not args.no_sandbox) for b in builds}
        cases: dict[str, Callable[[str], tuple[float, float]]] = {
            "--help": lambda b: _timed_command([b, "--help"], envs[b]),
            "actions list": lambda b: _timed_command([b, "actions", "list"], envs[b]),
            "stdio initialize": lambda b: _timed_initialize(b, envs[b]),
        }
        figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for case in chosen:
            for _ in range(args.iterations):
                for build in builds:  # alternately: a busy moment costs every build alike
                    figures.setdefault((case, build), []).append(cases[case](build))
        print(f"{'case':<18} {'build':<48} {'wall p50':>9} {'wall min':>9} {'CPU p50':>9} {'target':>7}")
        for (case, build), runs in figures.items():
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            print(
                f"{case:<18} {build[-48:]:<48} {statistics.median(walls):>8.3f}s {min(walls):>8.3f}s"
                f" {statistics.median(cpus):>8.3f}s {TARGETS[case]:>6.1f}s"
            )
        print(
            json.dumps(
                {f"{c} | {b}": round(statistics.median(w for w, _ in r), 4) for (c, b), r in figures.items()}
            )
        )


if __name__ == "__main__":
    main()
