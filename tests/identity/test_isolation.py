"""Gurus are isolated: an admin of one guru reaches nothing of another through any admin tool or the
action path; group-scoped actions are hidden from, and uncallable by, callers outside the groups."""

from __future__ import annotations

import json

import pytest
from mcp.shared.exceptions import MCPError

from guru_mcp.models import Caller, Trigger, parse_spec
from guru_mcp.tools.admin import all_admin_tools
from guru_mcp.tools.admin_access import create_guru
from tests.conftest import api_action, connect

pytestmark = pytest.mark.anyio

HOME_SECRET = "home-secret-value-123"
ACME_ADMIN = Caller(key="acme-admin", email="ann@acme.example", is_admin=True, guru="acme", via="token")
HOME_ADMIN = Caller(key="home-admin", email="ada@corp.example", is_admin=True, guru="default", via="token")


def text(result) -> str:
    return "\n".join(c.text for c in result.content)


async def populate_home(app, echo_server) -> dict:
    """The default guru's things another guru must not reach."""
    await app.vault.put("default", "HOME_TOKEN", HOME_SECRET)
    spec = api_action(
        "home_action",
        echo_server.url + "/home",
        headers=[{"key": "X-Token", "value": "{HOME_TOKEN}"}],
        schedule={"cron": "0 9 * * *"},
    )
    await app.catalog.save_spec("default", parse_spec(spec))
    outcome = await app.runs.run("default", "home_action", {}, HOME_ADMIN, Trigger.TEST)
    token_id = await app.store.tokens.create_token(
        "gmcp_home_token_value", guru="default", label="home", is_admin=True
    )
    async with connect(app, HOME_ADMIN) as client:
        made = await client.call_tool("admin_provider_set", {"name": "homeprov", "kind": "sampling"})
        assert not made.is_error, text(made)
    return {"run_id": outcome.record.id, "token_id": token_id}


def calls(home: dict) -> dict[str, dict]:
    """One call per admin tool, each naming the default guru's things."""
    return {
        "admin_actions_list": {},
        "admin_action_get": {"name": "home_action"},
        "admin_action_create": {"action": api_action("acme_action", "https://example.com/a")},
        "admin_action_update": {"name": "home_action", "changes": {"title": "pwned"}},
        "admin_action_history": {"name": "home_action"},
        "admin_action_diff": {"name": "home_action", "from_version": 1, "to_version": 1},
        "admin_action_rollback": {"name": "home_action", "version": 1},
        "admin_action_delete": {"name": "home_action"},
        "admin_action_enable": {"name": "home_action"},
        "admin_action_disable": {"name": "home_action"},
        "admin_action_test": {"name": "home_action"},
        "admin_action_trigger": {"name": "home_action"},
        "admin_import": {"document": [api_action("imported", "https://example.com/i")], "dry_run": True},
        "admin_export": {},
        "admin_secret_set": {"name": "ACME_TOKEN", "value": "acme-secret-value"},
        "admin_secrets_list": {},
        "admin_secret_delete": {"name": "HOME_TOKEN"},
        "admin_runs_list": {},
        "admin_run_get": {"run_id": home["run_id"]},
        "admin_action_stats": {},
        "admin_sandbox_status": {},
        "admin_schedule_set": {"action": "home_action", "cron": "* * * * *"},
        "admin_schedule_pause": {"action": "home_action"},
        "admin_schedule_resume": {"action": "home_action"},
        "admin_schedule_clear": {"action": "home_action"},
        "admin_schedules_list": {},
        "admin_tokens_list": {"include_revoked": True},
        "admin_token_revoke": {"id": home["token_id"]},
        "admin_providers_list": {},
        "admin_provider_set": {"name": "acmeprov", "kind": "sampling"},
        "admin_provider_delete": {"name": "homeprov"},
    }


async def test_an_admin_of_another_guru_reaches_nothing_of_this_one_through_any_admin_tool(app, echo_server):
    await create_guru(app, "acme")
    home = await populate_home(app, echo_server)
    before = await app.catalog.get("default", "home_action")
    tools = calls(home)
    server_only = {t.name for t in all_admin_tools() if t.server_only}
    assert set(tools) | server_only == {t.name for t in all_admin_tools()}, "every admin tool is tried"
    async with connect(app, ACME_ADMIN) as client:
        for name, arguments in tools.items():
            result = await client.call_tool(name, arguments)
            out = text(result)
            for leaked in (HOME_SECRET, home["run_id"], "home_token_value", echo_server.url):
                if leaked not in json.dumps(arguments):  # an error may repeat what was asked for
                    assert leaked not in out, (name, out)
            if name in (
                "admin_actions_list",
                "admin_export",
                "admin_secrets_list",
                "admin_runs_list",
                "admin_action_stats",
                "admin_schedules_list",
                "admin_tokens_list",
                "admin_providers_list",
            ):
                assert not result.is_error, (name, out)
                assert "home_action" not in out and "HOME_TOKEN" not in out and '"home"' not in out, (
                    name,
                    out,
                )
                assert "homeprov" not in out, (name, out)
            elif name in (
                "admin_action_create",
                "admin_import",
                "admin_secret_set",
                "admin_sandbox_status",
                "admin_provider_set",
            ):
                assert not result.is_error, (name, out)  # acts on acme only (checked below)
            else:
                assert result.is_error and "no " in out, (name, out)
        for name in server_only:
            with pytest.raises(MCPError, match="Unknown tool"):
                await client.call_tool(name, {"slug": "default", "confirm": "default"})
        with pytest.raises(MCPError, match="Unknown tool"):
            await client.call_tool("home_action", {})
        assert "home_action" not in {t.name for t in (await client.list_tools()).tools}
    after = await app.catalog.get("default", "home_action")
    assert (after.version, after.enabled, after.spec.title) == (
        before.version,
        before.enabled,
        before.spec.title,
    )
    assert after.spec.schedule is not None
    assert [s["name"] for s in await app.vault.list_secrets("default")] == ["HOME_TOKEN"]
    assert [t.id for t in await app.store.tokens.list_tokens("default")] == [home["token_id"]]
    assert {a.name for a in await app.catalog.list_actions("acme")} == {"acme_action"}
    assert [s["name"] for s in await app.vault.list_secrets("acme")] == ["ACME_TOKEN"]
    acme_runs = await app.store.runs.list_runs("acme")
    assert acme_runs == []


async def test_a_server_admin_manages_gurus_and_a_deleted_guru_leaves_nothing(app, echo_server):
    server_admin = HOME_ADMIN.model_copy(update={"server_admin": True})
    async with connect(app, server_admin) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"admin_gurus_list", "admin_guru_create", "admin_guru_delete"} <= names
        created = await client.call_tool("admin_guru_create", {"slug": "acme"})
        assert not created.is_error and created.structured_content["endpoint"] == "/g/acme/mcp"
        bad = await client.call_tool("admin_guru_create", {"slug": "Not A Slug"})
        assert bad.is_error and "not valid" in text(bad)
        await app.vault.put("acme", "ACME_TOKEN", "acme-secret-value")
        await app.catalog.save_spec("acme", parse_spec(api_action("a1", echo_server.url + "/a")))
        await app.store.tokens.create_token("gmcp_acme_token", guru="acme", label="acme", is_admin=False)
        listed = {
            g["slug"]: g for g in (await client.call_tool("admin_gurus_list", {})).structured_content["gurus"]
        }
        assert (
            listed["acme"]["actions"] == 1
            and listed["acme"]["secrets"] == 1
            and listed["acme"]["tokens"] == 1
        )
        refused = await client.call_tool("admin_guru_delete", {"slug": "acme", "confirm": "acme!"})
        assert refused.is_error
        default = await client.call_tool("admin_guru_delete", {"slug": "default", "confirm": "default"})
        assert default.is_error and "default guru" in text(default)
        deleted = await client.call_tool("admin_guru_delete", {"slug": "acme", "confirm": "acme"})
        assert not deleted.is_error, text(deleted)
        assert deleted.structured_content["actions"] == 1 and deleted.structured_content["tokens"] == 1
    assert [g.slug for g in await app.store.gurus.summaries()] == ["default"]
    assert await app.store.tokens.find_token("gmcp_acme_token") is None


async def test_group_scoped_actions_are_listed_and_callable_only_for_their_groups(app, echo_server):
    for name, groups in (
        ("open_to_all", None),
        ("support_only", ["support"]),
        ("billing_or_support", ["billing", "support"]),
    ):
        spec = api_action(name, echo_server.url + f"/{name}", **({"groups": groups} if groups else {}))
        await app.catalog.save_spec("default", parse_spec(spec))
    support = Caller(key="user:sue", email="sue@corp.example", groups=("support",))
    billing = Caller(key="user:bill", email="bill@corp.example", groups=("billing",))
    nobody = Caller(key="user:nat", email="nat@corp.example")
    expected = {
        support: {"open_to_all", "support_only", "billing_or_support"},
        billing: {"open_to_all", "billing_or_support"},
        nobody: {"open_to_all"},
    }
    for caller, visible in expected.items():
        async with connect(app, caller) as client:
            assert {t.name for t in (await client.list_tools()).tools} == visible, caller.email
            for name in {"open_to_all", "support_only", "billing_or_support"} - visible:
                with pytest.raises(MCPError, match="Unknown tool"):
                    await client.call_tool(name, {})
            for name in visible:
                assert not (await client.call_tool(name, {})).is_error
    denied = await app.store.runs.list_runs("default", status="denied")
    assert sorted((r.action_name, r.caller["email"]) for r in denied) == [
        ("billing_or_support", "nat@corp.example"),
        ("support_only", "bill@corp.example"),
        ("support_only", "nat@corp.example"),
    ]


async def test_groups_are_exported_and_imported_and_checked(app):
    from guru_mcp.errors import ValidationFailed
    from guru_mcp.transfer import export_actions, import_actions

    doc = [
        api_action("scoped", "https://example.com/s", groups=["support", "billing"]),
        api_action("open", "https://example.com/o"),
    ]
    await import_actions(app.catalog, "default", json.dumps(doc))
    exported = {a["name"]: a for a in await export_actions(app.catalog, "default")}
    assert exported["scoped"]["groups"] == ["billing", "support"]
    assert "groups" not in exported["open"]
    with pytest.raises(ValidationFailed, match="groups"):
        parse_spec(api_action("bad", "https://example.com/b", groups=["a,b"]))
