"""The real server as a subprocess, through the `mcp` SDK client, over stdio and Streamable HTTP."""

import json

import anyio
import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import api_action
from tests.e2e.conftest import GURU, cli

MODES = ["legacy", "2026-07-28"]


def is_list_changed(message) -> bool:
    return isinstance(message, types.ToolListChangedNotification)


async def expect_list_changed(client: Client, mode: str, change, notified: anyio.Event) -> None:
    """Make `change` happen and wait for the client to hear about it, in either protocol generation."""
    if mode == "legacy":
        await change()
        with anyio.fail_after(10):
            await notified.wait()
        return
    async with client.listen(tools_list_changed=True) as subscription:
        await change()
        with anyio.fail_after(10):
            async for event in subscription:
                assert type(event).__name__ == "ToolsListChanged"
                break


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_stdio_clients_list_call_and_hear_about_changes(cli_env, echo_server, mode):
    notified = anyio.Event()

    async def on_message(message):
        if is_list_changed(message):
            notified.set()

    params = StdioServerParameters(command=GURU, args=["serve", "--admin"], env=cli_env)
    async with Client(params, mode=mode, message_handler=on_message) as client:
        if mode == "legacy":
            assert client.server_capabilities.tools.list_changed is True
        names = [t.name for t in (await client.list_tools()).tools]
        assert "admin_action_create" in names

        async def create():
            action = api_action("whoami", echo_server.url + "/me?email={GURUBASE_USER_EMAIL}")
            result = await client.call_tool("admin_action_create", {"action": action})
            assert not result.is_error, result.content[0].text

        await expect_list_changed(client, mode, create, notified)
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["whoami"].annotations.read_only_hint is True
        result = await client.call_tool("whoami", {})
        assert not result.is_error, result.content[0].text
        assert echo_server.last()["query"] == {"email": "sam@corp.example"}
        assert json.loads(result.content[0].text)["status_code"] == 200


@pytest.mark.anyio
async def test_stdio_without_admin_flag_hides_admin_tools(cli_env):
    params = StdioServerParameters(command=GURU, args=["serve"], env=cli_env)
    async with Client(params) as client:
        assert not [t for t in (await client.list_tools()).tools if t.name.startswith("admin_")]
        with pytest.raises(MCPError, match="Unknown tool"):
            await client.call_tool("admin_actions_list", {})


def http_client(server, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.AsyncClient(headers=headers, timeout=30)


def test_http_refuses_requests_without_a_valid_token(module_http_server):
    http_server = module_http_server
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {http_server.admin_token}"},
    ):
        response = httpx.post(
            http_server.url,
            headers={
                **headers,
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
            },
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_http_admins_and_users_see_what_they_should_and_hear_about_changes(
    module_http_server, echo_server, mode
):
    http_server = module_http_server  # shared: each mode creates and calls an action of its own
    notified = anyio.Event()

    async def on_message(message):
        if is_list_changed(message):
            notified.set()

    async with (
        http_client(http_server, http_server.user_token) as user_http,
        http_client(http_server, http_server.admin_token) as admin_http,
    ):
        user_transport = streamable_http_client(http_server.url, http_client=user_http)
        admin_transport = streamable_http_client(http_server.url, http_client=admin_http)
        async with (
            Client(user_transport, mode=mode, message_handler=on_message) as user,
            Client(admin_transport, mode=mode) as admin,
        ):
            if mode == "legacy":
                assert user.server_capabilities.tools.list_changed is True
            user_tools = [t.name for t in (await user.list_tools()).tools]
            assert not [n for n in user_tools if n.startswith("admin_")]
            with pytest.raises(MCPError, match="Unknown tool"):
                await user.call_tool("admin_secrets_list", {})

            async def create():
                action = api_action(
                    f"hello_{mode[:6].replace('-', '_')}",
                    echo_server.url + "/hi?u={GURUBASE_USER_EMAIL}&g={GURUBASE_USER_GROUPS}",
                )
                result = await admin.call_tool("admin_action_create", {"action": action})
                assert not result.is_error, result.content[0].text

            await expect_list_changed(user, mode, create, notified)
            name = f"hello_{mode[:6].replace('-', '_')}"
            assert name in [t.name for t in (await user.list_tools()).tools]
            result = await user.call_tool(name, {})
            assert not result.is_error, result.content[0].text
            assert echo_server.last()["query"] == {"u": "alex@corp.example", "g": "hr"}
            runs = await admin.call_tool("admin_runs_list", {"action": name})
            assert runs.structured_content["runs"][0]["caller"]["email"] == "alex@corp.example"


def test_the_cli_imports_exports_and_keeps_secret_values_to_itself(cli_env, tmp_path):
    cli(cli_env, "init")
    secret = "hr-token-abcdefgh"
    for name, value in {"HR_API_URL": "https://hr.example.com", "HR_API_TOKEN": secret}.items():
        out = cli(cli_env, "secrets", "set", name, stdin=value + "\n")
        assert "created secret" in out.stdout
    dry = cli(cli_env, "actions", "import", "--dry-run", "actions/submit_pto_request.json")
    assert "create" in dry.stdout and "dry run" in dry.stdout
    assert "no actions" in cli(cli_env, "actions", "list").stdout
    cli(cli_env, "actions", "import", "actions/submit_pto_request.json", "actions/notify_manager.json")
    listing = cli(cli_env, "actions", "list").stdout
    assert "enabled   submit_pto_request" in listing
    assert "disabled  notify_manager" in listing and "CHAT_API_URL" in listing
    secrets = cli(cli_env, "secrets", "list").stdout
    assert "HR_API_TOKEN" in secrets and secret not in secrets and "submit_pto_request" in secrets
    out = tmp_path / "export.json"
    cli(cli_env, "actions", "export", "-o", str(out))
    exported = json.loads(out.read_text())
    assert {a["name"] for a in exported} == {"submit_pto_request", "notify_manager"}
    assert secret not in out.read_text()
    deleted = cli(cli_env, "secrets", "delete", "HR_API_TOKEN")
    assert "disabled: submit_pto_request" in deleted.stdout
    bad = cli(cli_env, "actions", "import", "README.md", check=False)
    assert bad.returncode == 4 and "not valid JSON" in bad.stderr  # refused
    argv = cli(cli_env, "secrets", "set", "X_TOKEN", "value-on-argv", check=False)
    assert argv.returncode == 2  # usage: a value never comes on the command line
    assert cli(cli_env, "runs", "list").returncode == 0


@pytest.mark.anyio
async def test_stdio_carries_messages_far_larger_than_a_pipe_buffer(cli_env, echo_server):
    params = StdioServerParameters(command=GURU, args=["serve", "--admin"], env=cli_env)
    long_text = "Use it wisely. " * 20_000  # ~300 kB in one JSON-RPC line each way
    async with Client(params) as client:
        action = api_action("wordy", echo_server.url + "/w", instructions=long_text)
        created = await client.call_tool("admin_action_create", {"action": action})
        assert not created.is_error, created.content[0].text
        tool = next(t for t in (await client.list_tools()).tools if t.name == "wordy")
    assert long_text.strip() in tool.description
