"""An agent's loop versus the same HTTP traffic made directly with httpx.

An agent over two API-call actions, against a stand-in OpenAI-compatible model in its own process on
127.0.0.1 that asks for one tool call per round (`--tool-calls`, default 2) and then answers. Every
agent call is `tool-calls + 1` model calls and `tool-calls` API calls. Timed three ways, interleaved:

- `httpx direct`        the same model POSTs (same growing conversation) and tool GETs, with httpx;
- `runs.run (no MCP)`   the agent through the run service: its run record and one child run per tool
                        call (each recorded twice), tool schemas, masking, usage accounting;
- `MCP in-process`      the `mcp` Client calling the agent's tool on our Server object in memory.

Overhead = variant minus baseline, per agent call and per round (model call).

    python -m benchmarks.bench_agent_loop [--iterations 200] [--tool-calls 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio
import httpx

from benchmarks._util import (
    LOOPBACK,
    REPO,
    FastHTTP,
    Summary,
    _pythonpath,
    _read_line,
    _stop,
    guru_settings,
    header,
    http_server,
    iterations_arg,
    load,
    measure,
    table,
)

TOOLS = ("get_item", "get_stock")


def _answer(body: dict[str, Any], tool_calls: int) -> dict[str, Any]:
    done = sum(1 for m in body["messages"] if m.get("role") == "tool")
    if done < tool_calls:
        name = TOOLS[done % len(TOOLS)]
        call = {
            "id": f"call_{done}",
            "type": "function",
            "function": {"name": name, "arguments": '{"item_id": "42"}'},
        }
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
        reason = "tool_calls"
    else:
        message, reason = {"role": "assistant", "content": f"done after {done} tool calls"}, "stop"
    return {
        "id": "x",
        "object": "chat.completion",
        "model": "bench",
        "choices": [{"index": 0, "message": message, "finish_reason": reason}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 5},
    }


class _Model(FastHTTP):
    tool_calls = 2

    def respond(self, body: bytes) -> bytes:
        out = json.dumps(_answer(json.loads(body), self.tool_calls)).encode()
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(out)).encode()
            + b"\r\nConnection: keep-alive\r\n\r\n"
            + out
        )


async def _serve_model(tool_calls: int) -> None:
    _Model.tool_calls = tool_calls
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Model, LOOPBACK, 0, backlog=128)
    print(server.sockets[0].getsockname()[1], flush=True)
    gone = loop.create_future()

    class _Stdin(asyncio.Protocol):
        def connection_lost(self, exc: Exception | None) -> None:
            if not gone.done():
                gone.set_result(None)

    await loop.connect_read_pipe(_Stdin, sys.stdin)
    async with server:
        await gone


@contextmanager
def model_server(tool_calls: int) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_agent_loop", "serve-model", str(tool_calls)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": _pythonpath()},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield f"http://{LOOPBACK}:{int(_read_line(proc, 15.0))}/v1"
    finally:
        _stop(proc)


async def run(iterations: int, warmup: int, tool_calls: int, deadline: float) -> dict[str, Summary]:
    from mcp import Client

    from guru_mcp.app import open_app
    from guru_mcp.models import Caller, ModelProvider, Trigger, parse_spec
    from guru_mcp.server import build_server

    with (
        anyio.fail_after(deadline),
        http_server() as api,
        model_server(tool_calls) as model_url,
        tempfile.TemporaryDirectory(prefix="guru-bench-") as tmp,
    ):
        caller = Caller(key="bench", email="bench@example.test")
        async with AsyncExitStack() as stack:
            direct = await stack.enter_async_context(httpx.AsyncClient())
            settings = guru_settings(Path(tmp) / "inproc").model_copy(
                update={"max_concurrent_runs_per_caller": 8}
            )
            app = await stack.enter_async_context(open_app(settings, sandbox=False))
            guru = app.settings.default_guru
            for name in TOOLS:
                await app.catalog.save_spec(
                    guru,
                    parse_spec(
                        {
                            "name": name,
                            "action_type": "API_CALL",
                            "condition_prompt": f"{name} by id",
                            "parameters": [{"name": "item_id", "required": True}],
                            "config": {"endpoint": f"{api}/{name}/{{item_id}}"},
                        }
                    ),
                )
            await app.vault.put(guru, "BENCH_MODEL_KEY", "bench-model-key-123")
            await app.store.providers.put(
                guru,
                ModelProvider(
                    kind="openai", base_url=model_url, model="bench", api_key_secret="BENCH_MODEL_KEY"
                ),
            )
            await app.catalog.save_spec(
                guru,
                parse_spec(
                    {
                        "name": "agent",
                        "action_type": "AGENT",
                        "config": {
                            "system_prompt": "Look the item up.",
                            "tools": list(TOOLS),
                            "max_tool_calls": tool_calls,
                        },
                    }
                ),
            )
            tools = [
                {
                    "type": "function",
                    "function": {
                        "name": n,
                        "description": "d",
                        "parameters": {"type": "object", "properties": {"item_id": {"type": "string"}}},
                    },
                }
                for n in TOOLS
            ]
            handle = build_server(app, stdio_caller=caller)
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)
            tg.start_soon(handle.notifier)
            inproc = await stack.enter_async_context(Client(handle.server, read_timeout_seconds=30))

            async def call_direct() -> None:
                messages: list[dict[str, Any]] = [
                    {"role": "system", "content": "Look the item up."},
                    {"role": "user", "content": "item 42"},
                ]
                for _ in range(tool_calls + 1):
                    reply = (
                        await direct.post(
                            f"{model_url}/chat/completions",
                            json={"model": "bench", "messages": messages, "tools": tools, "max_tokens": 1024},
                            headers={"Authorization": "Bearer k"},
                        )
                    ).json()
                    message = reply["choices"][0]["message"]
                    messages.append(message)
                    for call in message.get("tool_calls") or []:
                        out = (await direct.get(f"{api}/{call['function']['name']}/42")).text
                        messages.append({"role": "tool", "tool_call_id": call["id"], "content": out})

            async def call_runs() -> None:
                outcome = await app.runs.run(guru, "agent", {"request": "item 42"}, caller, Trigger.TOOL_CALL)
                if outcome.record.status.value != "ok":
                    raise RuntimeError(outcome.result.text)

            async def call_inproc() -> None:
                result = await inproc.call_tool("agent", {"request": "item 42"})
                if result.is_error:
                    raise RuntimeError(result.content[0].text)

            variants = [
                ("httpx direct", call_direct),
                ("runs.run (no MCP)", call_runs),
                ("MCP in-process", call_inproc),
            ]
            return await measure(variants, iterations=iterations, warmup=warmup, deadline=deadline)


def report(figures: dict[str, Summary], iterations: int, tool_calls: int) -> None:
    rounds = tool_calls + 1
    print(
        table(
            list(figures.items()),
            title=f"latency per agent call ({rounds} model calls, {tool_calls} tool "
            f"calls), {iterations} timed calls per variant",
        )
    )
    base = figures["httpx direct"]
    print("overhead versus httpx direct (variant - baseline):")
    for label, s in figures.items():
        if label != "httpx direct":
            print(
                f"  {label:<18}  p50 +{s.p50 - base.p50:7.3f} ms per agent call, "
                f"+{(s.p50 - base.p50) / rounds:6.3f} ms per round; p99 +{s.p99 - base.p99:7.3f} ms"
            )
    if base.cpu_ms is not None:
        for label, s in figures.items():
            if label != "httpx direct" and s.cpu_ms is not None:
                print(f"  CPU per agent call, {label:<18} +{s.cpu_ms - base.cpu_ms:7.3f} ms")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve-model"]:
        asyncio.run(_serve_model(int(argv[1])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    iterations_arg(parser, 200)
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed calls per variant (default: n/10, 3..30)"
    )
    parser.add_argument(
        "--tool-calls", type=int, default=2, help="tool calls the model asks for per agent call"
    )
    parser.add_argument("--deadline", type=float, default=600.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    if args.iterations < 1 or not 1 <= args.tool_calls <= 100:
        parser.error("--iterations must be at least 1 and --tool-calls 1..100")
    warmup = args.warmup if args.warmup is not None else max(3, min(30, args.iterations // 10))
    header("bench_agent_loop: an agent over two API-call actions vs the same traffic with httpx (loopback)")
    started = time.monotonic()
    figures = anyio.run(run, args.iterations, warmup, args.tool_calls, args.deadline)
    report(figures, args.iterations, args.tool_calls)
    print(f"({time.monotonic() - started:.1f} s, {load()} at the end)", flush=True)


if __name__ == "__main__":
    main()
