"""The scheduler benchmark still runs (tiny sizes, through the same runner as `python -m benchmarks`)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.bench
def test_the_scheduler_benchmark_prints_load_idle_and_lag_figures() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "-k",
            "bench_scheduler",
            "--",
            "--schedules",
            "120",
            "--idle",
            "0.5",
            "--window",
            "2.5",
            "--no-herd",
        ],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    ).stdout
    assert "idle CPU:" in out and "load 120 schedules:" in out
    assert "lag from due time to run start" in out and "spread" in out
    assert "ok      bench_scheduler" in out
