"""The benchmarks still run: each one, tiny sizes, through the same runner as `python -m benchmarks`.

No timing is asserted (speed is never a test result); only that every variant ran and the figures
were printed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `benchmarks` is not part of the installed package
    sys.path.insert(0, str(REPO))

from benchmarks._util import percentile  # noqa: E402
from tests.executors.conftest import docker_api, sandbox_image  # noqa: E402,F401

pytestmark = pytest.mark.bench


def run_benchmarks(*args: str, timeout: float = 240) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"
    return done.stdout


def test_percentiles_interpolate_between_ranks_like_numpy() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_the_runner_finds_every_benchmark_file() -> None:
    names = run_benchmarks("--list").split()
    assert {"bench_api_call", "bench_tools_list"} <= set(names)
    assert names == sorted(p.stem for p in (REPO / "benchmarks").glob("bench_*.py"))


def test_the_api_call_benchmark_prints_every_variant_and_the_overhead() -> None:
    out = run_benchmarks("-k", "bench_api_call", "--", "--iterations", "2", "--warmup", "0")
    for variant in ("httpx direct", "runs.run (no MCP)", "MCP in-process", "MCP stdio"):
        assert variant in out
    assert "overhead versus httpx direct" in out
    assert "MCP stdio overhead at p50" in out
    assert "ok      bench_api_call" in out


def test_the_agent_loop_benchmark_prints_every_variant_and_the_overhead_per_round() -> None:
    out = run_benchmarks(
        "-k", "bench_agent_loop", "--", "--iterations", "2", "--warmup", "0", "--tool-calls", "2"
    )
    for variant in ("httpx direct", "runs.run (no MCP)", "MCP in-process"):
        assert variant in out
    assert "3 model calls, 2 tool calls" in out and "per round" in out
    assert "ok      bench_agent_loop" in out


def test_the_tools_list_benchmark_prints_steady_state_and_after_change_figures() -> None:
    out = run_benchmarks(
        "-k",
        "bench_tools_list",
        "--",
        "--iterations",
        "2",
        "--warmup",
        "0",
        "--actions",
        "3",
        "--changes",
        "1",
    )
    assert "tools/list, steady state" in out
    assert "raw JSON-RPC stdio (server only)" in out
    assert "first tools/list after a catalog change" in out
    assert "snapshot reload only" in out
    assert "ok      bench_tools_list" in out


@pytest.mark.docker
@pytest.mark.usefixtures("sandbox_image")
def test_the_python_action_benchmark_prints_every_variant() -> None:
    out = run_benchmarks("-k", "bench_python_mcp", "--", "--iterations", "1", "--seconds", "0.2", timeout=600)
    for variant in (
        "warm",
        "pandas, pre-imported",
        "pandas, no pre-import",
        "cold (pool 0)",
        "one-shot docker run",
        "sustained, 3 concurrent",
    ):
        assert variant in out
    assert "runs per second" in out


def test_the_versions_benchmark_prints_every_variant_and_that_state_makes_no_versions() -> None:
    out = run_benchmarks("-k", "bench_versions", "--", "--iterations", "3", "--versions", "5")
    for variant in (
        "update (one-field merge patch)",
        "update, dry run",
        "disable + enable (state)",
        "history of 5",
        "diff v1..latest",
    ):
        assert variant in out
    assert "versions made by 8 disable+enable pairs: 0" in out
    assert "ok      bench_versions" in out


def test_the_console_benchmark_renders_every_page() -> None:
    out = run_benchmarks("-k", "bench_console", "--", "--iterations", "1", "--actions", "2", "--runs", "10")
    for variant in (
        "actions list (24 h figures)",
        "action editor",
        "runs, first page, text filter",
        "one run with its snapshot",
        "analytics, all actions, 24 h",
        "analytics, all actions, 30 d",
    ):
        assert variant in out
    assert "ok      bench_console" in out


def test_the_auth_benchmark_prints_every_variant_and_the_verdict() -> None:
    out = run_benchmarks("-k", "bench_auth", "--", "--iterations", "2", "--warmup", "0")
    for variant in ("jwt RS256", "jwt ES256", "verify only (RS256)", "static token (cached)"):
        assert variant in out
    assert "jwt RS256 p50" in out and "target < 0.2 ms" in out
    assert "ok      bench_auth" in out


def test_the_takeover_benchmark_kills_the_claim_holder_and_prints_the_figures() -> None:
    kills = 1
    out = run_benchmarks("-k", "bench_takeover", "--", "--kills", str(kills), timeout=300)
    assert out.count("the other replica fired after") == kills
    assert "SIGKILL -> fired elsewhere" in out and "p50" in out
    assert "ok      bench_takeover" in out


def test_the_peer_env_is_pinned_and_reused() -> None:
    from benchmarks import peer_env

    try:
        python = peer_env.peer_python("fastmcp", quiet=True)
    except peer_env.PeerEnvUnavailable as exc:
        pytest.skip(f"the FastMCP peer env cannot be installed here (needs PyPI): {exc}")
    assert peer_env.is_ready("fastmcp")
    assert peer_env.peer_python("fastmcp") == python  # the second call reuses it
    assert peer_env.peer_version("fastmcp") == peer_env.PEERS["fastmcp"][0].split("==")[1]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.peer_env", "--check", "fastmcp"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "fastmcp: ready" in done.stdout


def _peer_skipped(out: str) -> str | None:
    """The benchmark's own reason when the FastMCP env could not be installed (our side still ran)."""
    for line in out.splitlines():
        if line.startswith("FastMCP side skipped:"):
            return line
    return None


def test_the_fastmcp_api_call_benchmark_prints_both_servers_and_the_ratio() -> None:
    out = run_benchmarks(
        "-k", "bench_peer_api_call", "--", "--iterations", "5", "--warmup", "1", timeout=1200
    )
    assert "guru-mcp stdio" in out and "server cpu ms/call" in out
    assert "ok      bench_peer_api_call" in out
    reason = _peer_skipped(out)
    if reason:
        pytest.skip(reason)
    assert "FastMCP stdio" in out
    assert "ratio FastMCP / guru-mcp: p50" in out and "server CPU per call" in out


def test_the_fastmcp_tools_list_benchmark_prints_both_servers_and_the_ratio() -> None:
    out = run_benchmarks(
        "-k",
        "bench_peer_tools_list",
        "--",
        "--iterations",
        "3",
        "--warmup",
        "1",
        "--actions",
        "12",
        timeout=1200,
    )
    assert "guru-mcp stdio" in out and "tools/list over stdio" in out
    assert "ok      bench_peer_tools_list" in out
    reason = _peer_skipped(out)
    if reason:
        pytest.skip(reason)
    assert "FastMCP stdio" in out and "'FastMCP stdio': 12" in out
    assert "ratio FastMCP / guru-mcp: p50" in out and "server CPU per list" in out


def test_the_startup_benchmark_prints_every_case_for_every_build() -> None:
    out = run_benchmarks("-k", "bench_startup", "--", "--iterations", "1", "--no-sandbox", timeout=300)
    for case in ("--help", "actions list", "stdio initialize"):
        assert case in out
    assert "wall p50" in out and "CPU p50" in out
    assert "ok      bench_startup" in out


def test_the_import_benchmark_imports_every_action_of_its_document() -> None:
    out = run_benchmarks("-k", "bench_import", "--", "--iterations", "1", "--actions", "20", timeout=300)
    assert "bulk import: 20 actions" in out
    assert "import of 20 actions:" in out  # printed only once every action was reported created
    assert "ok      bench_import" in out
