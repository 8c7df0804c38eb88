"""The catalog's agent (`actions/book_time_off.json`) end to end: the whole `actions/` folder imported
with the CLI on a fresh home, a stand-in OpenAI-compatible model and a stand-in HR API on 127.0.0.1,
the Python balance lookup in the real Docker sandbox, the agent called over stdio through the SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.agents.conftest import MODEL_KEY, Say, model_server  # noqa: F401  (fixture)
from tests.e2e.conftest import GURU, cli

pytestmark = pytest.mark.docker

HR_TOKEN = "hr-token-1a2b3c4d5e6f"
ACTIONS = sorted(str(p) for p in Path("actions").glob("*.json"))


@pytest.mark.anyio
async def test_book_time_off_checks_the_balance_then_submits(sandbox_env, echo_server, model_server):
    imported = cli(sandbox_env, "actions", "import", *ACTIONS).stdout
    assert "book_time_off  (disabled: model provider 'default' is not configured" in imported
    cli(sandbox_env, "secrets", "set", "HR_API_URL", stdin=echo_server.url)
    cli(sandbox_env, "secrets", "set", "HR_API_TOKEN", stdin=HR_TOKEN)
    set_ = cli(
        sandbox_env,
        "providers",
        "set",
        "--kind",
        "openai",
        "--base-url",
        model_server.url + "/v1",
        "--model",
        "stand-in",
        "--api-key-stdin",
        stdin=MODEL_KEY,
    )
    assert "book_time_off" in set_.stdout  # the agent waiting for this provider is named

    def script(i: int, body: dict) -> Say:
        assert [t["function"]["name"] for t in body["tools"]] == ["pto_balance_lookup", "submit_pto_request"]
        if i == 0:
            assert "2026-04-17" in body["messages"][-1]["content"]
            return Say(calls=[("pto_balance_lookup", {})])
        if i == 1:
            assert "12 PTO days left" in body["messages"][-1]["content"], body["messages"][-1]
            return Say(
                calls=[
                    (
                        "submit_pto_request",
                        {"start_date": "2026-04-17", "end_date": "2026-04-17", "note": "family event"},
                    )
                ]
            )
        assert '"success": true' in body["messages"][-1]["content"]
        return Say(
            text=json.dumps(
                {
                    "submitted": True,
                    "days_left": 12,
                    "days_requested": 1,
                    "start_date": "2026-04-17",
                    "end_date": "2026-04-17",
                    "message": "Booked Friday 2026-04-17; 11 days will be left.",
                }
            )
        )

    model_server.script = script
    params = StdioServerParameters(command=GURU, args=["serve", "--admin"], env=sandbox_env)
    async with Client(params, read_timeout_seconds=180) as client:
        for name in ("pto_balance_lookup", "submit_pto_request", "book_time_off"):  # imported before secrets
            enabled = await client.call_tool("admin_action_enable", {"name": name})
            assert not enabled.is_error, enabled.content[0].text
        result = await client.call_tool(
            "book_time_off", {"request": "Friday 2026-04-17 off for a family event"}
        )
        assert not result.is_error, result.content[0].text
        runs = await client.call_tool("admin_runs_list", {"action": "book_time_off"})
        tree = await client.call_tool("admin_run_get", {"run_id": runs.structured_content["runs"][0]["id"]})
    answer = result.structured_content["answer"]
    assert answer["submitted"] is True and answer["start_date"] == "2026-04-17"
    submitted = echo_server.last()
    assert submitted["path"] == "/timeoff" and submitted["method"] == "POST"
    assert submitted["json"] == {
        "employee": "sam@corp.example",
        "from": "2026-04-17",
        "to": "2026-04-17",
        "kind": "PTO",
        "comment": "family event",
    }
    assert submitted["headers"]["authorization"] == f"Bearer {HR_TOKEN}"
    children = tree.structured_content["children"]
    assert [c["action_name"] for c in children] == ["pto_balance_lookup", "submit_pto_request"]
    assert all(c["status"] == "ok" and c["depth"] == 1 for c in children)
    assert tree.structured_content["usage"]["stop"] == "final_answer"
    assert HR_TOKEN not in json.dumps(tree.structured_content) and MODEL_KEY not in json.dumps(
        tree.structured_content
    )
