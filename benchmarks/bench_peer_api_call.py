"""API-call action: guru-mcp versus FastMCP's `from_openapi` server, the same GET, the same client.

One OpenAPI GET operation (`GET /items/{item_id}`) against the same fast loopback HTTP server (its
own process), served over stdio by:

- `guru-mcp stdio`  `guru-mcp serve --transport stdio` with the operation as an API-call action;
- `FastMCP stdio`   FastMCP (pinned in `benchmarks/peer_env.py`, its own venv) built with
                    `FastMCP.from_openapi` from an OpenAPI document of the same operation.

Both are driven by the same MCP SDK client (this process), calls interleaved in blocks. Printed:
p50/p95/p99 latency, and server CPU per call (the server process's user + system time from /proc,
taken around each block), with the ratio FastMCP / guru-mcp for each. guru-mcp records every run
(twice: started, then finished) and masks, validates and applies its egress policy; FastMCP does none
of that.

    python -m benchmarks.bench_peer_api_call [--iterations 1000] [--warmup N]

If the FastMCP env cannot be installed (no package index), only guru-mcp is measured and the
reason is printed.
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
from benchmarks._util import (
    Summary,
    child_pids,
    guru_cli,
    header,
    http_server,
    iterations_arg,
    load,
    measure,
    percentile,
    stdio_params,
)

ACTION = "get_item"
ARGS = {"item_id": "42"}
PEER_SCRIPT = Path(__file__).resolve().parent / "peers" / "fastmcp_openapi.py"
GURU, PEER = "guru-mcp stdio", "FastMCP stdio"


def action_json(base_url: str) -> dict[str, Any]:
    return {
        "name": ACTION,
        "condition_prompt": "When the user asks about an item by its id.",
        "action_type": "API_CALL",
        "parameters": [
            {"name": "item_id", "type": "string", "description": "The item id.", "required": True}
        ],
        "config": {"endpoint": f"{base_url}/items/{{item_id}}", "method": "GET"},
    }


def peer_params(spec_file: Path, base_url: str) -> Any:
    from mcp.client.stdio import StdioServerParameters

    python = peer_env.peer_python("fastmcp")
    return StdioServerParameters(
        command=str(python), args=[str(PEER_SCRIPT), str(spec_file), base_url], env=peer_env.peer_environ()
    )


def _check_guru(result: Any) -> None:
    if result.is_error or not (result.structured_content or {}).get("success"):
        raise RuntimeError(f"the guru-mcp call failed: {result.content}")


def _check_peer(result: Any) -> None:
    if result.is_error or "42" not in json.dumps(result.structured_content or {}):
        raise RuntimeError(f"the FastMCP call failed: {result.content}")


class Samples:
    """Per-call latencies kept beside `measure`'s summary (it reports p50/p99; we want p95 too)."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def timed(self, label: str, call: Any) -> Any:
        out = self.values.setdefault(label, [])

        async def wrapped() -> None:
            started = time.perf_counter()
            await call()
            out.append(time.perf_counter() - started)

        return wrapped

    def p95(self, label: str, skip: int) -> float:
        return percentile([v * 1000 for v in self.values[label][skip:]], 95)


async def run(
    iterations: int, warmup: int, deadline: float
) -> tuple[dict[str, Summary], dict[str, float], str]:
    from mcp import Client

    peer_note = ""
    with (
        anyio.fail_after(deadline),
        http_server() as base_url,
        tempfile.TemporaryDirectory(prefix="guru-bench-") as tmp,
    ):
        doc = action_json(base_url)
        home = Path(tmp) / "home"
        (Path(tmp) / "action.json").write_text(json.dumps(doc))
        guru_cli(home, "actions", "import", str(Path(tmp) / "action.json"))
        spec_file = Path(tmp) / "openapi.json"
        spec_file.write_text(json.dumps(openapi_for([doc])))
        samples = Samples()
        async with AsyncExitStack() as stack:
            guru = await stack.enter_async_context(Client(stdio_params(home), read_timeout_seconds=30))
            variants = []
            cpu_pids = {GURU: child_pids("serve", "--transport", "stdio")}

            async def call_guru() -> None:
                _check_guru(await guru.call_tool(ACTION, ARGS))

            variants.append((GURU, samples.timed(GURU, call_guru)))
            try:
                params = await anyio.to_thread.run_sync(peer_params, spec_file, base_url)
            except peer_env.PeerEnvUnavailable as exc:
                peer_note = f"FastMCP side skipped: {exc}"
            else:
                peer = await stack.enter_async_context(Client(params, read_timeout_seconds=30))
                cpu_pids[PEER] = child_pids(PEER_SCRIPT.name)

                async def call_peer() -> None:
                    _check_peer(await peer.call_tool(ACTION, ARGS))

                variants.append((PEER, samples.timed(PEER, call_peer)))
            figures = await measure(
                variants, iterations=iterations, warmup=warmup, deadline=deadline, cpu_pids=cpu_pids
            )
        p95 = {label: samples.p95(label, warmup) for label in figures}
        return figures, p95, peer_note


def report(figures: dict[str, Summary], p95: dict[str, float], iterations: int, note: str) -> None:
    print(f"API call over stdio, {iterations} timed calls per server, interleaved in blocks")
    print(f"  {'':<15}  {'p50 ms':>8}  {'p95 ms':>8}  {'p99 ms':>8}  {'server cpu ms/call':>18}")
    for label, s in figures.items():
        print(
            f"  {label:<15}  {s.p50:>8.3f}  {p95[label]:>8.3f}  {s.p99:>8.3f}  {s.server_cpu_ms or 0:>18.3f}"
        )
    if note:
        print(note)
        return
    g, f = figures[GURU], figures[PEER]
    print(
        f"ratio FastMCP / guru-mcp: p50 {f.p50 / g.p50:.2f}x, p95 {p95[PEER] / p95[GURU]:.2f}x, "
        f"server CPU per call {(f.server_cpu_ms or 0) / max(g.server_cpu_ms or 0, 1e-9):.2f}x "
        "(above 1: guru-mcp is cheaper)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    iterations_arg(parser, 1000)
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed calls per server (default n/10, 5..100)"
    )
    parser.add_argument("--deadline", type=float, default=900.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    if args.iterations < 1:
        parser.error("--iterations must be at least 1")
    warmup = args.warmup if args.warmup is not None else max(5, min(100, args.iterations // 10))
    header("bench_peer_api_call: API-call action, guru-mcp vs FastMCP from_openapi (stdio, loopback)")
    print(f"peer: fastmcp {peer_env.PEERS['fastmcp'][0]}")
    started = time.monotonic()
    figures, p95, note = anyio.run(run, args.iterations, warmup, args.deadline)
    report(figures, p95, args.iterations, note)
    print(f"({time.monotonic() - started:.1f} s, {load()} at the end)", flush=True)


if __name__ == "__main__":
    main()
