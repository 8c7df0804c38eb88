"""API-call action through MCP versus the same request made directly with httpx.

One GET to a fast HTTP server on 127.0.0.1 (its own process), timed four ways in one run, the
variants interleaved in blocks:

- `httpx direct`        a reused `httpx.AsyncClient`, same URL, body parsed as JSON: the baseline;
- `runs.run (no MCP)`   our run pipeline alone (validate, record the run twice, execute, mask);
- `MCP in-process`      the `mcp` Client connected to our Server object in memory (no transport);
- `MCP stdio`           the `mcp` Client against a `guru-mcp serve --transport stdio` subprocess.

Overhead = variant minus baseline, at p50 and at p99. Target (issue 2): under 2 ms at p50.

    python -m benchmarks.bench_api_call [--iterations 1000] [--mode legacy|auto]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio
import httpx

from benchmarks._util import (
    Summary,
    child_pids,
    guru_cli,
    guru_settings,
    header,
    http_server,
    iterations_arg,
    load,
    measure,
    stdio_params,
    table,
    verdict,
)

ACTION = "get_item"
ARGS = {"item_id": "42"}
TARGET_P50_MS = 2.0


def action_json(base_url: str) -> dict:
    return {
        "name": ACTION,
        "condition_prompt": "When the user asks about an item by its id.",
        "action_type": "API_CALL",
        "parameters": [
            {"name": "item_id", "type": "string", "description": "The item id.", "required": True}
        ],
        "config": {"endpoint": f"{base_url}/items/{{item_id}}", "method": "GET"},
    }


def _check(result) -> None:  # type: ignore[no-untyped-def]
    if result.is_error or not (result.structured_content or {}).get("success"):
        raise RuntimeError(f"the tool call failed: {result.content}")


async def run(iterations: int, warmup: int, mode: str, deadline: float) -> dict[str, Summary]:
    from mcp import Client

    from guru_mcp.app import open_app
    from guru_mcp.models import Caller, Trigger, parse_spec
    from guru_mcp.server import build_server

    with (
        anyio.fail_after(deadline),
        http_server() as base_url,
        tempfile.TemporaryDirectory(prefix="guru-bench-") as tmp,
    ):
        url = f"{base_url}/items/{ARGS['item_id']}"
        spec_doc = action_json(base_url)

        # The stdio server's home: the action goes in with the CLI before the server starts.
        stdio_home = Path(tmp) / "stdio"
        spec_file = Path(tmp) / "action.json"
        spec_file.write_text(json.dumps(spec_doc))
        guru_cli(stdio_home, "actions", "import", str(spec_file))

        caller = Caller(key="bench", email="bench@example.test", name="Bench")
        async with AsyncExitStack() as stack:
            direct = await stack.enter_async_context(httpx.AsyncClient())
            app = await stack.enter_async_context(
                open_app(guru_settings(Path(tmp) / "inproc"), sandbox=False)
            )
            await app.catalog.save_spec(app.settings.default_guru, parse_spec(spec_doc))
            handle = build_server(app, stdio_caller=caller)
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)
            tg.start_soon(handle.notifier)
            inproc = await stack.enter_async_context(
                Client(handle.server, mode=mode, read_timeout_seconds=30)
            )
            stdio = await stack.enter_async_context(
                Client(stdio_params(stdio_home), mode=mode, read_timeout_seconds=30)
            )

            async def call_direct() -> None:
                response = await direct.get(url)
                response.json()

            async def call_runs() -> None:
                outcome = await app.runs.run(
                    app.settings.default_guru, ACTION, dict(ARGS), caller, Trigger.TOOL_CALL
                )
                if not outcome.result.data.get("success"):
                    raise RuntimeError(outcome.result.text)

            async def call_inproc() -> None:
                _check(await inproc.call_tool(ACTION, ARGS))

            async def call_stdio() -> None:
                _check(await stdio.call_tool(ACTION, ARGS))

            variants = [
                ("httpx direct", call_direct),
                ("runs.run (no MCP)", call_runs),
                ("MCP in-process", call_inproc),
                ("MCP stdio", call_stdio),
            ]
            server_pids = child_pids("serve", "--transport", "stdio")
            return await measure(
                variants,
                iterations=iterations,
                warmup=warmup,
                deadline=deadline,
                cpu_pids={"MCP stdio": server_pids},
            )


def report(figures: dict[str, Summary], iterations: int, mode: str) -> None:
    print(
        table(
            list(figures.items()),
            title=f"latency per call, {iterations} timed calls per variant (mode={mode})",
        )
    )
    base = figures["httpx direct"]
    print("overhead versus httpx direct (variant - baseline):")
    for label, s in figures.items():
        if label == "httpx direct":
            continue
        print(f"  {label:<18}  p50 +{s.p50 - base.p50:7.3f} ms   p99 +{s.p99 - base.p99:7.3f} ms")
    stdio = figures["MCP stdio"]
    inproc = figures["MCP in-process"]
    print(f"  of which transport (stdio - in-process): p50 +{stdio.p50 - inproc.p50:.3f} ms")
    if base.cpu_ms is not None and stdio.cpu_ms is not None:
        print(
            "CPU per call beyond httpx direct (robust to a busy machine; stdio counts client + server process):"
        )
        for label, s in figures.items():
            if label != "httpx direct" and s.cpu_ms is not None:
                print(f"  {label:<18}  +{s.cpu_ms - base.cpu_ms:7.3f} ms")
    print(
        f"target, MCP stdio overhead at p50: {stdio.p50 - base.p50:.3f} ms, {verdict(stdio.p50 - base.p50, TARGET_P50_MS)}"
    )
    print(
        f"        MCP in-process overhead at p50: {inproc.p50 - base.p50:.3f} ms, "
        f"{verdict(inproc.p50 - base.p50, TARGET_P50_MS)}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    iterations_arg(parser, 1000)
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed calls per variant (default: n/10, 5..100)"
    )
    parser.add_argument(
        "--mode", default="legacy", help="MCP client mode: legacy (initialize handshake) or auto"
    )
    parser.add_argument("--deadline", type=float, default=600.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    if args.iterations < 1:
        parser.error("--iterations must be at least 1")
    warmup = args.warmup if args.warmup is not None else max(5, min(100, args.iterations // 10))
    header("bench_api_call: API-call action through MCP vs direct httpx (loopback)")
    started = time.monotonic()
    figures = anyio.run(run, args.iterations, warmup, args.mode, args.deadline)
    report(figures, args.iterations, args.mode)
    print(f"({time.monotonic() - started:.1f} s, {load()} at the end)", flush=True)


if __name__ == "__main__":
    main()
