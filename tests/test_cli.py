"""The `guru-mcp` command: one command per admin tool, JSON output, tables, errors and exit codes.

Commands run in-process through click's CliRunner against a real SQLite state directory and a real
HTTP server on 127.0.0.1; one test runs the installed command as a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from guru_mcp.cli import main
from guru_mcp.tools.admin import admin_tool, all_admin_tools
from tests.conftest import TEST_KEY, api_action


@pytest.fixture
def cli(tmp_path, monkeypatch, db_url):
    env = {
        "GURU_MCP_HOME": str(tmp_path / "home"),
        "GURU_MCP_SECRET_KEY": TEST_KEY,
        "GURU_MCP_EGRESS_ALLOW": "127.0.0.1",
        "GURU_MCP_SANDBOX_ENABLED": "false",
        "GURU_MCP_STDIO_USER_EMAIL": "ops@corp.example",
    }
    if db_url:
        env["GURU_MCP_DATABASE_URL"] = db_url
    for key in [k for k in os.environ if k.startswith("GURU_MCP_")]:
        monkeypatch.delenv(key)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, code: int = 0):
        result = runner.invoke(main, list(args), env=env, input=input, catch_exceptions=False)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        return result

    invoke.env = env
    invoke.tmp = tmp_path
    return invoke


def _file(tmp: Path, name: str, data) -> str:
    path = tmp / name
    path.write_text(json.dumps(data))
    return str(path)


def test_every_admin_tool_has_a_cli_command():
    commands = {
        "admin_actions_list": "actions list",
        "admin_action_get": "actions get",
        "admin_action_create": "actions create",
        "admin_action_update": "actions update",
        "admin_action_delete": "actions delete",
        "admin_action_enable": "actions enable",
        "admin_action_disable": "actions disable",
        "admin_action_test": "actions test",
        "admin_action_trigger": "actions trigger",
        "admin_action_history": "actions history",
        "admin_action_diff": "actions diff",
        "admin_action_rollback": "actions rollback",
        "admin_import": "actions import",
        "admin_export": "actions export",
        "admin_secret_set": "secrets set",
        "admin_secrets_list": "secrets list",
        "admin_secret_delete": "secrets delete",
        "admin_runs_list": "runs list",
        "admin_run_get": "runs show",
        "admin_action_stats": "actions stats",
        "admin_sandbox_status": "sandbox status",
        "admin_schedule_set": "schedules set",
        "admin_schedule_pause": "schedules pause",
        "admin_schedule_resume": "schedules resume",
        "admin_schedule_clear": "schedules clear",
        "admin_schedules_list": "schedules list",
        "admin_tokens_list": "tokens list",
        "admin_token_revoke": "tokens revoke",
        "admin_gurus_list": "gurus list",
        "admin_guru_create": "gurus create",
        "admin_guru_delete": "gurus delete",
        "admin_provider_set": "providers set",
        "admin_providers_list": "providers list",
        "admin_provider_delete": "providers delete",
    }
    tools = {t.name for t in all_admin_tools()}
    assert tools - set(commands) == set(), "an admin tool without a CLI command"
    for path in commands.values():
        group, name = path.split()
        assert name in main.commands[group].commands, path


def test_help_documents_the_exit_codes(cli):
    out = cli("--help").stdout
    for line in (
        "2  usage",
        "3  not found",
        "4  refused",
        "5  conflict",
        "6  unavailable",
        "7  the action ran and failed",
    ):
        assert f"\n    {line}" in out


def test_an_action_through_its_whole_life_on_the_command_line(cli, echo_server):
    source = _file(cli.tmp, "ping.json", api_action("ping", echo_server.url + "/ping", timeout=20))
    assert cli("actions", "create", source).stdout.strip() == "created ping v1 (enabled)"
    assert "exists already" in cli("actions", "create", source, code=5).stderr

    listing = cli("actions", "list").stdout.splitlines()
    assert listing[0].split() == ["STATE", "NAME", "TYPE", "VERSION", "SCHEDULE", "WHY", "DISABLED"]
    assert listing[1].split()[:4] == ["enabled", "ping", "API_CALL", "v1"]
    assert json.loads(cli("actions", "list", "--json").stdout)[0]["name"] == "ping"

    preview = cli("actions", "update", "ping", "--set", "config.method=POST", "--dry-run").stdout
    assert "would go from v1 to v2 (dry run)" in preview and '~ config.method: "GET" -> "POST"' in preview
    assert (
        json.loads(cli("actions", "get", "ping", "--json").stdout)["definition"]["config"]["method"] == "GET"
    )

    updated = cli(
        "actions", "update", "ping", "--set", "config.method=POST", "--patch", '{"config": {"timeout": null}}'
    )
    assert "updated ping to v2" in updated.stdout and "- config.timeout: 20.0" in updated.stdout
    got = json.loads(cli("actions", "get", "ping", "--json").stdout)
    assert got["version"] == 2 and got["definition"]["config"]["method"] == "POST"
    assert got["definition"]["config"]["endpoint"] == echo_server.url + "/ping"  # merged, not replaced

    cli("actions", "disable", "ping")
    cli("actions", "enable", "ping")
    history = cli("actions", "history", "ping").stdout.splitlines()
    assert history[0].split()[:3] == ["VERSION", "WHEN", "(UTC)"]
    assert (
        history[1].split()[:2] == ["v2", "*"]
        and "cli:" not in history[1]
        and "ops@corp.example" in history[1]
    )
    assert len(history) == 3  # enable/disable made no versions
    diff = json.loads(cli("actions", "diff", "ping", "1", "2", "--json").stdout)
    assert {c["field"] for c in diff["changes"]} == {"config.method", "config.timeout"}

    rolled = cli("actions", "rollback", "ping", "1").stdout
    assert "v2 -> v3 (the definition of v1)" in rolled
    assert (
        json.loads(cli("actions", "get", "ping", "--json").stdout)["definition"]["config"]["method"] == "GET"
    )
    assert "nothing to do" in cli("actions", "rollback", "ping", "3").stdout

    assert "add --yes" in cli("actions", "delete", "ping", code=2).stderr
    assert cli("actions", "delete", "ping", "--yes").stdout.strip() == "deleted ping"
    assert cli("actions", "get", "ping", code=3).stderr.strip() == "error: no action named 'ping'"


def test_refusals_name_the_field_and_exit_with_their_kind(cli, echo_server):
    cli("actions", "create", _file(cli.tmp, "a.json", api_action("ping", echo_server.url + "/p")))
    typo = cli("actions", "update", "ping", "--set", "config.endpont=x", code=4).stderr
    assert "changes.config.endpont: unknown field (did you mean 'endpoint'?)" in typo
    assert "Traceback" not in typo and len(typo.strip().splitlines()) == 1
    bad = cli("actions", "update", "ping", "--set", "config.endpoint=nope", code=4).stderr
    assert "config.endpoint" in bad and len(bad.strip().splitlines()) == 1
    assert (
        "at version 1, not 7"
        in cli("actions", "update", "ping", "--set", "title=x", "--expected-version", "7", code=5).stderr
    )
    assert "nothing to change" in cli("actions", "update", "ping", code=2).stderr
    assert "is not key=value" in cli("actions", "update", "ping", "--set", "title", code=2).stderr
    assert "not valid JSON" in cli("actions", "update", "ping", "--patch", "{oops", code=2).stderr
    assert "no version 9" in cli("actions", "diff", "ping", "9", code=3).stderr
    assert "no action named 'nope'" in cli("actions", "enable", "nope", code=3).stderr
    assert "Invalid value for '--status'" in cli("runs", "list", "--status", "bogus", code=2).stderr
    assert cli("runs", "show", "no-such-run", code=3).stderr.strip() == "error: no run 'no-such-run'"


def test_test_and_trigger_print_the_output_and_exit_7_when_the_run_fails(cli, echo_server):
    doc = api_action("echo", echo_server.url + "/e", parameters=[{"name": "n", "type": "number"}])
    cli("actions", "create", _file(cli.tmp, "e.json", doc))
    ok = cli("actions", "test", "echo", "--arg", "n=3")
    assert (
        json.loads(ok.stdout)["success"] is True
        and ": ok in" in ok.stderr
        and "hosts: 127.0.0.1" in ok.stderr
    )
    run_id = ok.stderr.split()[1].rstrip(":")
    data = json.loads(cli("actions", "trigger", "echo", "--args", '{"n": 4}', "--json").stdout)
    assert data["status"] == "ok" and data["run_id"]
    failed = cli("actions", "test", "echo", "--arg", "n=many", code=7)
    assert "n: 'many' is not of type 'number'" in failed.stderr
    broken = api_action("broken", echo_server.url + "/status/500")
    cli("actions", "create", _file(cli.tmp, "b.json", broken))
    assert json.loads(cli("actions", "trigger", "broken", "--json", code=7).stdout)["status"] == "error"

    shown = cli("runs", "show", run_id).stdout
    assert "action:    echo v1" in shown and "config snapshot:" in shown and '"endpoint"' in shown
    full = json.loads(cli("runs", "show", run_id, "--json").stdout)
    assert full["inputs"] == {"n": 3} and full["config_snapshot"]["config"]["endpoint"].endswith("/e")
    rows = cli("runs", "list").stdout.splitlines()
    assert rows[0].split()[:3] == ["STARTED", "(UTC)", "STATUS"] and len(rows) == 5
    assert [r["trigger"] for r in json.loads(cli("runs", "list", "--json", "--action", "echo").stdout)] == [
        "test",
        "manual",
        "test",
    ]
    stats = json.loads(cli("actions", "stats", "echo", "--json").stdout)["stats"][0]
    assert stats["runs"] == 3 and stats["errors"] == 1
    week = json.loads(cli("actions", "stats", "echo", "--window", "7d", "--json").stdout)
    assert week["window"] == "7d" and week["stats"][0]["by_trigger"]["manual"]["runs"] == 1
    assert "window: 30d" in cli("actions", "stats", "--window", "30d").stdout


def test_secrets_set_offers_the_enable_command_and_can_enable_for_you(cli, echo_server):
    doc = api_action(
        "auth", echo_server.url + "/a", headers=[{"key": "Authorization", "value": "Bearer {T1} {T2}"}]
    )
    cli("actions", "create", _file(cli.tmp, "auth.json", doc))
    first = cli("secrets", "set", "T1", input="first-secret-value\n").stdout
    assert "auth still needs: T2" in first and "actions enable" not in first
    second = cli("secrets", "set", "T2", input="second-secret-value\n").stdout
    assert "enable them with: guru-mcp actions enable auth" in second
    assert json.loads(cli("actions", "get", "auth", "--json").stdout)["enabled"] is False
    cli("actions", "disable", "auth")
    cli("actions", "create", _file(cli.tmp, "auth2.json", {**doc, "name": "auth_two"}))
    assert cli("secrets", "delete", "T2").stdout.strip() == "deleted secret T2; disabled: auth_two"
    third = cli("secrets", "set", "T2", "--enable-actions", input="second-secret-value\n").stdout
    assert "enabled: auth_two" in third  # `auth` was disabled by an admin: it stays off
    listing = cli("secrets", "list").stdout
    assert "first-secret-value" not in listing and listing.splitlines()[1].split()[0] == "T1"
    assert "second-secret-value" not in cli("secrets", "list", "--json").stdout
    assert json.loads(cli("actions", "get", "auth_two", "--json").stdout)["enabled"] is True


def test_schedules_are_set_paused_resumed_and_cleared(cli, echo_server):
    cli("actions", "create", _file(cli.tmp, "s.json", api_action("tick", echo_server.url + "/t")))
    shown = cli("schedules", "set", "tick", "--cron", "0 9 * * 1", "--timezone", "Europe/Berlin").stdout
    assert "tick: 0 9 * * 1 (Europe/Berlin), active" in shown and shown.count("next: ") == 3
    assert json.loads(cli("schedules", "pause", "tick", "--json").stdout)["state"] == "paused"
    assert "active" in cli("schedules", "resume", "tick").stdout
    assert "bad" in cli("schedules", "set", "tick", "--cron", "bad", code=4).stderr
    assert cli("schedules", "clear", "tick").stdout.strip() == "tick: schedule cleared"
    assert "has no schedule" in cli("schedules", "pause", "tick", code=3).stderr
    versions = json.loads(cli("actions", "history", "tick", "--json").stdout)["versions"]
    assert [v["version"] for v in versions] == [3, 2, 1]  # set and clear are versions; pause/resume are not


def test_import_dry_run_shows_per_field_diffs(cli, echo_server):
    cli("actions", "create", _file(cli.tmp, "p.json", api_action("ping", echo_server.url + "/v1")))
    doc = _file(cli.tmp, "import.json", [api_action("ping", echo_server.url + "/v2")])
    out = cli("actions", "import", doc, "--dry-run").stdout
    assert (
        "update    ping" in out
        and f'~ config.endpoint: "{echo_server.url}/v1" -> "{echo_server.url}/v2"' in out
    )
    report = json.loads(cli("actions", "import", doc, "--json").stdout)
    assert report[doc]["actions"][0]["changes"][0]["field"] == "config.endpoint"
    assert json.loads(cli("actions", "history", "ping", "--json").stdout)["version"] == 2


def test_import_masks_secret_values_and_records_the_operator(cli):
    cli("secrets", "set", "DEPLOY_KEY", input="hunter2-deploy-key\n")
    human = {**api_action("x", "http://127.0.0.1:9/x"), "name": "Rotate hunter2-deploy-key now"}
    out = cli("actions", "import", _file(cli.tmp, "human.json", [human])).stdout
    assert "hunter2-deploy-key" not in out and "'Rotate [REDACTED] now' is imported as" in out, out
    history = json.loads(cli("actions", "history", "rotate_hunter2_deploy_key_now", "--json").stdout)
    assert history["versions"][0]["changed_by"] == "ops@corp.example", history


def test_import_opens_the_storage_core_only(cli):
    """`actions import` runs nothing: neither the application (HTTP client, executors) nor httpx loads."""
    doc = _file(cli.tmp, "one.json", [api_action("ping", "http://127.0.0.1:9/p")])
    probe = (
        "import sys\n"
        "from guru_mcp.cli import main\n"
        "try:\n"
        f"    main(['actions', 'import', {doc!r}])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted(m for m in ('guru_mcp.app', 'guru_mcp.tools.admin', 'httpx') if m in sys.modules))\n"
    )
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GURU_MCP_")}, **cli.env}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "create    ping" in done.stdout and done.stdout.strip().endswith("[]"), done.stdout
    assert json.loads(cli("actions", "get", "ping", "--json").stdout)["version"] == 1


def test_an_import_of_a_file_that_is_not_text_is_refused_in_one_line(cli):
    binary = cli.tmp / "blob.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    err = cli("actions", "import", str(binary), code=4).stderr
    assert "not UTF-8 text" in err and len(err.strip().splitlines()) == 1


def test_sandbox_status_says_why_python_actions_cannot_run(cli):
    out = json.loads(cli("sandbox", "status", "--json").stdout)
    assert out["available"] is False and "GURU_MCP_SANDBOX_ENABLED" in out["reason"]


def test_tables_keep_one_row_per_value_and_escape_terminal_controls(cli, echo_server):
    doc = api_action("evil", echo_server.url + "/x", title="Red\x1b[31m\nline two\u202e")
    cli("actions", "create", _file(cli.tmp, "evil.json", doc))
    cli("actions", "update", "evil", "--set", "title=two\nlines\x1b]0;pwned\x07")
    history = cli("actions", "history", "evil").stdout
    assert "\x1b" not in history and "\x07" not in history
    assert len(history.strip().splitlines()) == 3
    got = cli("actions", "get", "evil").stdout
    assert "\x1b" not in got and "\u202e" not in got and "\\u001b" in got
    as_json = cli("actions", "get", "evil", "--json").stdout
    assert "\u202e" not in as_json and json.loads(as_json)["definition"]["title"].endswith("\x07")


def test_internal_errors_are_one_line_and_tracebacks_only_with_v(cli, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("kaput")

    # `secrets list`: `actions list` may answer without the admin service (guru_mcp.lean_list).
    monkeypatch.setattr(admin_tool("admin_secrets_list"), "handler", boom)
    quiet = cli("secrets", "list", code=1).stderr
    assert quiet.strip() == "error: internal error (RuntimeError: kaput); run with -v for the traceback"
    loud = cli("-v", "secrets", "list", code=1).stderr
    assert "Traceback" in loud and "RuntimeError: kaput" in loud


def test_an_unreachable_database_is_one_line_and_exit_6(cli):
    cli.env["GURU_MCP_DATABASE_URL"] = "postgresql+psycopg://nobody:nothing@127.0.0.1:1/none"
    err = cli("actions", "list", code=6).stderr
    assert err.startswith("error: cannot open the database") and len(err.strip().splitlines()) == 1
    assert "nothing" not in err  # the password is not shown


def test_the_installed_command_exits_with_the_documented_codes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURU_MCP_")}
    env.update(GURU_MCP_HOME=str(tmp_path), GURU_MCP_SECRET_KEY=TEST_KEY, GURU_MCP_SANDBOX_ENABLED="false")
    command = [str(Path(sys.executable).parent / "guru-mcp")]
    missing = subprocess.run(
        [*command, "actions", "get", "nope"], env=env, capture_output=True, text=True, timeout=60
    )
    assert (missing.returncode, missing.stderr) == (3, "error: no action named 'nope'\n")
    usage = subprocess.run([*command, "actions", "diff"], env=env, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "Missing argument 'NAME'" in usage.stderr
