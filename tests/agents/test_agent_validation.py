"""Agent definitions: tools in the same guru, no cycles, disabled when a tool goes, carried by
export/import, and their model providers configured by admin tools and the CLI."""

from __future__ import annotations

import json

import pytest

from guru_mcp.errors import ValidationFailed
from guru_mcp.models import parse_spec
from guru_mcp.transfer import export_actions, import_actions
from tests.agents.conftest import MODEL_KEY, agent, save, use_provider
from tests.conftest import ADMIN, api_action, connect

pytestmark = pytest.mark.anyio


async def test_an_agent_may_only_list_existing_actions_of_its_own_guru(app, echo_server):
    await save(app, api_action("a", echo_server.url + "/a"))
    with pytest.raises(ValidationFailed, match=r"config.tools\[1\]: no action named 'nope'"):
        await save(app, agent("bot", ["a", "nope"]))
    await app.store.gurus.create_guru("other")
    await app.catalog.save_spec("other", parse_spec(api_action("b", echo_server.url + "/b")))
    with pytest.raises(ValidationFailed, match="no action named 'b'"):
        await save(app, agent("bot", ["b"]))  # `b` lives in another guru
    with pytest.raises(ValidationFailed, match="cannot be its own tool"):
        await save(app, agent("bot", ["bot"]))


async def test_agents_calling_each_other_in_a_cycle_are_refused(app, echo_server, model_server):
    await use_provider(app, "openai", model_server)
    await save(app, api_action("a", echo_server.url + "/a"))
    await save(app, agent("one", ["a"]))
    await save(app, agent("two", ["one"]))
    with pytest.raises(ValidationFailed, match="cycle: one -> two -> one"):
        await save(app, agent("one", ["a", "two"]))
    assert (await app.catalog.get("default", "one")).spec.config.tools == ["a"]


async def test_limits_and_schema_are_checked_when_the_agent_is_defined():
    base = agent("bot", ["a"])
    for change, field in [
        ({"max_tool_calls": 0}, "config.max_tool_calls"),
        ({"max_tool_calls": 101}, "config.max_tool_calls"),
        ({"max_depth": 11}, "config.max_depth"),
        ({"output_schema": {"type": "nope"}}, "config.output_schema"),
        ({"tools": []}, "config.tools"),
        ({"system_prompt": " "}, "config.system_prompt"),
    ]:
        with pytest.raises(ValidationFailed) as err:
            parse_spec({**base, "config": {**base["config"], **change}})
        assert field in [e.field for e in err.value.errors], (change, err.value)
    spec = parse_spec(base)
    assert spec.config.max_tool_calls == 10 and spec.config.max_depth == 5


async def test_deleting_a_tool_disables_the_agents_using_it_and_says_which(app, echo_server, model_server):
    await use_provider(app, "openai", model_server)
    await save(app, api_action("a", echo_server.url + "/a"))
    await save(app, api_action("b", echo_server.url + "/b"))
    await save(app, agent("uses_a", ["a", "b"]))
    await save(app, agent("uses_b", ["b"]))
    async with connect(app, ADMIN) as admin:
        result = await admin.call_tool("admin_action_delete", {"name": "a"})
        listed = {t.name for t in (await admin.list_tools()).tools}
    assert result.structured_content["disabled_agents"] == ["uses_a"]
    assert "uses_a" in result.content[0].text
    stored = await app.catalog.get("default", "uses_a")
    assert not stored.enabled and stored.disabled_reason == "its tool a was deleted"
    assert (await app.catalog.get("default", "uses_b")).enabled
    assert "uses_a" not in listed and "uses_b" in listed


async def test_an_agent_without_its_provider_is_stored_disabled_until_one_is_set(
    app, echo_server, model_server
):
    await save(app, api_action("a", echo_server.url + "/a"))
    saved = await save(app, agent("bot", ["a"]))
    assert not saved.action.enabled
    assert "model provider 'default' is not configured" in saved.action.disabled_reason
    async with connect(app, ADMIN) as admin:
        refused = await admin.call_tool("admin_action_enable", {"name": "bot"})
        assert refused.is_error and "not configured" in refused.content[0].text
        set_ = await admin.call_tool(
            "admin_provider_set",
            {
                "kind": "openai",
                "base_url": model_server.url + "/v1",
                "model": "m",
                "api_key": MODEL_KEY,
            },
        )
        assert not set_.is_error, set_.content[0].text
        assert "bot" in set_.structured_content["note"]
        assert MODEL_KEY not in set_.content[0].text
        enabled = await admin.call_tool("admin_action_enable", {"name": "bot"})
        assert not enabled.is_error, enabled.content[0].text
        listing = await admin.call_tool("admin_providers_list", {})
        secrets = await admin.call_tool("admin_secrets_list", {})
        bad = await admin.call_tool("admin_provider_set", {"kind": "openai", "model": "m"})
    row = listing.structured_content["providers"][0]
    assert row["api_key_secret"] == "DEFAULT_MODEL_API_KEY" and row["used_by"] == ["bot"]
    assert MODEL_KEY not in json.dumps(listing.structured_content)
    assert "DEFAULT_MODEL_API_KEY" in [s["name"] for s in secrets.structured_content["secrets"]]
    assert bad.is_error and "base_url" in bad.content[0].text


async def test_export_and_import_carry_agents_with_their_tools_in_any_order(app, echo_server, model_server):
    await use_provider(app, "openai", model_server)
    await save(app, api_action("a", echo_server.url + "/a"))
    await save(app, agent("inner", ["a"], max_tool_calls=4, output_schema={"type": "object"}))
    await save(app, agent("outer", ["inner", "a"], max_depth=2))
    exported = await export_actions(app.catalog, "default")
    outer = next(a for a in exported if a["name"] == "outer")
    assert outer["action_type"] == "AGENT" and outer["config"]["tools"] == ["inner", "a"]
    document = json.dumps(list(reversed(exported)))  # agents before their tools
    # Into another guru of the same server: an empty catalog without model providers.
    await app.store.gurus.create_guru("fresh")
    report = await import_actions(app.catalog, "fresh", document)
    assert [r["change"] for r in report["actions"]] == ["create"] * 3
    names = [r["name"] for r in report["actions"]]
    assert names.index("a") < names.index("inner") < names.index("outer")
    assert all("not configured" in r["disabled_reason"] for r in report["actions"] if r["name"] != "a")
    inner = await app.catalog.get("fresh", "inner")
    assert inner.spec.config.max_tool_calls == 4 and inner.spec.config.output_schema == {"type": "object"}
    cycle = [
        {**outer, "config": {**outer["config"], "tools": ["ping"]}},
        {**outer, "name": "ping", "config": {**outer["config"], "tools": ["outer"]}},
    ]
    with pytest.raises(ValidationFailed, match="nothing was changed") as refused:
        await import_actions(app.catalog, "fresh", json.dumps(cycle))
    assert "cycle" in str(refused.value)
    assert (await app.catalog.get("fresh", "outer")).spec.config.tools == ["inner", "a"]
