"""Action versions: merge patches, diffs, history, rollback, config snapshots of runs."""

import json

import pytest

from guru_mcp.errors import Conflict, NotFound, ValidationFailed
from guru_mcp.models import Caller, Trigger, parse_spec
from guru_mcp.transfer import import_actions
from guru_mcp.versions import (
    diff,
    diff_versions,
    history,
    merge_patch,
    rollback,
    summarize,
    unknown_fields,
    update,
)
from tests.conftest import ADMIN, api_action

BOB = Caller(key="bob", email="bob@corp.example", is_admin=True)


# -- pure functions ------------------------------------------------------------------------------

RFC_7396_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC_7396_EXAMPLES)
def test_merge_patch_follows_every_example_of_rfc_7396(target, patch, expected):
    before = json.dumps(target)
    assert merge_patch(target, patch) == expected
    assert json.dumps(target) == before  # the target is not modified


def test_diff_pairs_parameters_by_name_and_says_when_only_their_order_changed():
    old = {"parameters": [{"name": "a", "type": "string"}, {"name": "b", "type": "number"}], "title": "x"}
    new = {"parameters": [{"name": "b", "type": "string"}, {"name": "a", "type": "string"}, {"name": "c"}]}
    changes = diff(old, new)
    assert changes == [
        {"field": "parameters[b].type", "change": "changed", "from": "number", "to": "string"},
        {"field": "parameters[c]", "change": "added", "to": {"name": "c"}},
        {"field": "parameters", "change": "reordered", "from": ["a", "b"], "to": ["b", "a"]},
        {"field": "title", "change": "removed", "from": "x"},
    ]
    assert (
        summarize(changes)
        == "changed parameters[b].type; added parameters[c]; removed title; reordered parameters"
    )
    assert diff(old, old) == []


def test_summaries_stay_one_short_line():
    changes = [{"field": f"f{i}", "change": "changed"} for i in range(10)]
    assert summarize(changes) == "changed f0, f1, f2, f3, f4, f5 and 4 more"
    assert summarize([]) == "no change"


def test_unknown_fields_are_named_with_their_path_and_a_suggestion():
    doc = api_action("x", "http://127.0.0.1/", parameters=[{"name": "a", "descripton": "typo"}])
    doc["config"]["endpont"] = "http://127.0.0.1/"
    doc["config"]["body"] = {"anything": "goes"}
    doc["schedule"] = {"cron": "@daily", "arguments": {"free": 1}, "timezon": "UTC"}
    doc["colour"] = "red"
    fields = {e.field: e.message for e in unknown_fields(doc)}
    assert set(fields) == {"config.endpont", "parameters[0].descripton", "schedule.timezon", "colour"}
    assert "did you mean 'endpoint'" in fields["config.endpont"]
    assert "did you mean 'description'" in fields["parameters[0].descripton"]


# -- services over a real store ------------------------------------------------------------------


async def _create(app, doc, caller=ADMIN):
    return await app.catalog.save_spec(ADMIN.guru, parse_spec(doc), actor=caller.who)


@pytest.mark.anyio
async def test_a_merge_patch_changes_one_nested_field_and_keeps_the_others(app, echo_server):
    doc = api_action(
        "ping",
        echo_server.url + "/ping",
        method="POST",
        timeout=20,
        headers=[{"key": "X-A", "value": "1"}],
        body={"a": 1, "b": 2},
    )
    await _create(app, doc)
    out = await update(app, "default", "ping", {"config": {"timeout": 5, "body": {"b": None, "c": 3}}}, BOB)
    assert out["version"] == 2
    assert out["changes"] == [
        {"field": "config.body.b", "change": "removed", "from": 2},
        {"field": "config.body.c", "change": "added", "to": 3},
        {"field": "config.timeout", "change": "changed", "from": 20.0, "to": 5},
    ]
    config = (await app.catalog.get("default", "ping")).spec.config
    assert (config.method, config.endpoint, config.timeout, config.body) == (
        "POST",
        echo_server.url + "/ping",
        5,
        {"a": 1, "c": 3},
    )
    assert [h.key for h in config.headers] == ["X-A"]
    removed = await update(app, "default", "ping", {"config": {"timeout": None}}, BOB)
    assert removed["changes"] == [{"field": "config.timeout", "change": "removed", "from": 5.0}]


@pytest.mark.anyio
async def test_an_update_refuses_unknown_fields_renames_and_state_and_changes_nothing(app, echo_server):
    await _create(app, api_action("ping", echo_server.url + "/ping", schedule={"cron": "@daily"}))
    with pytest.raises(ValidationFailed) as refused:
        await update(app, "default", "ping", {"config": {"methd": "POST"}, "titel": "x"}, BOB)
    assert {e.field for e in refused.value.errors} == {"changes.config.methd", "changes.titel"}
    with pytest.raises(ValidationFailed, match="renaming is not supported"):
        await update(app, "default", "ping", {"name": "pong"}, BOB)
    with pytest.raises(ValidationFailed, match="admin_action_enable"):
        await update(app, "default", "ping", {"enabled": False}, BOB)
    with pytest.raises(ValidationFailed, match="admin_schedule_pause"):
        await update(app, "default", "ping", {"schedule": {"enabled": False}}, BOB)
    with pytest.raises(ValidationFailed, match=r"config\.endpoint"):
        await update(app, "default", "ping", {"config": {"endpoint": None}}, BOB)
    assert (await app.catalog.get("default", "ping")).version == 1
    assert len((await history(app, "default", "ping"))["versions"]) == 1
    # A whole definition sent back as read (state flags unchanged) is fine.
    definition = (await app.catalog.get("default", "ping")).spec.export()
    assert definition["enabled"] is True and definition["schedule"]["enabled"] is True
    out = await update(app, "default", "ping", {**definition, "title": "Sent back whole"}, BOB)
    assert out["version"] == 2 and [c["field"] for c in out["changes"]] == ["title"]


@pytest.mark.anyio
async def test_a_dry_run_returns_the_diff_and_saves_nothing(app, echo_server):
    await _create(app, api_action("ping", echo_server.url + "/ping"))
    out = await update(app, "default", "ping", {"config": {"method": "DELETE"}}, BOB, dry_run=True)
    assert out["dry_run"] is True and out["would_be_version"] == 2
    assert out["changes"] == [{"field": "config.method", "change": "changed", "from": "GET", "to": "DELETE"}]
    assert (await app.catalog.get("default", "ping")).spec.config.method == "GET"
    needs = await update(app, "default", "ping", {"config": {"endpoint": "{BASE}/x"}}, BOB, dry_run=True)
    assert needs["missing_secrets"] == ["BASE"]


@pytest.mark.anyio
async def test_expected_version_refuses_a_stale_update_and_a_stale_rollback(app, echo_server):
    await _create(app, api_action("ping", echo_server.url + "/ping"))
    await update(app, "default", "ping", {"title": "Two"}, BOB, expected_version=1)
    with pytest.raises(Conflict, match="at version 2, not 1"):
        await update(app, "default", "ping", {"title": "Three"}, BOB, expected_version=1)
    with pytest.raises(Conflict, match="at version 2, not 1"):
        await rollback(app, "default", "ping", 1, BOB, expected_version=1)


@pytest.mark.anyio
async def test_state_changes_make_no_version_but_definition_changes_do_with_who_and_what(app, echo_server):
    doc = api_action("ping", echo_server.url + "/ping", schedule={"cron": "0 9 * * *"})
    await _create(app, doc, ADMIN)
    await app.catalog.set_enabled("default", "ping", False)
    await app.catalog.set_enabled("default", "ping", True)
    from guru_mcp.tools.admin_schedules import ActionArg, _pause, _resume

    await _pause(app, BOB, ActionArg(action="ping"))
    paused = await app.catalog.get("default", "ping")
    assert paused.version == 1 and paused.spec.schedule.enabled is False
    await _resume(app, BOB, ActionArg(action="ping"))
    await update(
        app, "default", "ping", {"title": "Ping", "parameters": [{"name": "n", "type": "number"}]}, BOB
    )
    listing = await history(app, "default", "ping")
    assert listing["version"] == 2
    newest, first = listing["versions"]
    assert (newest["version"], newest["changed_by"], newest["current"]) == (2, "bob@corp.example", True)
    assert newest["summary"] == "changed title; added parameters[n]"
    assert (first["version"], first["changed_by"], first["summary"], first["current"]) == (
        1,
        "ada@corp.example",
        "created",
        False,
    )
    assert newest["created_at"] >= first["created_at"]


@pytest.mark.anyio
async def test_rollback_makes_a_new_version_equal_to_the_old_one_and_keeps_state(app, echo_server):
    await _create(app, api_action("ping", echo_server.url + "/v1", schedule={"cron": "0 9 * * *"}))
    await update(
        app, "default", "ping", {"config": {"endpoint": echo_server.url + "/v2"}, "title": "Two"}, BOB
    )
    await app.catalog.set_enabled("default", "ping", False)
    from guru_mcp.tools.admin_schedules import ActionArg, _pause

    await _pause(app, BOB, ActionArg(action="ping"))
    preview = await rollback(app, "default", "ping", 1, BOB, dry_run=True)
    assert preview["version"] == 2 and {c["field"] for c in preview["changes"]} == {
        "config.endpoint",
        "title",
    }
    out = await rollback(app, "default", "ping", 1, BOB)
    assert out["version"] == 3 and out["rolled_back_to"] == 1
    now = await app.catalog.get("default", "ping")
    assert now.spec.config.endpoint == echo_server.url + "/v1" and now.spec.title == ""
    assert now.enabled is False and now.spec.schedule.enabled is False  # state is not rolled back
    assert (await diff_versions(app, "default", "ping", 1, 3))["changes"] == []
    assert (await diff_versions(app, "default", "ping", 2))["summary"] == "changed title, config.endpoint"
    again = await rollback(app, "default", "ping", 3, BOB)
    assert again["version"] == 3 and "nothing to do" in again["note"]
    assert (await history(app, "default", "ping"))["versions"][0]["summary"].startswith(
        "rollback to version 1"
    )
    with pytest.raises(NotFound, match="has no version 9"):
        await rollback(app, "default", "ping", 9, BOB)


@pytest.mark.anyio
async def test_a_run_keeps_the_config_it_ran_with_even_after_changes_and_deletion(app, echo_server):
    from guru_mcp.versions import run_snapshot

    await _create(app, api_action("ping", echo_server.url + "/v1"))
    first = await app.runs.run("default", "ping", {}, ADMIN, Trigger.TEST)
    await update(app, "default", "ping", {"config": {"endpoint": echo_server.url + "/v2"}}, BOB)
    second = await app.runs.run("default", "ping", {}, ADMIN, Trigger.TEST)
    assert (first.record.action_version, second.record.action_version) == (1, 2)
    await app.catalog.delete("default", "ping")
    old = await run_snapshot(app, await app.store.runs.get_run("default", first.record.id))
    new = await run_snapshot(app, await app.store.runs.get_run("default", second.record.id))
    assert old["config"]["endpoint"].endswith("/v1") and new["config"]["endpoint"].endswith("/v2")
    # A new action of the same name starts its own history; the old runs' snapshots stay theirs.
    await _create(app, api_action("ping", echo_server.url + "/v3"))
    assert [v["version"] for v in (await history(app, "default", "ping"))["versions"]] == [1]
    again = await run_snapshot(app, await app.store.runs.get_run("default", first.record.id))
    assert again["config"]["endpoint"].endswith("/v1")


@pytest.mark.anyio
async def test_an_import_dry_run_reports_field_by_field_changes(app, echo_server):
    await _create(app, api_action("ping", echo_server.url + "/v1"))
    doc = [
        api_action("ping", echo_server.url + "/v2", enabled=False),
        api_action("new_one", echo_server.url + "/n"),
    ]
    report = await import_actions(app.catalog, "default", json.dumps(doc), dry_run=True)
    rows = {r["name"]: r for r in report["actions"]}
    assert rows["new_one"]["change"] == "create" and "changes" not in rows["new_one"]
    assert rows["ping"]["change"] == "update"
    assert rows["ping"]["changes"] == [
        {
            "field": "config.endpoint",
            "change": "changed",
            "from": echo_server.url + "/v1",
            "to": echo_server.url + "/v2",
        },
        {"field": "enabled", "change": "changed", "from": True, "to": False},
    ]
    assert (await app.catalog.get("default", "ping")).version == 1
    applied = await import_actions(app.catalog, "default", json.dumps(doc), actor="importer")
    assert {r["name"]: r["change"] for r in applied["actions"]} == {"ping": "update", "new_one": "create"}
    newest = (await history(app, "default", "ping"))["versions"][0]
    assert (
        newest["changed_by"] == "importer" and newest["summary"] == "import: changed config.endpoint, enabled"
    )
    unchanged = await import_actions(app.catalog, "default", json.dumps(doc), dry_run=True)
    assert {r["change"] for r in unchanged["actions"]} == {"unchanged"}


@pytest.mark.anyio
async def test_upgrading_a_database_gives_existing_actions_their_first_version(tmp_path, echo_server):
    import anyio
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from guru_mcp.store import Store, create_db_engine, migrate
    from guru_mcp.store.db import MIGRATIONS

    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        spec = parse_spec(api_action("old", echo_server.url + "/o")).model_dump_json()
        connection.execute(
            sa.text(
                "INSERT INTO gurus (slug, catalog_version, created_at) VALUES ('default', 3, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO actions (guru_id, name, spec, version, enabled, disabled_reason, created_at, updated_at) "
                "VALUES (1, 'old', :spec, 3, 1, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"spec": spec},
        )
    await anyio.to_thread.run_sync(migrate, engine)
    store = Store(engine)
    action = await store.actions.get_action("default", "old")
    assert (action.version, action.revision) == (3, 3)
    [row] = await store.actions.list_versions("default", action.id)
    assert row.version == 3 and row.summary == "version history starts here"
    saved, _ = await store.actions.save_action(
        "default", parse_spec(api_action("old", echo_server.url + "/new")), enabled=True, actor="ada"
    )
    assert (saved.version, saved.revision) == (4, 4)
    assert [r.version for r in await store.actions.list_versions("default", action.id)] == [4, 3]
    engine.dispose()


@pytest.mark.anyio
async def test_admins_see_history_diff_and_rollback_as_mcp_tools(app, echo_server):
    from tests.conftest import connect

    def data(result):
        assert not result.is_error, result.content[0].text
        return result.structured_content

    async with connect(app, ADMIN) as client:
        data(
            await client.call_tool(
                "admin_action_create", {"action": api_action("ping", echo_server.url + "/v1")}
            )
        )
        patch = {"name": "ping", "changes": {"config": {"endpoint": echo_server.url + "/v2"}}}
        preview = data(await client.call_tool("admin_action_update", {**patch, "dry_run": True}))
        assert preview["would_be_version"] == 2 and preview["changes"][0]["field"] == "config.endpoint"
        assert data(await client.call_tool("admin_action_update", patch))["version"] == 2
        typo = await client.call_tool("admin_action_update", {"name": "ping", "changes": {"confg": {}}})
        assert (
            typo.is_error and "changes.confg: unknown field (did you mean 'config'?)" in typo.content[0].text
        )
        run = data(await client.call_tool("admin_action_test", {"name": "ping", "arguments": {}}))
        versions = data(await client.call_tool("admin_action_history", {"name": "ping"}))["versions"]
        assert [(v["version"], v["changed_by"]) for v in versions] == [(2, ADMIN.email), (1, ADMIN.email)]
        changes = data(await client.call_tool("admin_action_diff", {"name": "ping", "from_version": 1}))[
            "changes"
        ]
        assert changes == [
            {
                "field": "config.endpoint",
                "change": "changed",
                "from": echo_server.url + "/v1",
                "to": echo_server.url + "/v2",
            }
        ]
        assert (
            data(await client.call_tool("admin_action_rollback", {"name": "ping", "version": 1}))["version"]
            == 3
        )
        shown = data(await client.call_tool("admin_run_get", {"run_id": run["run_id"]}))
        assert shown["action_version"] == 2 and shown["config_snapshot"]["config"]["endpoint"].endswith("/v2")
        assert data(await client.call_tool("admin_action_get", {"name": "ping"}))["definition"]["config"][
            "endpoint"
        ].endswith("/v1")


@pytest.mark.anyio
async def test_an_update_right_after_another_process_changed_the_action_sees_that_change(
    settings, echo_server
):
    from guru_mcp.app import open_app

    async with open_app(settings, sandbox=False) as server, open_app(settings, sandbox=False) as cli:
        await _create(server, api_action("ping", echo_server.url + "/v1"))
        await server.catalog.get("default", "ping")  # the server's snapshot holds version 1
        await update(cli, "default", "ping", {"title": "from the CLI"}, BOB)
        out = await update(server, "default", "ping", {"config": {"method": "POST"}}, ADMIN)
        assert (out["version"], out["title"]) == (3, "from the CLI")
        spec = (await server.store.actions.get_action("default", "ping")).spec
        assert (spec.title, spec.config.method) == ("from the CLI", "POST")  # neither change lost
