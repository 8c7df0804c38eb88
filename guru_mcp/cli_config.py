"""`guru-mcp config show|set`: the home's config.toml, under GURU_MCP_* environment variables."""

from __future__ import annotations

import json
import os

import click

from guru_mcp import render
from guru_mcp.cli_support import UNAVAILABLE, echo_json, fail, settings
from guru_mcp.errors import ConfigError


@click.group()
def config() -> None:
    """The configuration: config.toml in the home directory, under GURU_MCP_* environment variables."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def config_show(as_json: bool) -> None:
    """Print every effective setting and where it came from (env, config.toml, default); keys hidden."""
    from guru_mcp.config_file import origins

    chosen = settings()
    try:
        rows = origins(chosen)
    except ConfigError as exc:
        fail(str(exc), UNAVAILABLE)
    if as_json:
        echo_json({"config_file": str(chosen.config_file), "settings": rows})
        return
    missing = "" if chosen.config_file.exists() else " (not created yet: guru-mcp init)"
    click.echo(f"# {render.clean(str(chosen.config_file))}{missing}")
    click.echo(
        render.table(
            rows, [("name", "SETTING"), ("value", "VALUE"), ("source", "FROM")], widths={"value": 60}
        )
    )


@config.command("set")
@click.argument("name")
@click.argument("value")
def config_set(name: str, value: str) -> None:
    """Set NAME to VALUE in config.toml (lists comma-separated: egress_allow 127.0.0.1,10.0.0.0/8).

    Needs no valid configuration, so a broken file can be fixed with it."""
    from guru_mcp.config_file import config_path, env_var, set_value

    path = config_path()
    try:
        stored = set_value(path, name, value)
    except ConfigError as exc:
        fail(str(exc), UNAVAILABLE)
    click.echo(f"{name} = {json.dumps(stored)} in {path}; restart running servers to apply it")
    if env_var(name) in os.environ:
        click.echo(f"note: {env_var(name)} is set in this environment and overrides the file", err=True)
