"""An import saves its actions in one transaction (`Store.save_actions`): all of them or none, even
when the database refuses one of them after the others were written."""

from __future__ import annotations

import json

import pytest

from guru_mcp.errors import ValidationFailed
from guru_mcp.models import parse_spec
from guru_mcp.store.actions import ActionSave
from guru_mcp.transfer import import_actions
from tests.conftest import api_action

pytestmark = pytest.mark.anyio


async def test_a_batch_the_database_refuses_part_of_leaves_nothing_behind(app, echo_server):
    first, second = (parse_spec(api_action(n, echo_server.url + "/" + n)) for n in ("first", "second"))
    version = await app.store.gurus.catalog_version("default")
    with pytest.raises(Exception, match=r"(?i)unique"):  # the third repeats the first: refused by the index
        await app.store.actions.save_actions(
            "default", [ActionSave(first, True), ActionSave(second, True), ActionSave(first, True)]
        )
    assert await app.store.actions.list_actions("default") == []
    assert await app.store.gurus.catalog_version("default") == version


async def test_an_import_writes_every_action_with_its_first_version_in_one_catalog_change(app, echo_server):
    version = await app.store.gurus.catalog_version("default")
    document = [api_action(f"a{i}", f"{echo_server.url}/{i}") for i in range(30)]
    report = await import_actions(app.catalog, "default", json.dumps(document), actor="ada")
    assert [row["change"] for row in report["actions"]] == ["create"] * 30
    assert [row["version"] for row in report["actions"]] == [1] * 30
    stored = await app.store.actions.list_actions("default")
    assert sorted(a.name for a in stored) == sorted(f"a{i}" for i in range(30))
    assert await app.store.gurus.catalog_version("default") == version + 1
    [first] = await app.store.actions.list_versions("default", next(a.id for a in stored if a.name == "a0"))
    assert (first.version, first.summary) == (1, "created")
    again = await import_actions(app.catalog, "default", json.dumps(document), actor="ada")
    assert {row["change"] for row in again["actions"]} == {"unchanged"}
    assert await app.store.gurus.catalog_version("default") == version + 1


async def test_each_new_action_of_a_batch_has_its_own_first_version_and_the_updates_theirs(app, echo_server):
    """New actions are written in bulk and existing ones one by one: every row still gets its own
    version, and the report keeps the document's order."""
    await import_actions(app.catalog, "default", json.dumps([api_action("b1", echo_server.url + "/old")]))
    document = [api_action(f"a{i}", f"{echo_server.url}/{i}") for i in range(5)]
    document.insert(2, api_action("b1", echo_server.url + "/new"))
    report = await import_actions(app.catalog, "default", json.dumps(document), actor="ada")
    assert [(row["name"], row["change"], row["version"]) for row in report["actions"]] == [
        ("a0", "create", 1),
        ("a1", "create", 1),
        ("b1", "update", 2),
        ("a2", "create", 1),
        ("a3", "create", 1),
        ("a4", "create", 1),
    ]
    for action in await app.store.actions.list_actions("default"):
        versions = await app.store.actions.list_versions("default", action.id)
        assert sorted(v.version for v in versions) == list(range(1, action.version + 1))
        latest = await app.store.actions.get_version("default", action.id, action.version)
        assert latest is not None
        assert latest.action_name == action.name and latest.spec == action.spec
        assert (action.revision, action.enabled) == (action.version, True)


async def test_a_parsed_document_imports_as_its_json_text_does(app, echo_server):
    """The CLI hands over the documents it has parsed already; the MCP tool may get either form."""
    actions = [api_action(f"p{i}", f"{echo_server.url}/{i}") for i in range(3)]
    for document in (actions, {"actions": actions}, actions[0]):
        from_text = await import_actions(app.catalog, "default", json.dumps(document), dry_run=True)
        parsed = await import_actions(app.catalog, "default", document, dry_run=True)
        assert parsed == from_text and from_text["actions"]
    for bad in ([], [5], 5, None, [actions[0], "x"]):
        with pytest.raises(ValidationFailed) as from_text:
            await import_actions(app.catalog, "default", json.dumps(bad))
        with pytest.raises(ValidationFailed) as parsed:
            await import_actions(app.catalog, "default", bad)
        assert str(parsed.value) == str(from_text.value)
    assert await app.store.actions.list_actions("default") == []
