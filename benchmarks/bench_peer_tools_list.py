"""`tools/list` with 1,000 tools: guru-mcp versus FastMCP's `from_openapi` server, the same client.

The 1,000 synthetic API-call actions of `bench_tools_list` (mixed methods, 0-4 typed parameters,
realistic descriptions) are saved into a guru-mcp home, and the same operations are written as one
OpenAPI document for `FastMCP.from_openapi` (FastMCP pinned in `benchmarks/peer_env.py`, its own
venv). Both servers run over stdio (guru-mcp with a non-admin caller: actions only), driven by the
same MCP SDK client in this process, lists interleaved in blocks, every list reaching the server
(`cache_mode="bypass"`). Printed: p50/p99 latency as the client sees it (the SDK client's parsing of
a ~1 MB result included, alike for both), the server's CPU per list (/proc), and the ratios.

    python -m benchmarks.bench_peer_tools_list [--iterations 100] [--actions 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

from benchmarks import peer_env
from benchmarks._peer_openapi import openapi_for
from benchmarks._util import Summary, child_pids, header, iterations_arg, load, measure, stdio_params, table
from benchmarks.bench_tools_list import action_doc, populate

PEER_SCRIPT = Path(__file__).resolve().parent / "peers" / "fastmcp_openapi.py"
GURU, PEER = "guru-mcp stdio", "FastMCP stdio"


async def run(
    iterations: int, warmup: int, count: int, deadline: float
) -> tuple[dict[str, Summary], dict[str, int], str]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    note = ""
    counts: dict[str, int] = {}
    with anyio.fail_after(deadline), tempfile.TemporaryDirectory(prefix="guru-bench-") as tmp:
        home = Path(tmp) / "home"
        await populate(home, count)
        spec_file = Path(tmp) / "openapi.json"
        spec_file.write_text(json.dumps(openapi_for([action_doc(i) for i in range(count)])))
        async with AsyncExitStack() as stack:
            guru = await stack.enter_async_context(Client(stdio_params(home), read_timeout_seconds=120))
            cpu_pids = {GURU: child_pids("serve", "--transport", "stdio")}

            def lister(client: Any, label: str) -> Any:
                async def list_once() -> None:
                    counts[label] = len((await client.list_tools(cache_mode="bypass")).tools)

                return list_once

            variants = [(GURU, lister(guru, GURU))]
            try:
                python = await anyio.to_thread.run_sync(peer_env.peer_python, "fastmcp")
            except peer_env.PeerEnvUnavailable as exc:
                note = f"FastMCP side skipped: {exc}"
            else:
                params = StdioServerParameters(
                    command=str(python),
                    args=[str(PEER_SCRIPT), str(spec_file), "http://127.0.0.1:9"],
                    env=peer_env.peer_environ(),
                )
                peer = await stack.enter_async_context(Client(params, read_timeout_seconds=120))
                cpu_pids[PEER] = child_pids(PEER_SCRIPT.name)
                variants.append((PEER, lister(peer, PEER)))
            figures = await measure(
                variants, iterations=iterations, warmup=warmup, deadline=deadline, cpu_pids=cpu_pids, block=10
            )
    for label, n in counts.items():
        if n != count:
            raise RuntimeError(f"{label} listed {n} tools, expected {count}")
    return figures, counts, note


def report(figures: dict[str, Summary], counts: dict[str, int], iterations: int, note: str) -> None:
    print(
        table(
            list(figures.items()),
            title=f"tools/list over stdio, {iterations} lists per server, tools: {counts}",
        )
    )
    if note:
        print(note)
        return
    g, f = figures[GURU], figures[PEER]
    print(
        f"ratio FastMCP / guru-mcp: p50 {f.p50 / g.p50:.2f}x, "
        f"server CPU per list {(f.server_cpu_ms or 0) / max(g.server_cpu_ms or 0, 1e-9):.2f}x "
        "(above 1: guru-mcp is cheaper)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    iterations_arg(parser, 100)
    parser.add_argument("--actions", type=int, default=1000, help="tools in each server (default 1000)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed lists per server (default n/10, 2..20)"
    )
    parser.add_argument("--deadline", type=float, default=900.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.actions < 1:
        parser.error("--iterations and --actions must be at least 1")
    warmup = args.warmup if args.warmup is not None else max(2, min(20, args.iterations // 10))
    header(f"bench_peer_tools_list: tools/list with {args.actions} tools, guru-mcp vs FastMCP from_openapi")
    print(f"peer: fastmcp {peer_env.PEERS['fastmcp'][0]}")
    started = time.monotonic()
    figures, counts, note = anyio.run(run, args.iterations, warmup, args.actions, args.deadline)
    report(figures, counts, args.iterations, note)
    print(f"({time.monotonic() - started:.1f} s, {load()} at the end)", flush=True)


if __name__ == "__main__":
    main()
