"""`guru-mcp actions list` read without the App (`guru_mcp.lean_list`): the same bytes as the full path
over a varied catalog, and the full path whenever the lean one cannot be sure.

Each comparison runs the command twice through click's CliRunner on one SQLite state directory: once
as it is (and checks that the lean path answered: the admin service was not called), once with the
lean path switched off.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pydantic import SecretStr, TypeAdapter
from pydantic_settings import NoDecode

from guru_mcp import cli, lean_list
from guru_mcp.models import ActionSpec
from guru_mcp.models.action import ScheduleSpec
from guru_mcp.settings import Settings
from tests.conftest import TEST_KEY, api_action

REPO = Path(__file__).resolve().parents[1]
SECRET_VALUE = "sk_live_lean_list_0123456789"
"""A secret of the default guru that also appears in an action's title: the listing masks it."""


def _environment(home: Path, **extra: str) -> dict[str, str]:
    return {
        "GURU_MCP_HOME": str(home),
        "GURU_MCP_SECRET_KEY": TEST_KEY,
        "GURU_MCP_EGRESS_ALLOW": "127.0.0.1",
        "GURU_MCP_SANDBOX_ENABLED": "false",
        "GURU_MCP_STDIO_USER_EMAIL": "ops@corp.example",
        **extra,
    }


def _invoke(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    # The variables of the outer environment are unset for the command: it sees `env` only.
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("GURU_MCP_")}
    return CliRunner().invoke(cli.main, list(args), env={**unset, **env}, input=input, catch_exceptions=False)


def _ok(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    result = _invoke(env, *args, input=input)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


def _file(tmp: Path, name: str, data: Any) -> str:
    path = tmp / name
    path.write_text(json.dumps(data))
    return str(path)


def _build_catalog(home: Path) -> dict[str, str]:
    """Three gurus: the default one with the repository's examples (every action type, a schedule,
    disabled ones) and more; `other` with a few; `empty` with none."""
    env = _environment(home)
    tmp = home.parent
    _ok(env, "actions", "import", *sorted(str(p) for p in (REPO / "actions").glob("*.json")))
    _ok(env, "secrets", "set", "STRIPE_API_KEY", input=SECRET_VALUE + "\n")
    extra = [
        api_action("ping", "http://127.0.0.1:9/ping", title=f"Ping (key {SECRET_VALUE})"),
        api_action(
            "zap_item",
            "http://127.0.0.1:9/items/{item}",
            method="DELETE",
            groups=["ops", "eng"],
            parameters=[{"name": "item", "type": "string", "description": "The item.", "required": True}],
        ),
        api_action(
            "nightly_sync",
            "http://127.0.0.1:9/sync",
            method="POST",
            body={"full": "{full}", "ratio": "{ratio}"},
            parameters=[
                {"name": "full", "type": "boolean", "description": "Everything."},
                {"name": "ratio", "type": "number", "description": "How much."},
            ],
            schedule={
                "cron": "0 3 * * *",
                "timezone": "Europe/Berlin",
                "arguments": {"full": True, "ratio": 2.5},
            },
        ),
        api_action("aa_first", "http://127.0.0.1:9/{API_TOKEN}"),  # missing a secret: disabled
    ]
    for action in extra:
        _ok(env, "actions", "create", _file(tmp, f"{action['name']}.json", action))
    _ok(env, "actions", "disable", "ping", "shipment_tracking")
    _ok(env, "gurus", "create", "other")
    _ok(env, "gurus", "create", "empty")
    for action in (
        api_action("ping", "http://127.0.0.1:9/other", method="PUT", title="Other ping"),
        api_action("beta", "http://127.0.0.1:9/beta"),
        api_action("alpha", "http://127.0.0.1:9/alpha", groups=["hr"]),
    ):
        _ok(env, "actions", "create", _file(tmp, f"other-{action['name']}.json", action), "--guru", "other")
    _ok(env, "actions", "disable", "beta", "--guru", "other")
    return env


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _build_catalog(tmp_path_factory.mktemp("lean") / "home")


def _lean_and_full(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[Result, Result, list[str]]:
    """The command as it is, then with the lean path off; and the admin services the first one called."""
    called: list[str] = []
    full_call = cli.call

    def spy(tool: str, arguments: dict[str, Any], guru: str | None = None) -> Any:
        called.append(tool)
        return full_call(tool, arguments, guru)

    with monkeypatch.context() as patch:
        patch.setattr(cli, "call", spy)
        lean = _invoke(env, "actions", "list", *args)
    with monkeypatch.context() as patch:
        patch.setattr(lean_list, "listed_actions", lambda *a, **k: None)
        full = _invoke(env, "actions", "list", *args)
    return lean, full, called


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--json",),
        ("--guru", "other"),
        ("--guru", "other", "--json"),
        ("--guru", "default", "--json"),
        ("--guru", ""),
        ("--guru", "empty"),
        ("--guru", "empty", "--json"),
    ],
)
def test_the_lean_listing_prints_what_the_full_path_prints(catalog, monkeypatch, args):
    lean, full, called = _lean_and_full(catalog, monkeypatch, *args)
    assert called == [], "the lean path did not answer"
    assert (lean.exit_code, lean.stdout, lean.stderr) == (full.exit_code, full.stdout, full.stderr)
    assert lean.exit_code == 0


def test_the_catalog_compared_is_varied(catalog):
    rows = lean_list.listed_actions(None, catalog)
    assert rows is not None
    assert {r["type"] for r in rows} == {"API_CALL", "PYTHON_CODE", "AGENT"}
    assert {r["enabled"] for r in rows} == {True, False}
    assert any("schedule" in r for r in rows) and any("groups" in r for r in rows)
    assert [r["name"] for r in rows] == sorted(r["name"] for r in rows)
    ping = next(r for r in rows if r["name"] == "ping")
    assert SECRET_VALUE not in ping["title"] and "[REDACTED]" in ping["title"]
    other = lean_list.listed_actions("other", catalog)
    assert other is not None and [r["name"] for r in other] == ["alpha", "beta", "ping"]


def test_the_shapes_the_lean_path_reads_are_the_models_and_settings():
    assert tuple(ActionSpec.model_fields) == lean_list._SPEC_FIELDS
    assert tuple(ScheduleSpec.model_fields) == lean_list._SCHEDULE_FIELDS
    fields = Settings.model_fields
    for name in lean_list._TEXT:
        assert fields[name].annotation in (str, str | None, SecretStr | None), name
    for name in lean_list._LISTS:
        assert fields[name].annotation in (list[str], list[SecretStr]), name
        assert NoDecode in fields[name].metadata, name  # the environment's text is split on commas
    for name in lean_list._FLAGS:
        assert fields[name].annotation is bool, name
    for word in lean_list._FLAG_WORDS:
        for spelled in (word, word.upper(), word.capitalize()):
            TypeAdapter(bool).validate_python(spelled)


# -- fallbacks -------------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    env = _environment(home)
    _ok(env, "actions", "create", _file(tmp_path, "ping.json", api_action("ping", "http://127.0.0.1:9/p")))
    _ok(env, "secrets", "set", "SOME_TOKEN", input=SECRET_VALUE + "\n")
    assert lean_list.listed_actions(None, env) is not None  # the lean path answers until a case breaks it
    return home


def _sql(home: Path, statement: str) -> None:
    with sqlite3.connect(home / "guru-mcp.db") as db:
        db.execute(statement)


def test_a_schema_not_at_the_head_revision_takes_the_full_path(home):
    _sql(home, "UPDATE alembic_version SET version_num = '0007'")
    assert lean_list.listed_actions(None, _environment(home)) is None


def test_a_missing_database_takes_the_full_path_which_creates_it(tmp_path):
    env = _environment(tmp_path / "new")
    assert lean_list.listed_actions(None, env) is None
    assert "no actions" in _ok(env, "actions", "list").stdout
    assert lean_list.listed_actions(None, env) is not None  # created by the full path


def test_a_postgresql_url_takes_the_full_path(home):
    env = _environment(home, GURU_MCP_DATABASE_URL="postgresql+psycopg://u:p@127.0.0.1:1/none")
    assert lean_list.listed_actions(None, env) is None


def test_a_sqlite_url_of_the_same_file_takes_the_lean_path(home):
    env = _environment(home, GURU_MCP_DATABASE_URL=f"sqlite:///{home / 'guru-mcp.db'}")
    assert lean_list.listed_actions(None, env) == lean_list.listed_actions(None, _environment(home))
    with_query = _environment(home, GURU_MCP_DATABASE_URL=f"sqlite:///{home / 'guru-mcp.db'}?mode=ro")
    assert lean_list.listed_actions(None, with_query) is None


def test_an_unknown_guru_takes_the_full_path_which_reports_it(home, monkeypatch):
    env = _environment(home)
    assert lean_list.listed_actions("nope", env) is None
    lean, full, _ = _lean_and_full(env, monkeypatch, "--guru", "nope")
    assert lean.exit_code == full.exit_code == 3
    assert lean.stderr == full.stderr


def test_a_missing_default_guru_takes_the_full_path_which_creates_it(home):
    env = _environment(home, GURU_MCP_DEFAULT_GURU="fresh")
    assert lean_list.listed_actions(None, env) is None
    assert lean_list.listed_actions("default", env) is None


def test_a_missing_key_file_takes_the_full_path_which_creates_it(home):
    env = _environment(home)
    del env["GURU_MCP_SECRET_KEY"]
    assert not (home / "secret.key").exists()
    assert lean_list.listed_actions(None, env) is None


def test_a_key_file_readable_by_others_takes_the_full_path_which_refuses_it(home, monkeypatch):
    env = _environment(home)
    del env["GURU_MCP_SECRET_KEY"]
    (home / "secret.key").write_text(TEST_KEY + "\n")
    (home / "secret.key").chmod(0o644)
    assert lean_list.listed_actions(None, env) is None
    lean, full, _ = _lean_and_full(env, monkeypatch)
    assert lean.exit_code == full.exit_code == 6 and lean.stderr == full.stderr


def test_a_secret_the_key_cannot_decrypt_takes_the_full_path(home, monkeypatch):
    env = _environment(home, GURU_MCP_SECRET_KEY="b" * 43 + "=")
    assert lean_list.listed_actions(None, env) is None
    lean, full, _ = _lean_and_full(env, monkeypatch)
    assert lean.exit_code == full.exit_code != 0 and lean.stderr == full.stderr


def test_a_run_marked_running_takes_the_full_path_which_may_settle_it(home):
    _sql(
        home,
        "INSERT INTO runs (id, guru_id, action_name, trigger, caller, inputs, status, output, truncated,"
        " error, hosts, hosts_refused, started_at, depth, usage) SELECT 'r1', id, 'ping', 'manual', '{}',"
        " '{}', 'running', '', 0, '', '[]', '[]', '2020-01-01 00:00:00', 0, '{}' FROM gurus"
        " WHERE slug = 'default'",
    )
    assert lean_list.listed_actions(None, _environment(home)) is None


@pytest.mark.parametrize(
    "variable",
    [
        {"GURU_MCP_HTTP_MAX_TIMEOUT": "abc"},  # a setting the lean path does not check
        {"GURU_MCP_SANDBOX_ENABLED": "maybe"},
        {"guru_mcp_home": "/elsewhere"},
        {"GURU_MCP_HOME": "~/elsewhere"},
    ],
)
def test_a_setting_the_lean_path_cannot_vouch_for_takes_the_full_path(home, variable):
    assert lean_list.listed_actions(None, {**_environment(home), **variable}) is None


@pytest.mark.parametrize(
    "text",
    [
        "http_max_timeout = 5\n",
        "egress_allow = [1, 2]\n",
        "sandbox_enabled = 'yes'\n",
        "not toml at all\n",
        "home = '/elsewhere'\n",
    ],
)
def test_a_config_file_the_lean_path_cannot_vouch_for_takes_the_full_path(home, text):
    (home / "config.toml").write_text(text)
    assert lean_list.listed_actions(None, _environment(home)) is None


def test_a_config_file_of_checked_settings_takes_the_lean_path(home):
    (home / "config.toml").write_text(
        'egress_allow = ["127.0.0.1"]\nstdio_user_name = "Ops"\nscheduler_enabled = false\n'
    )
    assert lean_list.listed_actions(None, _environment(home)) is not None


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE actions SET spec = '{'",
        "UPDATE actions SET spec = json_set(spec, '$.added_later', 1)",
        "UPDATE actions SET spec = json_remove(spec, '$.icons')",
        "UPDATE actions SET spec = json_set(spec, '$.action_type', 'SOMETHING_NEW')",
        "UPDATE actions SET enabled = 7",
    ],
)
def test_a_stored_action_of_an_unknown_shape_takes_the_full_path(home, statement):
    _sql(home, statement)
    assert lean_list.listed_actions(None, _environment(home)) is None


def test_on_the_suite_database_the_command_lists_and_postgresql_takes_the_full_path(tmp_path, db_url):
    env = _environment(tmp_path / "home", **({"GURU_MCP_DATABASE_URL": db_url} if db_url else {}))
    _ok(env, "actions", "create", _file(tmp_path, "ping.json", api_action("ping", "http://127.0.0.1:9/p")))
    assert _ok(env, "actions", "list").stdout.splitlines()[1].split()[:4] == [
        "enabled",
        "ping",
        "API_CALL",
        "v1",
    ]
    assert (lean_list.listed_actions(None, env) is None) == (db_url is not None)
