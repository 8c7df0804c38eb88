"""`tools/list` latency with 1,000 actions, through real MCP clients.

1,000 API-call actions (a mix of methods, 0-4 typed parameters, realistic descriptions) are saved
through `Catalog.save_spec` into a throw-away home, which is then copied so that each server has
its own database. Two clients, both admins (so each listing also holds the admin tools):

- `MCP in-process`  the `mcp` Client connected to our Server object in memory;
- `MCP stdio`       the `mcp` Client against a `guru-mcp serve --transport stdio --admin` subprocess.

The stdio variant runs first, the in-process one after it (so the in-process server's objects never
burden the stdio client's garbage collector). Measured: steady-state `tools/list` (the snapshot and
the built listing are cached), and the first `tools/list` after a catalog change (one action
disabled or enabled in turn, which drops the snapshot: the next list reloads 1,000 rows and
rebuilds every tool). The change goes through the `admin_action_enable/disable` tools over stdio
and through `Catalog.set_enabled` in-process; only the list after it is timed.
Target (issue 2): under 20 ms at p50 (steady state).

    python -m benchmarks.bench_tools_list [--iterations 500] [--actions 1000] [--changes 30]
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

from benchmarks._util import (
    LOOPBACK,
    Summary,
    child_pids,
    guru_command,
    guru_env,
    guru_settings,
    header,
    iterations_arg,
    load,
    measure,
    stdio_params,
    table,
    verdict,
)

TARGET_P50_MS = 20.0
_METHODS = ["GET", "GET", "POST", "PUT", "PATCH", "DELETE"]
_PARAMS = [
    {
        "name": "customer_id",
        "type": "string",
        "description": "The customer's id, as shown in the CRM.",
        "required": True,
    },
    {
        "name": "limit",
        "type": "number",
        "description": "How many rows to return at most.",
        "required": False,
        "default": 20,
    },
    {
        "name": "include_archived",
        "type": "boolean",
        "description": "Also return archived records.",
        "required": False,
        "default": False,
    },
    {
        "name": "query",
        "type": "string",
        "description": "Free-text search within the records.",
        "required": False,
    },
]


def action_doc(i: int) -> dict[str, Any]:
    """The i-th synthetic action: deterministic, varied, of a realistic size."""
    method = _METHODS[i % len(_METHODS)]
    params = _PARAMS[: i % (len(_PARAMS) + 1)]
    path = "/".join(f"{{{p['name']}}}" for p in params if p["type"] == "string")
    config: dict[str, Any] = {
        "endpoint": f"http://{LOOPBACK}:9/v1/records_{i}/{path}".rstrip("/"),
        "method": method,
        "headers": [{"key": "Accept", "value": "application/json"}],
    }
    if method in ("POST", "PUT", "PATCH"):
        config["body"] = {
            "record": i,
            "source": "{GURUBASE_USER_EMAIL}",
            **{p["name"]: f"{{{p['name']}}}" for p in params},
        }
    return {
        "name": f"records_{i:04d}_{method.lower()}",
        "title": f"Records {i} ({method})",
        "condition_prompt": f"When the user asks to look up, create or change entries of record set {i} in the "
        "internal records service, for example when a customer mentions an order or an invoice.",
        "instructions": "Pass the customer id exactly as the user wrote it. Summarise the answer in one sentence.",
        "action_type": "API_CALL",
        "parameters": params,
        "config": config,
    }


async def populate(home: Path, count: int) -> float:
    """Save `count` actions into `home` through the catalog; returns the seconds it took."""
    from guru_mcp.app import open_app
    from guru_mcp.models import parse_spec

    started = time.perf_counter()
    async with open_app(guru_settings(home), background=False, sandbox=False) as app:
        guru = app.settings.default_guru
        for i in range(count):
            await app.catalog.save_spec(guru, parse_spec(action_doc(i)))
        app.store.engine.dispose()
    return time.perf_counter() - started


def _lister(client: Any, counts: dict[str, int], label: str):  # type: ignore[no-untyped-def]
    async def list_once() -> None:
        # bypass: every list must reach the server (no client-side response cache)
        result = await client.list_tools(cache_mode="bypass")
        counts[label] = len(result.tools)

    return list_once


def raw_stdio_lists(home: Path, iterations: int, warmup: int, count: int) -> Summary:
    """tools/list over stdio with a bare JSON-RPC client: one request line out, one response line in.

    This is the server's own latency, as a client in any language would see it, without the Python
    SDK client's parsing and double validation of a ~1 MB result (30+ ms of client CPU per list)."""
    import json
    import subprocess

    proc = subprocess.Popen(
        [guru_command(), "serve", "--transport", "stdio", "--admin"],
        env=guru_env(home),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        bufsize=0,
    )
    assert proc.stdin is not None and proc.stdout is not None
    reader = open(proc.stdout.fileno(), "rb", buffering=1 << 20, closefd=False)  # noqa: SIM115  (lives as long as proc; not byte-by-byte)

    def call(msg_id: int, method: str, params: dict[str, Any]) -> bytes:
        proc.stdin.write(
            json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}).encode() + b"\n"
        )
        while True:
            line = reader.readline()
            if not line:
                raise RuntimeError("the server closed its output")
            if f'"id":{msg_id},'.encode() in line[:100]:  # a response, not a notification; no full parse
                return line

    try:
        call(
            0,
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw-bench", "version": "0"},
            },
        )
        proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        times = []
        for i in range(warmup + iterations):
            started = time.perf_counter()
            line = call(i + 1, "tools/list", {})
            elapsed = time.perf_counter() - started
            if i >= warmup:
                times.append(elapsed)
            if i == 0 and len(json.loads(line)["result"]["tools"]) < count:
                raise RuntimeError("the raw client saw fewer tools than expected")
        return Summary.of(times)
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started


async def run(
    iterations: int, warmup: int, count: int, changes: int, mode: str, deadline: float, freeze_client_gc: bool
) -> dict[str, Any]:
    """Stdio first, then in-process: the in-process server (1,000 actions in memory) would otherwise
    sit in the stdio client's process and slow its garbage collector, which no real client suffers."""
    from mcp import Client

    from guru_mcp.app import open_app
    from guru_mcp.models import Caller
    from guru_mcp.server import build_server

    out: dict[str, Any] = {"steady": {}, "after_change": {}, "tools": {}, "frozen": freeze_client_gc}
    counts: dict[str, int] = out["tools"]
    victim = f"records_{0:04d}_get"
    with anyio.fail_after(deadline), tempfile.TemporaryDirectory(prefix="guru-bench-") as tmp:
        inproc_home, stdio_home = Path(tmp) / "inproc", Path(tmp) / "stdio"
        out["populate_s"] = await populate(inproc_home, count)
        shutil.copytree(inproc_home, stdio_home)
        gc.collect()
        if freeze_client_gc:
            gc.freeze()  # the harness's own objects (server-side imports included) stay out of the client's GC

        # 0. The server alone: a bare JSON-RPC client over stdio.
        raw_home = Path(tmp) / "raw"
        shutil.copytree(inproc_home, raw_home)
        out["steady"]["raw JSON-RPC stdio (server only)"] = await anyio.to_thread.run_sync(
            raw_stdio_lists, raw_home, iterations, warmup, count
        )

        # 1. A `guru-mcp serve --transport stdio --admin` subprocess.
        label = "MCP stdio"
        async with Client(stdio_params(stdio_home, "--admin"), mode=mode, read_timeout_seconds=60) as stdio:
            list_stdio = _lister(stdio, counts, label)
            pids = child_pids("serve", "--transport", "stdio")
            out["steady"].update(
                await measure(
                    [(label, list_stdio)],
                    iterations=iterations,
                    warmup=warmup,
                    deadline=deadline,
                    cpu_pids={label: pids},
                )
            )
            after: list[float] = []
            for i in range(changes):  # the change through the admin tools; only the list after it is timed
                enable = i % 2 == 1
                result = await stdio.call_tool(
                    f"admin_action_{'enable' if enable else 'disable'}", {"name": victim}
                )
                if result.is_error:
                    raise RuntimeError(f"admin tool failed: {result.content}")
                after.append(await _timed(list_stdio))
            if after:
                out["after_change"][label] = Summary.of(after)
        gc.collect()

        # 2. The same server object in this process, through the in-memory transport.
        label = "MCP in-process"
        caller = Caller(key="bench", email="bench@example.test", name="Bench", is_admin=True)
        async with AsyncExitStack() as stack:
            app = await stack.enter_async_context(open_app(guru_settings(inproc_home), sandbox=False))
            guru = app.settings.default_guru
            handle = build_server(app, stdio_caller=caller)
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)
            tg.start_soon(handle.notifier)
            inproc = await stack.enter_async_context(
                Client(handle.server, mode=mode, read_timeout_seconds=60)
            )
            list_inproc = _lister(inproc, counts, label)
            out["steady"].update(
                await measure([(label, list_inproc)], iterations=iterations, warmup=warmup, deadline=deadline)
            )
            after, rebuild = [], []
            for i in range(changes):
                await app.catalog.set_enabled(guru, victim, i % 2 == 1)
                after.append(await _timed(list_inproc))
                # The snapshot reload alone (no MCP, no tool building), for the breakdown.
                app.catalog._changed(guru)
                rebuild.append(await _timed(lambda: app.catalog.snapshot(guru)))
            if after:
                out["after_change"][label] = Summary.of(after)
                out["snapshot_reload"] = Summary.of(rebuild)
    if any(n < count for n in counts.values()):
        raise RuntimeError(f"expected at least {count} tools, got {counts}")
    return out


def report(out: dict[str, Any], count: int, iterations: int, changes: int, mode: str) -> None:
    print(
        f"{count} actions saved through Catalog.save_spec in {out['populate_s']:.1f} s; "
        f"tools listed: {out['tools']} (admin callers: actions + admin tools)"
    )
    print(
        table(
            list(out["steady"].items()),
            title=f"tools/list, steady state, {iterations} lists per variant (mode={mode})"
            + (", client GC frozen after set-up" if out.get("frozen") else ""),
        )
    )
    if out["after_change"]:
        rows = [*out["after_change"].items(), ("snapshot reload only", out["snapshot_reload"])]
        print(table(rows, title=f"first tools/list after a catalog change, {changes} changes"))
    for label, s in out["steady"].items():
        print(f"target, {label} steady p50: {s.p50:.3f} ms, {verdict(s.p50, TARGET_P50_MS)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    iterations_arg(parser, 500)
    parser.add_argument("--actions", type=int, default=1000, help="actions in the catalog (default 1000)")
    parser.add_argument("--changes", type=int, default=30, help="catalog changes for the after-change figure")
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed lists per variant (default: n/10, 3..50)"
    )
    parser.add_argument(
        "--mode", default="legacy", help="MCP client mode: legacy (initialize handshake) or auto"
    )
    parser.add_argument("--deadline", type=float, default=900.0, help="give up after this many seconds")
    parser.add_argument(
        "--freeze-client-gc",
        action="store_true",
        help="gc.freeze() this process after set-up, so the client's collector skips the harness's objects",
    )
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.actions < 1 or args.changes < 0:
        parser.error("--iterations and --actions must be at least 1, --changes at least 0")
    warmup = args.warmup if args.warmup is not None else max(3, min(50, args.iterations // 10))
    header(f"bench_tools_list: tools/list with {args.actions} actions")
    started = time.monotonic()
    out = anyio.run(
        run,
        args.iterations,
        warmup,
        args.actions,
        args.changes,
        args.mode,
        args.deadline,
        args.freeze_client_gc,
    )
    report(out, args.actions, args.iterations, args.changes, args.mode)
    print(f"({time.monotonic() - started:.1f} s, {load()} at the end)", flush=True)


if __name__ == "__main__":
    main()
