"""config.toml in the home: written by `init`, read by every command and transport, under the environment."""

from __future__ import annotations

import json
import subprocess
import sys

import anyio
import anyio.to_thread
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from guru_mcp.config_file import load_settings
from guru_mcp.errors import ConfigError
from tests.conftest import TEST_KEY, api_action
from tests.e2e.conftest import GURU, cli, free_port
from tests.support.polling import wait_for


@pytest.fixture
def bare_env(cli_env) -> dict[str, str]:
    """The CLI environment without the egress allow-list: what a desktop client's launch looks like."""
    env = dict(cli_env)
    del env["GURU_MCP_EGRESS_ALLOW"]
    return env


def test_init_writes_a_commented_config_file_and_config_set_keeps_the_comments(bare_env, tmp_path):
    cli(bare_env, "init")
    path = tmp_path / "home" / "config.toml"
    assert path.read_text().startswith("# guru-mcp configuration")
    said = cli(bare_env, "config", "set", "egress_allow", "127.0.0.1,10.0.0.0/8")
    assert "restart running servers" in said.stdout
    text = path.read_text()
    assert (
        text.startswith("# guru-mcp configuration") and 'egress_allow = ["127.0.0.1", "10.0.0.0/8"]' in text
    )
    cli(bare_env, "config", "set", "sandbox_pool_size", "4")
    assert "sandbox_pool_size = 4" in path.read_text()
    assert load_settings(bare_env).sandbox_pool_size == 4
    # a second init keeps the file as it is
    cli(bare_env, "init")
    assert "sandbox_pool_size = 4" in path.read_text()


def test_the_environment_overrides_the_file_and_config_show_says_where_each_value_came_from(
    bare_env, tmp_path
):
    cli(bare_env, "init")
    cli(bare_env, "config", "set", "egress_allow", "127.0.0.1")
    cli(bare_env, "config", "set", "sandbox_pool_size", "5")
    env = {
        **bare_env,
        "GURU_MCP_SANDBOX_POOL_SIZE": "7",
        "GURU_MCP_DATABASE_URL": "postgresql+psycopg://guru:hunter2hunter2@db.internal/guru",
    }
    settings = load_settings(env)
    assert settings.sandbox_pool_size == 7 and settings.egress_allow == ["127.0.0.1"]
    shown = json.loads(cli(env, "config", "show", "--json").stdout)
    rows = {r["name"]: r for r in shown["settings"]}
    assert rows["sandbox_pool_size"] == {
        "name": "sandbox_pool_size",
        "value": "7",
        "source": "env GURU_MCP_SANDBOX_POOL_SIZE",
    }
    assert rows["egress_allow"]["value"] == "127.0.0.1" and rows["egress_allow"]["source"] == "config.toml"
    assert rows["http_max_timeout"]["source"] == "default"
    assert rows["secret_key"] == {
        "name": "secret_key",
        "value": "(set, hidden)",
        "source": "env GURU_MCP_SECRET_KEY",
    }
    assert "hunter2" not in rows["database_url"]["value"] and "db.internal" in rows["database_url"]["value"]
    table = cli(env, "config", "show").stdout
    assert TEST_KEY not in table and "hunter2" not in table
    assert any(
        line.split()[:1] == ["egress_allow"] and line.rstrip().endswith("config.toml")
        for line in table.splitlines()
    )


def test_mistakes_in_the_file_are_one_line_errors_naming_the_setting(bare_env, tmp_path):
    cli(bare_env, "init")
    path = tmp_path / "home" / "config.toml"
    path.write_text(path.read_text() + 'egress_alow = ["127.0.0.1"]\n')
    failed = cli(bare_env, "actions", "list", check=False)
    assert failed.returncode == 6  # unavailable: the configuration
    assert (
        failed.stderr.strip() == f"error: {path}: unknown setting 'egress_alow' (did you mean egress_allow?)"
    )
    path.write_text('sandbox_egress = "open"\n')
    failed = cli(bare_env, "actions", "list", check=False)
    assert failed.returncode == 6 and "Traceback" not in failed.stderr
    assert failed.stderr.startswith(f"error: {path}, setting 'sandbox_egress': Input should be")
    refused = cli(bare_env, "config", "set", "sandbox_pol_size", "3", check=False)
    assert refused.returncode == 6 and "did you mean sandbox_pool_size?" in refused.stderr
    with pytest.raises(ConfigError, match="environment variable GURU_MCP_SANDBOX_CPUS"):
        load_settings({**bare_env, "GURU_MCP_SANDBOX_CPUS": "lots"})


@pytest.mark.anyio
async def test_stdio_and_http_both_take_the_egress_allow_list_from_the_file(bare_env, echo_server, tmp_path):
    """The README's desktop snippet sets no GURU_MCP_EGRESS_ALLOW: the file is what makes stdio and HTTP agree."""
    admin = cli(bare_env, "init").stdout.strip()
    action = api_action("ping_local", echo_server.url + "/ping")
    path = tmp_path / "ping_local.json"
    path.write_text(json.dumps(action))
    cli(bare_env, "actions", "import", str(path))
    stdio = StdioServerParameters(command=GURU, args=["serve"], env=bare_env)

    async with Client(stdio) as client:
        refused = await client.call_tool("ping_local", {})
    assert refused.is_error
    assert "guru-mcp config set egress_allow 127.0.0.1" in refused.content[0].text

    cli(bare_env, "config", "set", "egress_allow", "127.0.0.1")
    async with Client(stdio) as client:
        over_stdio = await client.call_tool("ping_local", {})
    assert not over_stdio.is_error, over_stdio.content[0].text

    port = free_port()
    server = await anyio.to_thread.run_sync(
        lambda: subprocess.Popen(
            [GURU, "serve", "--transport", "http", "--port", str(port)],
            env=bare_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_for(lambda: _answers(url), timeout=30)
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {admin}"}, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                over_http = await client.call_tool("ping_local", {})

        # the quick start's client, over HTTP this time, with the token `init` printed
        def mcp_call_with(token: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "guru_mcp.mcp_call", "--http", url, "--token", token, "ping_local"],
                env=bare_env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        mcp_call = await anyio.to_thread.run_sync(mcp_call_with, admin)
        bad_token = await anyio.to_thread.run_sync(mcp_call_with, "wrong")
    finally:
        server.terminate()
        server.wait(15)
    assert not over_http.is_error, over_http.content[0].text
    assert mcp_call.returncode == 0, mcp_call.stderr
    assert json.loads(mcp_call.stdout)["success"] is True
    assert bad_token.returncode == 1 and bad_token.stderr.startswith("mcp-call: ")
    assert bad_token.stderr.rstrip().endswith(f"(check the URL {url} and the token)")
    assert len(bad_token.stderr.strip().splitlines()) == 1
    assert [r["path"] for r in echo_server.requests] == ["/ping", "/ping", "/ping"]


def _answers(url: str) -> bool:
    try:
        return httpx.post(url, timeout=1).status_code == 401
    except httpx.HTTPError:
        return False
