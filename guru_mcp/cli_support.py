"""What every `guru-mcp` command shares: running async work, the operator's identity, calling the admin
services, printing, and turning errors into one line and an exit code.

Exit codes (also in `guru-mcp --help` and the README):

| code | meaning |
| --- | --- |
| 0 | done |
| 1 | internal error (a bug; run with `-v` for the traceback) |
| 2 | usage: a bad option or argument (the message names it) |
| 3 | not found: no such action, run, secret, schedule, token or guru |
| 4 | refused: the input is invalid or the change is not allowed; nothing was changed |
| 5 | conflict: someone changed it first (`--expected-version`), or it exists already |
| 6 | unavailable: configuration, database, key file or sandbox problem; the message says what to fix |
| 7 | the action ran and failed (`actions test`, `actions trigger`); its output and error are printed |

Commands import what they need inside their bodies, so `guru-mcp --help` loads no server code.
"""

from __future__ import annotations

import getpass
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from guru_mcp.errors import (
    BadArguments,
    ConfigError,
    Conflict,
    GuruError,
    NotFound,
    RunFailure,
    SandboxUnavailable,
    ToolError,
    ValidationFailed,
)
from guru_mcp.render import clean, to_json

if TYPE_CHECKING:
    from guru_mcp.app import App
    from guru_mcp.core import Core
    from guru_mcp.models import Caller
    from guru_mcp.settings import Settings

T = TypeVar("T")

OK, INTERNAL, USAGE, NOT_FOUND, REFUSED, CONFLICT, UNAVAILABLE, RUN_FAILED = range(8)

EXIT_CODES_HELP = """\b
Exit codes:
  0  done
  1  internal error (a bug; run with -v for the traceback)
  2  usage: a bad option or argument
  3  not found: no such action, run, secret, schedule, token or guru
  4  refused: invalid input, or a change that is not allowed; nothing changed
  5  conflict: changed by someone else first (--expected-version), or exists already
  6  unavailable: configuration, database, key file or sandbox
  7  the action ran and failed (actions test, actions trigger)"""


def exit_code(exc: BaseException) -> int:
    """The exit code for an error of the error tree (`guru_mcp.errors`)."""
    if isinstance(exc, NotFound):
        return NOT_FOUND
    if isinstance(exc, Conflict):
        return CONFLICT
    if isinstance(exc, ValidationFailed):
        return REFUSED
    if isinstance(exc, (ConfigError, SandboxUnavailable)):
        return UNAVAILABLE
    if isinstance(exc, BadArguments):
        return USAGE
    if isinstance(exc, RunFailure):
        return RUN_FAILED
    if isinstance(exc, ToolError):
        return REFUSED
    return INTERNAL


def verbose() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("verbose"))


def _masked(text: str) -> str:
    from guru_mcp.secrets import REGISTRY  # every value this process decrypted

    return clean(REGISTRY.masker.text(text))


def fail(message: str, code: int = USAGE) -> NoReturn:
    """Print `error: message` on one line (masked and escaped) and exit with `code`."""
    one_line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    click.echo(f"error: {_masked(one_line)}", err=True)
    sys.exit(code)


def report(exc: BaseException) -> NoReturn:
    """Print an error as one line (several for a list of field problems) and exit with its code."""
    if isinstance(exc, ValidationFailed) and len(exc.errors) > 1:
        click.echo(f"error: {_masked(exc.prefix or 'invalid')}:", err=True)
        for err in exc.errors:
            click.echo(f"  - {_masked(str(err))}", err=True)
        sys.exit(exit_code(exc))
    if isinstance(exc, GuruError):
        fail(str(exc), exit_code(exc))
    hint = "" if verbose() else "; run with -v for the traceback"
    fail(f"internal error ({type(exc).__name__}: {exc}){hint}", INTERNAL)


def _single(exc: BaseException) -> BaseException:
    """The one error inside (nested) task-group exception groups, or the group itself."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run async work; errors become one line and an exit code (tracebacks only with -v)."""
    import anyio

    try:
        return anyio.run(fn)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        inner = _single(exc)
        if isinstance(inner, KeyboardInterrupt):
            sys.exit(130)
        if verbose() and not isinstance(inner, GuruError):
            traceback.print_exception(exc)
        report(inner)


def settings() -> Settings:
    """The settings of every command and transport: the environment over the home's config.toml."""
    from guru_mcp.config_file import load_settings

    try:
        return load_settings()
    except ConfigError as exc:  # a bad GURU_MCP_* variable or config.toml entry, named with its source
        fail(str(exc), UNAVAILABLE)


def with_app(work: Callable[[App], Awaitable[T]]) -> T:
    """Open the application (no sandbox, no background tasks) around `work`."""
    chosen = settings()

    async def main() -> T:
        from guru_mcp.app import open_app

        async with open_app(chosen, background=False, sandbox=False) as app:
            return await work(app)

    return run(main)


def with_core(work: Callable[[Core], Awaitable[T]]) -> T:
    """Open only the storage core (`guru_mcp/core.py`: database, key ring, catalog, vault) around
    `work`: for commands that change definitions and run nothing."""
    chosen = settings()

    async def main() -> T:
        from guru_mcp.core import open_core

        async with open_core(chosen) as core:
            return await work(core)

    return run(main)


def operator(app: Core, guru: str | None) -> Caller:
    """The CLI's caller: an admin, attributed in version history as the configured stdio user or as
    `cli:<login>`."""
    from guru_mcp.models import Caller

    try:
        login = getpass.getuser()
    except Exception:  # no login name in a bare container
        login = "unknown"
    return Caller(
        key=f"cli:{login}",
        email=app.settings.stdio_user_email,
        name=app.settings.stdio_user_name,
        groups=tuple(app.settings.stdio_user_groups),
        is_admin=True,
        guru=guru or app.settings.default_guru,
    )


def call(tool_name: str, arguments: dict[str, Any], guru: str | None = None) -> Any:
    """Call one admin service (the same code as the `admin_*` MCP tool of that name) as the operator."""

    async def work(app: App) -> Any:
        from guru_mcp.tools.admin import admin_tool, call_admin_tool

        return await call_admin_tool(app, operator(app, guru), admin_tool(tool_name), arguments)

    return with_app(work)


def echo_json(data: Any) -> None:
    click.echo(to_json(data))


def load_json(source: str, what: str) -> Any:
    """JSON from `-` (stdin), `@file`, a file path, or the text itself."""
    if source == "-":
        text = sys.stdin.read()
    elif source.startswith("@") or (not source.lstrip().startswith(("{", "[")) and Path(source).is_file()):
        path = Path(source.removeprefix("@"))
        try:
            text = path.read_text()
        except OSError as exc:
            fail(f"{what}: cannot read {path}: {exc.strerror}")
    else:
        text = source
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")


def pairs(items: tuple[str, ...], what: str) -> dict[str, Any]:
    """`key=value` options as a dict; a value that parses as JSON (`3`, `true`, `{"a":1}`) keeps its
    type, anything else is a string. A dotted key (`config.timeout=5`) makes nested objects."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(f"{what}: {item!r} is not key=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                fail(f"{what}: {key!r} sets inside {part!r}, which is given a value too")
            node = child
        node[parts[-1]] = value
    return out
