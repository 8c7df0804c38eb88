"""Python actions end to end: a real `guru-mcp serve` over stdio, a real Docker sandbox, a real MCP client."""

import base64
import json

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.e2e.conftest import GURU, cli

pytestmark = pytest.mark.docker

HR_TOKEN = "hr-token-7c1d2e3f4a5b"


@pytest.mark.anyio
async def test_the_pto_balance_lookup_returns_the_calling_users_balance(sandbox_env, echo_server):
    cli(sandbox_env, "init")
    cli(sandbox_env, "secrets", "set", "HR_API_URL", stdin=echo_server.url)
    cli(sandbox_env, "secrets", "set", "HR_API_TOKEN", stdin=HR_TOKEN)
    cli(sandbox_env, "actions", "import", "actions/pto_balance_lookup.json")
    params = StdioServerParameters(command=GURU, args=["serve", "--admin"], env=sandbox_env)
    async with Client(params, read_timeout_seconds=120) as client:
        result = await client.call_tool("pto_balance_lookup", {})
        assert not result.is_error, result.content[0].text
        assert result.content[0].text.strip() == "sam@corp.example: 12 PTO days left (last used 2026-03-03)"
        runs = await client.call_tool("admin_runs_list", {"action": "pto_balance_lookup"})
    seen = echo_server.last()
    assert seen["path"] == "/pto" and seen["query"] == {"user": "sam@corp.example"}
    assert seen["headers"]["authorization"] == f"Bearer {HR_TOKEN}"
    run = runs.structured_content["runs"][0]
    assert run["status"] == "ok" and run["hosts"] == ["127.0.0.1"]


@pytest.mark.anyio
async def test_python_actions_get_parameters_and_builtins_and_have_secrets_masked(sandbox_env):
    cli(sandbox_env, "init")
    cli(sandbox_env, "secrets", "set", "API_KEY", stdin=HR_TOKEN)
    action = {
        "name": "env_probe",
        "action_type": "PYTHON_CODE",
        "parameters": [
            {"name": "city", "required": True},
            {"name": "days", "type": "number", "default": 3},
            {"name": "note", "required": False},
        ],
        "secrets": ["API_KEY"],
        "config": {
            "code": (
                "import os, base64, json\n"
                "key = os.environ['API_KEY']\n"
                "print(json.dumps({k: os.environ.get(k) for k in ['city', 'days', 'note', 'GURUBASE_USER_EMAIL',"
                " 'GURUBASE_USER_GROUPS', 'GURUBASE_GURU_SLUG']}))\n"
                "print('raw', key)\n"
                "print('b64', base64.b64encode(key.encode()).decode())\n"
            )
        },
    }
    failing = {
        "name": "crashes",
        "action_type": "PYTHON_CODE",
        "secrets": ["API_KEY"],
        "config": {"code": "import os\nraise RuntimeError('bad key ' + os.environ['API_KEY'])\n"},
    }
    params = StdioServerParameters(command=GURU, args=["serve", "--admin"], env=sandbox_env)
    async with Client(params, read_timeout_seconds=120) as client:
        for spec in (action, failing):
            created = await client.call_tool("admin_action_create", {"action": spec})
            assert not created.is_error, created.content[0].text
        result = await client.call_tool("env_probe", {"city": "Zürich"})
        crashed = await client.call_tool("crashes", {})
        history = await client.call_tool("admin_runs_list", {})
    text = result.content[0].text
    assert not result.is_error, text
    first = json.loads(text.splitlines()[0])
    assert first == {
        "city": "Zürich",
        "days": "3",
        "note": None,
        "GURUBASE_USER_EMAIL": "sam@corp.example",
        "GURUBASE_USER_GROUPS": "Everyone",
        "GURUBASE_GURU_SLUG": "default",
    }
    assert "raw [REDACTED]" in text and "b64 [REDACTED]" in text
    assert crashed.is_error and "RuntimeError: bad key [REDACTED]" in crashed.content[0].text
    everything = text + crashed.content[0].text + json.dumps(history.structured_content)
    assert HR_TOKEN not in everything
    assert base64.b64encode(HR_TOKEN.encode()).decode() not in everything
