"""Agents through the real command: providers configured and an agent imported with the CLI, then
called over stdio by the MCP SDK client, against a stand-in OpenAI-compatible model on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.agents.conftest import MODEL_KEY, Say, agent, model_server, scripted  # noqa: F401  (fixture)
from tests.conftest import api_action
from tests.e2e.conftest import GURU, cli


@pytest.mark.anyio
async def test_the_cli_configures_a_provider_and_imports_an_agent_that_runs_over_stdio(
    cli_env, tmp_path, model_server, echo_server
):
    out = cli(
        cli_env,
        "providers",
        "set",
        "--kind",
        "openai",
        "--base-url",
        model_server.url + "/v1",
        "--model",
        "m",
        "--api-key-stdin",
        stdin=MODEL_KEY + "\n",
    )
    assert "created provider default (openai)" in out.stdout
    listing = cli(cli_env, "providers", "list").stdout
    assert "DEFAULT_MODEL_API_KEY" in listing and MODEL_KEY not in listing
    bad = cli(cli_env, "providers", "set", "--kind", "openai", check=False)
    assert bad.returncode == 4 and "base_url" in bad.stderr and "Traceback" not in bad.stderr

    tool, bot = tmp_path / "tool.json", tmp_path / "a_bot.json"  # the agent's file sorts before its tool's
    tool.write_text(
        json.dumps(
            api_action(
                "lookup",
                echo_server.url + "/orders/{order_id}?who={GURUBASE_USER_EMAIL}",
                parameters=[{"name": "order_id", "required": True}],
            )
        )
    )
    bot.write_text(json.dumps(agent("bot", ["lookup"])))
    imported = cli(cli_env, "actions", "import", str(bot), str(tool)).stdout
    assert "create    bot" in imported and "create    lookup" in imported
    listed = json.loads(cli(cli_env, "actions", "list", "--json").stdout)
    assert {a["name"]: a["enabled"] for a in listed} == {"bot": True, "lookup": True}

    model_server.script = scripted(
        Say(calls=[("lookup", {"order_id": "Z-9"})]), Say(text="Z-9 is on its way.")
    )
    async with Client(StdioServerParameters(command=GURU, args=["serve"], env=cli_env)) as client:
        result = await client.call_tool("bot", {"request": "where is Z-9?"})
    assert not result.is_error, result.content[0].text
    assert result.content[0].text == "Z-9 is on its way."
    assert echo_server.last()["query"] == {"who": "sam@corp.example"}
    runs = json.loads(cli(cli_env, "runs", "list", "--json").stdout)
    parent = next(r for r in runs if r["action_name"] == "bot")
    child = next(r for r in runs if r["action_name"] == "lookup")
    assert child["parent_run_id"] == parent["id"] and child["depth"] == 1
    assert parent["usage"]["tool_calls"] == 1 and parent["usage"]["input_tokens"] == 201

    # Test mode from the CLI: the tool's result is mocked, nothing but the model is called.
    before = len(echo_server.requests)
    model_server.script = lambda i, body: (
        Say(text="mocked answer: " + body["messages"][-1]["content"])
        if body["messages"][-1]["role"] == "tool"
        else Say(calls=[("lookup", {"order_id": "Z-9"})])
    )
    tested = cli(
        cli_env,
        "actions",
        "test",
        "bot",
        "--arg",
        "request=where is Z-9?",
        "--mock-tools",
        '{"lookup": "shipped yesterday"}',
    )
    assert tested.stdout.strip() == "mocked answer: shipped yesterday"
    assert len(echo_server.requests) == before
    top = json.loads(cli(cli_env, "runs", "list", "--top-level", "--json").stdout)
    assert [r["action_name"] for r in top] == ["bot", "bot"]
    shown = cli(cli_env, "runs", "show", top[0]["id"]).stdout
    assert "tool calls:" in shown and "lookup  ok" in shown
