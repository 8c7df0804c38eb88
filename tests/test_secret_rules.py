"""Findings of an independent attack run: secret input, masking forms, strict names, secret scoping,
and what the CLI prints (masked hosts, terminal-safe tables)."""

import json
from datetime import UTC, datetime

import anyio
import pytest
from click.testing import CliRunner

from guru_mcp.app import open_app
from guru_mcp.cli import main as cli_main
from guru_mcp.errors import ValidationFailed
from guru_mcp.models import ActionType, RunStatus, Trigger, parse_spec
from guru_mcp.secrets import MASK, Masker
from guru_mcp.testing import FakeExecutor
from tests.conftest import ADMIN, TEST_KEY, USER, api_action, connect
from tests.support.records import run_record

SECRET = "sk_live_Zq9#xY7!"


def cli_env(settings) -> dict[str, str]:
    """The environment of a `guru-mcp` command on the same state as `settings` (database included)."""
    env = {
        "GURU_MCP_HOME": str(settings.home),
        "GURU_MCP_SECRET_KEY": TEST_KEY,
        "GURU_MCP_SANDBOX_ENABLED": "false",
        "GURU_MCP_SCHEDULER_ENABLED": "false",
        "GURU_MCP_EGRESS_ALLOW": "127.0.0.1",
    }
    if settings.database_url:
        env["GURU_MCP_DATABASE_URL"] = settings.database_url
    return env


def run_cli(settings, *args: str, stdin: str | None = None):
    return CliRunner().invoke(
        cli_main, list(args), input=stdin, env=cli_env(settings), catch_exceptions=False
    )


# -- 4. secret input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["1234567\n", "\n" * 8, "ab" + "\n" * 6, " " * 8 + "\n", "\t \t \t \t\n", "\n"]
)
def test_the_cli_refuses_a_secret_that_is_short_or_blank_once_its_newline_is_stripped(settings, typed):
    result = run_cli(settings, "secrets", "set", "API_KEY", stdin=typed)
    assert result.exit_code == 4, result.output  # refused: nothing changed
    assert "error:" in result.output and "Traceback" not in result.output
    assert "API_KEY" not in run_cli(settings, "secrets", "list").output


def test_the_cli_strips_exactly_one_trailing_newline_from_stdin(settings):
    assert run_cli(settings, "secrets", "set", "API_KEY", stdin="abcdefgh\n").exit_code == 0
    twice = run_cli(settings, "secrets", "set", "OTHER_KEY", stdin="abcdefgh\n\n")
    assert twice.exit_code == 4 and "one line" in twice.output

    async def stored() -> dict[str, str]:
        async with open_app(settings, sandbox=False, background=False) as app:
            return await app.vault.resolve("default", {"API_KEY", "OTHER_KEY"})

    assert anyio.run(stored) == {"API_KEY": "abcdefgh"}


@pytest.mark.parametrize("value", ["1234567\n", "\n" * 8, "ab" + "\n" * 6, " " * 12, "abcdefgh\n"])
@pytest.mark.anyio
async def test_admin_secret_set_refuses_short_blank_or_multi_line_values(app, value):
    async with connect(app, ADMIN) as client:
        result = await client.call_tool("admin_secret_set", {"name": "API_KEY", "value": value})
        assert result.is_error, result.content[0].text
        listed = await client.call_tool("admin_secrets_list", {})
    assert listed.structured_content["secrets"] == []


# -- 5. masking forms ------------------------------------------------------------------------------


@pytest.mark.parametrize("form", [SECRET.encode().hex(), SECRET.encode().hex().upper()])
def test_the_masker_hides_lower_and_upper_case_hex(form):
    masked = Masker([SECRET]).text(f"dump: {form}.")
    assert form not in masked and MASK in masked


# -- 7. strict names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        api_action("nl_name\n", "https://a.example/"),
        api_action("ok_name", "https://a.example/", parameters=[{"name": "who\n"}]),
        api_action("ok_name", "https://a.example/", headers=[{"key": "X-Key\n", "value": "v"}]),
        {
            "name": "ok_name",
            "action_type": "PYTHON_CODE",
            "config": {"code": "print(1)"},
            "secrets": ["API_KEY\n"],
        },
    ],
)
def test_a_name_ending_in_a_newline_is_refused(data):
    with pytest.raises(ValidationFailed):
        parse_spec(data)


@pytest.mark.anyio
async def test_a_secret_name_ending_in_a_newline_is_refused(app):
    with pytest.raises(ValidationFailed):
        await app.vault.put("default", "API_KEY\n", SECRET)


@pytest.mark.anyio
async def test_a_templated_host_ending_in_a_newline_is_refused(app, echo_server):
    await app.catalog.save_spec(
        "default",
        parse_spec(api_action("h", "http://{host}/x", parameters=[{"name": "host", "required": True}])),
    )
    async with connect(app, USER) as client:
        result = await client.call_tool("h", {"host": "127.0.0.1\n"})
    assert result.is_error and "not a valid host name" in result.content[0].text


# -- 9. a secret reaches only the actions that declare it ------------------------------------------


@pytest.mark.anyio
async def test_a_python_action_gets_only_the_secrets_it_declares_not_those_its_code_mentions(settings):
    recorder = FakeExecutor(lambda action, arguments: "done")
    async with open_app(settings, sandbox=False, executors={ActionType.PYTHON_CODE: recorder}) as app:
        await app.vault.put("default", "DECLARED_KEY", "declared-value-1")
        await app.vault.put("default", "OTHER_KEY", "undeclared-value-2")
        code = "import os\nprint(os.environ['DECLARED_KEY'], os.environ.get('OTHER_KEY'), os.getenv('OTHER_KEY'))"
        spec = parse_spec(
            {
                "name": "py",
                "action_type": "PYTHON_CODE",
                "config": {"code": code},
                "secrets": ["DECLARED_KEY"],
            }
        )
        assert (await app.catalog.save_spec("default", spec)).action.enabled
        outcome = await app.runs.run("default", "py", {}, USER, Trigger.TOOL_CALL)
        users = {row["name"]: row["used_by"] for row in await app.vault.list_secrets("default")}
    assert outcome.result.status is RunStatus.OK
    assert recorder.calls[0].job.secrets == {"DECLARED_KEY": "declared-value-1"}
    assert users == {"DECLARED_KEY": ["py"], "OTHER_KEY": []}


# -- 2 and 6. what the CLI prints ------------------------------------------------------------------

NASTY = "\x1b]0;owned\x07boom\n2026-01-01 00:00:00  ok        tool_call forged_row\x9b31m\u202eevil"


def add_nasty_run(settings) -> None:
    async def work() -> None:
        async with open_app(settings, sandbox=False, background=False) as app:
            record = run_record(
                id="00000000-0000-0000-0000-000000000001",
                name="nasty",
                caller={"key": "x"},
                inputs={"q": NASTY},
                status=RunStatus.ERROR,
                output=NASTY,
                error=NASTY,
                hosts=[NASTY],
                started_at=datetime.now(UTC),
                ended_at=datetime.now(UTC),
                duration_ms=1.0,
            )
            await app.store.runs.start_run(record)

    anyio.run(work)


CONTROL = [chr(c) for c in (*range(0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))] + ["\u202e"]


def test_cli_tables_escape_control_characters_so_output_cannot_drive_the_terminal_or_forge_rows(settings):
    add_nasty_run(settings)
    table = run_cli(settings, "runs", "list")
    assert table.exit_code == 0
    assert not [c for c in CONTROL if c in table.output]
    assert len(table.output.splitlines()) == 2  # the header and one row: no forged row
    assert "\\x1b]0;owned\\x07boom\\n" in table.output
    as_json = run_cli(settings, "runs", "list", "--json")
    assert not [c for c in CONTROL if c in as_json.output]
    assert json.loads(as_json.output)[0]["error"] == NASTY


def test_runs_list_json_masks_a_secret_used_as_the_host(settings, echo_server):
    settings = settings.model_copy(update={"egress_allow": ["127.0.0.1", "localhost"]})
    port = echo_server.url.rsplit(":", 1)[1]

    async def work() -> None:
        async with open_app(settings, sandbox=False, background=False) as app:
            await app.vault.put("default", "API_HOST", "localhost")
            await app.catalog.save_spec(
                "default", parse_spec(api_action("by_host", f"http://{{API_HOST}}:{port}/"))
            )
            outcome = await app.runs.run("default", "by_host", {}, USER, Trigger.TOOL_CALL)
            assert outcome.result.status is RunStatus.OK, outcome.result.text

    anyio.run(work)
    env = {**cli_env(settings), "GURU_MCP_EGRESS_ALLOW": "127.0.0.1,localhost"}
    listed = CliRunner().invoke(cli_main, ["runs", "list", "--json"], env=env, catch_exceptions=False)
    assert listed.exit_code == 0
    assert "localhost" not in listed.output
    assert json.loads(listed.output)[0]["hosts"] == ["[REDACTED]"]
