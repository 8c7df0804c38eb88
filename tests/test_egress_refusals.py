"""A refused egress says why: the run records `hosts_refused`, the tool result's error text carries one
line per refused host saying how to allow it, and the server logs it."""

from __future__ import annotations

import logging

import pytest

from guru_mcp.app import open_app
from tests.conftest import ADMIN, api_action, connect
from tests.executors.conftest import docker_api, sandbox_image  # noqa: F401  (fail under CI without Docker)

FETCH_WITH_REQUESTS = (
    "import os, requests\n"
    "reply = requests.get(os.environ['url'], timeout=10)\n"
    "reply.raise_for_status()\n"
    "print(reply.text)\n"
)


async def _run_record(client, run_id: str) -> dict:
    got = await client.call_tool("admin_run_get", {"run_id": run_id})
    assert not got.is_error, got.content[0].text
    return got.structured_content


@pytest.mark.docker
@pytest.mark.anyio
async def test_a_python_action_refused_by_the_policy_records_the_host_and_says_how_to_allow_it(
    settings, sandbox_image, echo_server, caplog
):
    settings = settings.model_copy(
        update={
            "sandbox_enabled": True,
            "sandbox_image": sandbox_image,
            "sandbox_pool_size": 1,
            "sandbox_preimport": [],
        }
    )
    port = echo_server.url.rsplit(":", 1)[1]
    action = {
        "name": "fetch",
        "action_type": "PYTHON_CODE",
        "parameters": [{"name": "url", "required": True}],
        "config": {"code": FETCH_WITH_REQUESTS},
    }
    caplog.set_level(logging.WARNING, logger="guru_mcp.refused")
    async with open_app(settings) as app, connect(app, ADMIN) as client:
        created = await client.call_tool("admin_action_create", {"action": action})
        assert not created.is_error, created.content[0].text
        refused = await client.call_tool("fetch", {"url": f"http://127.0.0.2:{port}/x"})
        allowed = await client.call_tool("fetch", {"url": f"{echo_server.url}/y"})
        runs = (await client.call_tool("admin_runs_list", {"action": "fetch"})).structured_content["runs"]
        newest_first = [await _run_record(client, r["id"]) for r in runs]
    text = refused.content[0].text
    assert refused.is_error
    line = (
        "egress to 127.0.0.2 refused by policy (allow it with `guru-mcp config set egress_allow 127.0.0.2` "
        "or GURU_MCP_EGRESS_ALLOW, then restart the server)"
    )
    assert text.splitlines().count(line) == 1, text
    assert "403 Client Error: Forbidden" in text  # what the script itself saw
    assert not allowed.is_error, allowed.content[0].text
    ok_run, refused_run = newest_first
    assert refused_run["status"] == "error" and refused_run["hosts"] == []
    assert refused_run["hosts_refused"] == ["127.0.0.2"]
    assert line in refused_run["error"]
    assert ok_run["status"] == "ok" and ok_run["hosts"] == ["127.0.0.1"] and ok_run["hosts_refused"] == []
    logged = [r.getMessage() for r in caplog.records if "refused by policy" in r.getMessage()]
    assert logged == [
        f"egress: run {refused_run['id']} of default/fetch: egress to 127.0.0.2 refused by policy"
    ]


@pytest.mark.docker
@pytest.mark.anyio
async def test_a_host_outside_the_actions_own_allowed_hosts_names_that_list(
    settings, sandbox_image, echo_server
):
    settings = settings.model_copy(
        update={
            "sandbox_enabled": True,
            "sandbox_image": sandbox_image,
            "sandbox_pool_size": 1,
            "sandbox_preimport": [],
        }
    )
    action = {
        "name": "fetch",
        "action_type": "PYTHON_CODE",
        "parameters": [{"name": "url", "required": True}],
        "config": {"code": FETCH_WITH_REQUESTS, "allowed_hosts": ["api.example.com"]},
    }
    async with open_app(settings) as app, connect(app, ADMIN) as client:
        await client.call_tool("admin_action_create", {"action": action})
        refused = await client.call_tool("fetch", {"url": f"{echo_server.url}/y"})
    assert refused.is_error
    assert "egress to 127.0.0.1 refused by policy (allow it with config.allowed_hosts of this action)" in (
        refused.content[0].text.splitlines()
    )
    assert echo_server.requests == []


@pytest.mark.anyio
async def test_an_api_call_refused_by_the_policy_records_the_host_too(app, echo_server, caplog):
    port = echo_server.url.rsplit(":", 1)[1]
    caplog.set_level(logging.WARNING, logger="guru_mcp.refused")
    async with connect(app, ADMIN) as client:
        await client.call_tool(
            "admin_action_create", {"action": api_action("probe", f"http://127.0.0.3:{port}/")}
        )
        refused = await client.call_tool("probe", {})
        run = (await client.call_tool("admin_runs_list", {"action": "probe"})).structured_content["runs"][0]
    assert refused.is_error
    assert "`guru-mcp config set egress_allow 127.0.0.3`" in refused.content[0].text
    assert run["status"] == "denied" and run["hosts_refused"] == ["127.0.0.3"]
    assert any("egress to 127.0.0.3 refused by policy" in r.getMessage() for r in caplog.records)
    assert echo_server.requests == []
