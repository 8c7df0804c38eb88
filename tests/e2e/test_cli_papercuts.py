"""Small CLI papercuts of a new admin's first hour: refused unknown values, plurals, tables, token summaries."""

from __future__ import annotations

import json

from tests.conftest import api_action
from tests.e2e.conftest import cli


def test_runs_list_refuses_an_unknown_status_naming_the_valid_ones(cli_env):
    cli(cli_env, "init")
    refused = cli(cli_env, "runs", "list", "--status", "bogus", check=False)
    assert refused.returncode == 2 and refused.stdout == ""
    assert (
        "'bogus' is not one of 'running', 'ok', 'error', 'timeout', 'denied', 'cancelled'" in refused.stderr
    )
    assert cli(cli_env, "runs", "list", "--status", "ok").returncode == 0


def test_export_counts_actions_in_the_singular_and_plural(cli_env, tmp_path):
    cli(cli_env, "init")
    for name in ("one", "two"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(api_action(name, "https://api.example.com/" + name)))
        cli(cli_env, "actions", "import", str(path))
    single = cli(cli_env, "actions", "export", "one", "-o", str(tmp_path / "a.json"))
    assert single.stderr.strip() == f"exported 1 action to {tmp_path / 'a.json'}"
    both = cli(cli_env, "actions", "export", "-o", str(tmp_path / "b.json"))
    assert both.stderr.strip() == f"exported 2 actions to {tmp_path / 'b.json'}"


def test_schedules_list_prints_a_table_and_json_on_request(cli_env, tmp_path):
    cli(cli_env, "init")
    assert cli(cli_env, "schedules", "list").stdout.strip() == "no schedules"
    action = api_action(
        "daily_report",
        "https://api.example.com/report",
        schedule={"cron": "0 9 * * *", "timezone": "Europe/Berlin"},
    )
    (tmp_path / "s.json").write_text(json.dumps(action))
    cli(cli_env, "actions", "import", str(tmp_path / "s.json"))
    table = cli(cli_env, "schedules", "list").stdout.splitlines()
    assert table[0].split() == [
        "ACTION",
        "CRON",
        "TIMEZONE",
        "STATE",
        "NEXT",
        "FIRE",
        "(local)",
        "LAST",
        "RUN",
    ]
    assert len(table) == 2
    row = table[1]
    assert (
        row.startswith("daily_report") and "0 9 * * *" in row and "Europe/Berlin" in row and "active" in row
    )
    assert row.rstrip().endswith("-")  # never ran
    assert " 09:00:00" in row  # next fire, in the schedule's own time zone
    rows = json.loads(cli(cli_env, "schedules", "list", "--json").stdout)
    assert [r["action"] for r in rows] == ["daily_report"] and rows[0]["cron"] == "0 9 * * *"


def test_tokens_create_says_for_whom_and_with_which_rights(cli_env):
    cli(cli_env, "init")
    user = cli(
        cli_env, "tokens", "create", "--email", "alex@corp.example", "--name", "Alex", "--groups", "hr,eng"
    )
    assert user.stdout.strip().startswith("gmcp_") and len(user.stdout.strip().splitlines()) == 1
    assert user.stderr.strip() == (
        "Token for Alex <alex@corp.example> (groups: hr, eng) on guru 'default'; may use the action tools only "
        "(no admin tools). Shown once: send it as `Authorization: Bearer <token>`."
    )
    admin = cli(cli_env, "tokens", "create", "--admin", "--label", "ci")
    assert admin.stderr.strip().startswith(
        "Token for no user identity (groups: Everyone) on guru 'default', label 'ci'; "
        "may use admin: the action tools and the admin_* tools."
    )
