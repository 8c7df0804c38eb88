"""Admin tools over MCP: visibility, management, secrets, runs, statistics, change notifications."""

import json

import anyio
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import ADMIN, USER, api_action, connect


def data(result):
    assert not result.is_error, result.content[0].text
    return result.structured_content


@pytest.mark.anyio
async def test_admin_tools_are_invisible_and_uncallable_for_other_callers(app):
    async with connect(app, USER) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert not [n for n in names if n.startswith("admin_")]
        with pytest.raises(MCPError, match="Unknown tool"):
            await client.call_tool("admin_secrets_list", {})
    async with connect(app, ADMIN) as client:
        admin = {t.name: t for t in (await client.list_tools()).tools}
    assert {"admin_action_create", "admin_secret_set", "admin_runs_list", "admin_action_stats"} <= set(admin)
    assert admin["admin_action_delete"].annotations.destructive_hint is True
    assert admin["admin_secret_delete"].annotations.destructive_hint is True
    assert admin["admin_runs_list"].annotations.read_only_hint is True


@pytest.mark.anyio
async def test_an_admin_manages_an_action_through_its_whole_life(app, echo_server):
    action = api_action("ping", echo_server.url + "/ping", parameters=[{"name": "n", "type": "number"}])
    async with connect(app, ADMIN) as client:
        created = data(await client.call_tool("admin_action_create", {"action": action}))
        assert created["version"] == 1 and created["enabled"]
        again = await client.call_tool("admin_action_create", {"action": action})
        assert again.is_error and "exists already" in again.content[0].text
        updated = data(
            await client.call_tool("admin_action_update", {"name": "ping", "changes": {"title": "Ping it"}})
        )
        assert updated["version"] == 2 and updated["title"] == "Ping it"
        stale = await client.call_tool(
            "admin_action_update", {"name": "ping", "changes": {"title": "x"}, "expected_version": 1}
        )
        assert stale.is_error and "not 1" in stale.content[0].text
        assert data(await client.call_tool("admin_action_disable", {"name": "ping"}))["enabled"] is False
        assert "ping" not in [t.name for t in (await client.list_tools()).tools]
        tested = data(await client.call_tool("admin_action_test", {"name": "ping", "arguments": {"n": 2}}))
        assert tested["status"] == "ok"
        assert data(await client.call_tool("admin_action_enable", {"name": "ping"}))["enabled"] is True
        triggered = data(await client.call_tool("admin_action_trigger", {"name": "ping", "arguments": {}}))
        runs = data(await client.call_tool("admin_runs_list", {"action": "ping"}))["runs"]
        assert [r["trigger"] for r in runs] == ["manual", "test"]
        one = data(await client.call_tool("admin_run_get", {"run_id": triggered["run_id"]}))
        assert one["status"] == "ok" and one["action_version"] == 2  # enable/disable are state, not versions
        assert one["config_snapshot"]["title"] == "Ping it"
        stats = data(await client.call_tool("admin_action_stats", {"name": "ping"}))["stats"][0]
        assert stats["runs"] == 2 and stats["error_rate"] == 0 and stats["p50_ms"] is not None
        exported = data(await client.call_tool("admin_export", {"names": ["ping"]}))["actions"][0]
        assert exported["title"] == "Ping it" and exported["config"]["endpoint"].endswith("/ping")
        bad = await client.call_tool(
            "admin_action_update", {"name": "ping", "changes": {"config": {"endpoint": "nope"}}}
        )
        assert bad.is_error and "config.endpoint" in bad.content[0].text
        assert data(await client.call_tool("admin_action_delete", {"name": "ping"}))["deleted"] == "ping"
        missing = await client.call_tool("admin_action_get", {"name": "ping"})
        assert missing.is_error and "no action named 'ping'" in missing.content[0].text


@pytest.mark.anyio
async def test_secret_values_never_come_back_and_deleting_one_disables_its_users(app, echo_server):
    value = "tok_abcdefgh12345678"
    action = api_action(
        "auth", echo_server.url + "/a", headers=[{"key": "Authorization", "value": "Bearer {TOKEN}"}]
    )
    async with connect(app, ADMIN) as client:
        short = await client.call_tool("admin_secret_set", {"name": "TOKEN", "value": "short"})
        assert short.is_error and "at least 8" in short.content[0].text
        reserved = await client.call_tool("admin_secret_set", {"name": "GURUBASE_USER_EMAIL", "value": value})
        assert reserved.is_error and "reserved" in reserved.content[0].text
        data(await client.call_tool("admin_secret_set", {"name": "TOKEN", "value": value}))
        data(await client.call_tool("admin_action_create", {"action": action}))
        listing = await client.call_tool("admin_secrets_list", {})
        assert value not in listing.content[0].text
        assert data(listing)["secrets"][0]["used_by"] == ["auth"]
        got = await client.call_tool("admin_action_get", {"name": "auth"})
        assert value not in json.dumps(got.structured_content)
        deleted = data(await client.call_tool("admin_secret_delete", {"name": "TOKEN"}))
        assert deleted["disabled_actions"] == ["auth"]
        assert "auth" not in [t.name for t in (await client.list_tools()).tools]
        refused = await client.call_tool("admin_action_enable", {"name": "auth"})
        assert refused.is_error and "TOKEN" in refused.content[0].text


@pytest.mark.anyio
async def test_a_parameter_may_not_share_its_name_with_a_secret(app):
    async with connect(app, ADMIN) as client:
        data(await client.call_tool("admin_secret_set", {"name": "CITY", "value": "12345678"}))
        result = await client.call_tool(
            "admin_action_create",
            {"action": api_action("w", "https://w.example/{CITY}", parameters=[{"name": "CITY"}])},
        )
    assert result.is_error and "same name as a secret" in result.content[0].text


@pytest.mark.anyio
async def test_invalid_admin_arguments_are_explained(app):
    async with connect(app, ADMIN) as client:
        result = await client.call_tool("admin_runs_list", {"limit": 0})
    assert result.is_error and "limit" in result.content[0].text


@pytest.mark.anyio
async def test_handshake_era_clients_are_told_when_the_tool_list_changes(app, echo_server):
    changed = anyio.Event()

    async def on_message(message):
        if (
            isinstance(message, types.ToolListChangedNotification)
            or getattr(getattr(message, "root", None), "method", "") == "notifications/tools/list_changed"
        ):
            changed.set()

    async with connect(app, USER, mode="legacy", on_message=on_message) as watcher:
        await watcher.list_tools()
        async with connect(app, ADMIN) as admin:
            data(
                await admin.call_tool(
                    "admin_action_create", {"action": api_action("fresh", echo_server.url + "/f")}
                )
            )
        with anyio.fail_after(5):
            await changed.wait()
        assert "fresh" in [t.name for t in (await watcher.list_tools()).tools]


@pytest.mark.anyio
async def test_subscribed_2026_clients_are_told_when_the_tool_list_changes(app, echo_server):
    async with connect(app, USER, mode="2026-07-28") as watcher:
        async with watcher.listen(tools_list_changed=True) as subscription:
            async with connect(app, ADMIN) as admin:
                data(
                    await admin.call_tool(
                        "admin_action_create", {"action": api_action("newer", echo_server.url + "/n")}
                    )
                )
            with anyio.fail_after(5):
                async for event in subscription:
                    assert type(event).__name__ == "ToolsListChanged"
                    break
        assert "newer" in [t.name for t in (await watcher.list_tools()).tools]


@pytest.mark.anyio
async def test_changes_made_by_another_process_reach_the_catalog(app, settings, echo_server):
    from guru_mcp.app import open_app
    from guru_mcp.models import parse_spec

    await app.catalog.snapshot("default")
    seen = anyio.Event()
    app.catalog.add_listener(lambda guru: seen.set())
    async with open_app(settings, background=False, sandbox=False) as other:
        await other.catalog.save_spec("default", parse_spec(api_action("elsewhere", echo_server.url + "/e")))
    with anyio.fail_after(5):
        await seen.wait()
    assert "elsewhere" in (await app.catalog.snapshot("default")).entries


@pytest.mark.anyio
async def test_a_new_snapshot_reuses_unchanged_actions_and_rereads_changed_ones(app, echo_server):
    from guru_mcp.models import parse_spec

    for name in ("one", "two"):
        await app.catalog.save_spec("default", parse_spec(api_action(name, echo_server.url + f"/{name}")))
    before = await app.catalog.snapshot("default")
    await app.catalog.save_spec(
        "default", parse_spec(api_action("two", echo_server.url + "/two", parameters=[{"name": "x"}]))
    )
    after = await app.catalog.snapshot("default")
    assert after.version > before.version
    assert after.entries["one"] is before.entries["one"]
    assert after.entries["two"] is not before.entries["two"]
    assert [p.name for p in after.entries["two"].stored.spec.parameters] == ["x"]
    await app.catalog.delete("default", "one")
    assert set((await app.catalog.snapshot("default")).entries) == {"two"}
