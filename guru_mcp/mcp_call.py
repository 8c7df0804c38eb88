"""Call one tool through a real MCP client (the official SDK), as Claude Desktop or an IDE would.

    scripts/mcp-call TOOL [NAME=VALUE ...]                  # stdio: starts `guru-mcp serve --transport stdio`
    scripts/mcp-call --http URL --token TOKEN TOOL [...]     # Streamable HTTP, e.g. against scripts/serve
    scripts/mcp-call --list                                  # the tools this client sees

A VALUE that is JSON (`3`, `true`, `"x"`) is sent typed, anything else as a string. Prints the tool's
text and exits 0, or prints it on stderr and exits 1 when the tool answered with an error.
The stdio server inherits this process's environment (GURU_MCP_HOME and friends).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import anyio

CALL_TIMEOUT = 180.0


def parse_arguments(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"mcp-call: arguments are NAME=VALUE, got {pair!r}")
        try:
            out[name] = json.loads(raw)
        except ValueError:
            out[name] = raw
    return out


def _transport(args: argparse.Namespace) -> Any:
    if args.http:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {args.token}"}, timeout=CALL_TIMEOUT)
        return streamable_http_client(args.http, http_client=http)
    from mcp.client.stdio import StdioServerParameters

    serve = ["-m", "guru_mcp.cli", "serve", "--transport", "stdio", *(["--admin"] if args.admin else [])]
    return StdioServerParameters(command=sys.executable, args=serve, env=dict(os.environ))


async def run(args: argparse.Namespace) -> int:
    from mcp import Client

    with anyio.fail_after(CALL_TIMEOUT):
        async with Client(_transport(args), read_timeout_seconds=CALL_TIMEOUT) as client:
            if args.list or not args.tool:
                for tool in (await client.list_tools()).tools:
                    print(
                        f"{tool.name:<32} {(tool.description or '').splitlines()[0][:80] if tool.description else ''}"
                    )
                return 0
            result = await client.call_tool(args.tool, parse_arguments(args.arguments))
    text = "\n".join(getattr(part, "text", "") for part in result.content).rstrip("\n")
    if result.is_error:
        print(text, file=sys.stderr)
        return 1
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mcp-call", description="Call a guru-mcp tool through an MCP client."
    )
    parser.add_argument("tool", nargs="?", help="the tool to call")
    parser.add_argument("arguments", nargs="*", metavar="NAME=VALUE")
    parser.add_argument("--list", action="store_true", help="list the tools instead")
    parser.add_argument("--admin", action="store_true", help="stdio: also see the admin tools")
    parser.add_argument(
        "--http", metavar="URL", help="connect to a running server (http://127.0.0.1:8000/mcp)"
    )
    parser.add_argument("--token", default="", help="the bearer token for --http")
    args = parser.parse_args(argv)
    if args.http and not args.token:
        parser.error(
            "--http needs --token (the admin token `guru-mcp init` printed, or one from `tokens create`)"
        )
    try:
        return anyio.run(run, args)
    except TimeoutError:
        print(f"mcp-call: no answer within {CALL_TIMEOUT:g} s", file=sys.stderr)
        return 1
    except Exception as exc:  # a connection failure: one line, not a traceback
        leaf = _leaf(exc)
        hint = f" (check the URL {args.http} and the token)" if args.http else ""
        print(
            f"mcp-call: {type(leaf).__name__}: {str(leaf).splitlines()[0] if str(leaf) else ''}{hint}",
            file=sys.stderr,
        )
        return 1


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) task-group exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


if __name__ == "__main__":
    sys.exit(main())
