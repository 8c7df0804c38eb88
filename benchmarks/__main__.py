"""Run every benchmark in this directory (`bench_*.py`), one after another, printing each one's output.

    python -m benchmarks                      # all of them, default sizes
    python -m benchmarks -k api_call          # those whose name contains "api_call"
    python -m benchmarks --iterations 100     # forwarded to benchmarks that declare --iterations
    python -m benchmarks --list               # names only
    python -m benchmarks -- --mode auto       # anything after `--` goes to every benchmark

Each benchmark runs as its own process (`python benchmarks/bench_x.py`, with the repository on
PYTHONPATH) under a deadline; one that fails or overruns is reported and the others still run.
The exit status is non-zero if any failed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def discover(pattern: str | None = None) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    return [p for p in found if pattern is None or pattern in p.stem]


def _declares(path: Path, option: str) -> bool:
    try:
        return option in path.read_text(encoding="utf-8")
    except OSError:
        return False


def run_one(path: Path, args: list[str], timeout: float) -> tuple[int, float]:
    """Run one benchmark with its output going straight to ours; returns (exit status, seconds)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(path), *args], cwd=REPO, env=env, start_new_session=True)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"!! {path.stem} ran past {timeout:g} s; stopping it", flush=True)
        _stop_group(proc)
        code = -1
    except KeyboardInterrupt:
        _stop_group(proc)
        raise
    return code, time.monotonic() - started


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the benchmark and whatever it started (its own session), gently first."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Run every benchmarks/bench_*.py."
    )
    parser.add_argument("-k", dest="pattern", help="only benchmarks whose name contains this")
    parser.add_argument(
        "--iterations", "-n", type=int, help="forwarded to benchmarks that declare --iterations"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds allowed per benchmark (default 1800)"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    benches = discover(args.pattern)
    if args.list:
        for path in benches:
            print(path.stem)
        return 0
    if not benches:
        print("no benchmark matches", file=sys.stderr)
        return 1

    results: list[tuple[str, int, float]] = []
    for path in benches:
        bench_args = list(extra)
        if args.iterations is not None and _declares(path, "--iterations"):
            bench_args = ["--iterations", str(args.iterations), *bench_args]
        print(f"\n### {path.stem} {' '.join(bench_args)}".rstrip(), flush=True)
        code, took = run_one(path, bench_args, args.timeout)
        results.append((path.stem, code, took))

    print("\n### summary")
    for name, code, took in results:
        print(f"  {'ok    ' if code == 0 else f'FAILED ({code})'}  {name:<32} {took:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
