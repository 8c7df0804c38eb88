"""Agents end to end through the MCP SDK client: stand-in model servers on 127.0.0.1 (OpenAI chat
completions and Anthropic Messages wire formats) drive the loop over real API-call actions."""

from __future__ import annotations

import json

import pytest

from guru_mcp.models import RunStatus
from tests.agents.conftest import MODEL_KEY, Say, agent, save, scripted, use_provider
from tests.conftest import ADMIN, USER, api_action, connect

pytestmark = pytest.mark.anyio


async def two_actions(app, echo_server) -> None:
    await save(
        app,
        api_action(
            "lookup_order",
            echo_server.url + "/orders/{order_id}?who={GURUBASE_USER_EMAIL}",
            condition_prompt="Look up an order by its id.",
            parameters=[{"name": "order_id", "required": True, "description": "The order id"}],
        ),
    )
    await save(
        app,
        api_action(
            "refund_status",
            echo_server.url + "/refunds?order={order}",
            condition_prompt="The refund state of an order.",
            parameters=[{"name": "order", "required": True}],
        ),
    )


def structured(result) -> dict:
    return result.structured_content or {}


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_an_agent_chains_two_actions_and_records_them_as_child_runs(
    app, echo_server, model_server, kind
):
    await two_actions(app, echo_server)
    await use_provider(app, kind, model_server)
    saved = await save(app, agent("order_helper", ["lookup_order", "refund_status"]))
    assert saved.action.enabled, saved.warnings
    model_server.script = scripted(
        Say(calls=[("lookup_order", {"order_id": "A-17"})]),
        Say(text="Checking the refund.", calls=[("refund_status", {"order": "A-17"})]),
        Say(text="Order A-17 was refunded on 2026-03-03."),
    )
    async with connect(app, USER) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert listed["order_helper"].input_schema["required"] == ["request"]
        result = await client.call_tool("order_helper", {"request": "Where is the refund for order A-17?"})
    assert not result.is_error, result.content[0].text
    assert result.content[0].text == "Order A-17 was refunded on 2026-03-03."
    assert structured(result)["tool_calls"] == 2

    # The model saw the tools' schemas, the request, and each tool's real output.
    first = model_server.requests[0]
    names = [t["function"]["name"] if kind == "openai" else t["name"] for t in first["tools"]]
    assert names == ["lookup_order", "refund_status"]
    schema = (
        first["tools"][0]["function"]["parameters"] if kind == "openai" else first["tools"][0]["input_schema"]
    )
    assert schema["required"] == ["order_id"]
    assert "Where is the refund for order A-17?" in json.dumps(first["messages"])
    assert "/orders/A-17" in model_server.tool_results(1)[0]
    assert "/refunds" in model_server.tool_results(2)[-1]
    auth = (
        model_server.headers[0].get("authorization")
        if kind == "openai"
        else model_server.headers[0]["x-api-key"]
    )
    assert MODEL_KEY in auth
    if kind == "anthropic":
        assert model_server.headers[0]["anthropic-version"] == "2023-06-01"
        assert first["system"].startswith("You help with orders")

    # The caller's identity went down to the tools.
    assert [r["query"]["who"] for r in echo_server.requests if r["path"].startswith("/orders")] == [
        "alex@corp.example"
    ]

    runs = await app.store.runs.list_runs("default")
    parent = next(r for r in runs if r.action_name == "order_helper")
    children = sorted((r for r in runs if r.parent_run_id == parent.id), key=lambda r: r.started_at)
    assert [c.action_name for c in children] == ["lookup_order", "refund_status"]
    assert all(
        c.depth == 1 and c.status is RunStatus.OK and c.caller["email"] == "alex@corp.example"
        for c in children
    )
    assert parent.depth == 0 and parent.parent_run_id is None and parent.status is RunStatus.OK
    assert parent.usage["stop"] == "final_answer"
    assert parent.usage["model_calls"] == 3 and parent.usage["tool_calls"] == 2
    expected_in = (100 + 101 + 102) if kind == "openai" else (200 + 201 + 202)
    assert parent.usage["input_tokens"] == expected_in
    assert MODEL_KEY not in parent.model_dump_json()

    # admin_run_get shows the tree.
    async with connect(app, ADMIN) as admin:
        tree = structured(await admin.call_tool("admin_run_get", {"run_id": parent.id}))
        tops = structured(await admin.call_tool("admin_runs_list", {"top_level": True}))
        kids = structured(await admin.call_tool("admin_runs_list", {"parent_run_id": parent.id}))
    assert [c["action_name"] for c in tree["children"]] == ["lookup_order", "refund_status"]
    assert all(c["parent_run_id"] == parent.id and c["depth"] == 1 for c in tree["children"])
    assert [r["action_name"] for r in tops["runs"]] == ["order_helper"]
    assert {r["action_name"] for r in kids["runs"]} == {"lookup_order", "refund_status"}


async def test_the_tool_call_limit_stops_a_model_that_never_answers(app, echo_server, model_server):
    await two_actions(app, echo_server)
    await use_provider(app, "openai", model_server)
    await save(app, agent("looper", ["lookup_order"], max_tool_calls=3))
    model_server.script = lambda i, body: Say(calls=[("lookup_order", {"order_id": f"X{i}"})])
    async with connect(app, USER) as client:
        result = await client.call_tool("looper", {"request": "loop forever"})
    assert result.is_error
    assert "tool-call limit of 3" in result.content[0].text
    assert structured(result)["stop"] == "tool_call_limit"
    runs = await app.store.runs.list_runs("default")
    parent = next(r for r in runs if r.action_name == "looper")
    assert parent.status is RunStatus.ERROR and parent.usage["stop"] == "tool_call_limit"
    assert len([r for r in runs if r.parent_run_id == parent.id]) == 3
    assert len(model_server.requests) == 4


async def test_the_depth_limit_stops_nested_agents(app, echo_server, model_server):
    await two_actions(app, echo_server)
    await use_provider(app, "openai", model_server)
    await save(app, agent("inner", ["lookup_order"]))
    await save(app, agent("outer", ["inner"], max_depth=1))

    def script(i: int, body: dict) -> Say:
        tools = [t["function"]["name"] for t in body["tools"]]
        if tools == ["inner"]:
            if any(m.get("role") == "tool" for m in body["messages"]):
                return Say(text="The inner agent could not go deeper.")
            return Say(calls=[("inner", {"request": "look up A-1"})])
        return Say(calls=[("lookup_order", {"order_id": "A-1"})])

    model_server.script = script
    async with connect(app, USER) as client:
        result = await client.call_tool("outer", {"request": "go deep"})
    assert not result.is_error, result.content[0].text
    runs = await app.store.runs.list_runs("default")
    outer = next(r for r in runs if r.action_name == "outer")
    inner = next(r for r in runs if r.action_name == "inner")
    assert inner.parent_run_id == outer.id and inner.depth == 1
    assert inner.status is RunStatus.ERROR and inner.usage["stop"] == "depth_limit"
    assert "depth limit of 1" in inner.error and "depth 2" in inner.error
    assert not [r for r in runs if r.action_name == "lookup_order"]
    assert "depth limit of 1" in model_server.tool_results(2)[0]


SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}, "refunded": {"type": "boolean"}},
    "required": ["order_id", "refunded"],
}


async def test_an_answer_outside_the_output_schema_is_retried_once_then_reported(
    app, echo_server, model_server
):
    await two_actions(app, echo_server)
    await use_provider(app, "openai", model_server)
    await save(app, agent("strict", ["lookup_order"], output_schema=SCHEMA))
    model_server.script = scripted(Say(text="It was refunded."), Say(text='{"order_id": "A-17"}'))
    async with connect(app, USER) as client:
        result = await client.call_tool("strict", {"request": "refund of A-17?"})
    assert result.is_error
    text = result.content[0].text
    assert "does not match the output schema, even after one retry" in text and "refunded" in text
    assert "does not match the required output schema" in json.dumps(model_server.requests[1]["messages"])
    run = next(r for r in await app.store.runs.list_runs("default") if r.action_name == "strict")
    assert run.usage["stop"] == "output_schema" and run.usage["model_calls"] == 2


async def test_an_answer_fixed_on_the_retry_is_returned_as_structured_content(app, echo_server, model_server):
    await two_actions(app, echo_server)
    await use_provider(app, "anthropic", model_server)
    await save(app, agent("strict", ["lookup_order"], output_schema=SCHEMA))
    model_server.script = scripted(
        Say(text="refunded!"), Say(text='```json\n{"order_id": "A-17", "refunded": true}\n```')
    )
    async with connect(app, USER) as client:
        result = await client.call_tool("strict", {"request": "refund of A-17?"})
    assert not result.is_error, result.content[0].text
    assert structured(result)["answer"] == {"order_id": "A-17", "refunded": True}
    assert json.loads(result.content[0].text) == {"order_id": "A-17", "refunded": True}


async def test_test_mode_with_mocked_tools_calls_only_the_model(app, echo_server, model_server):
    await two_actions(app, echo_server)
    await use_provider(app, "openai", model_server)
    await save(app, agent("order_helper", ["lookup_order", "refund_status"]))
    model_server.script = scripted(
        Say(calls=[("lookup_order", {"order_id": "A-17"}), ("refund_status", {"order": "A-17"})]),
        Say(text="Mocked: shipped, refund pending."),
    )
    async with connect(app, ADMIN) as admin:
        result = await admin.call_tool(
            "admin_action_test",
            {
                "name": "order_helper",
                "arguments": {"request": "status of A-17"},
                "mock_tools": {"lookup_order": {"status": "shipped"}, "refund_status": "pending"},
            },
        )
        refused = await admin.call_tool(
            "admin_action_test",
            {
                "name": "lookup_order",
                "arguments": {"order_id": "1"},
                "mock_tools": {"x": 1},
            },
        )
    assert not result.is_error, result.content[0].text
    out = structured(result)
    assert out["status"] == "ok" and out["output"] == "Mocked: shipped, refund pending."
    assert echo_server.requests == []  # no tool ran
    assert model_server.tool_results(1) == ['{"status": "shipped"}', "pending"]
    runs = await app.store.runs.list_runs("default")
    parent = next(r for r in runs if r.action_name == "order_helper")
    children = [r for r in runs if r.parent_run_id == parent.id]
    assert parent.trigger.value == "test" and len(children) == 2
    assert all(c.usage == {"mocked": True} and c.hosts == [] and c.trigger.value == "test" for c in children)
    assert refused.is_error and "only agents" in refused.content[0].text


async def test_the_agent_timeout_cancels_a_slow_tool_and_says_so(app, echo_server, model_server):
    await save(app, api_action("slow", echo_server.url + "/slow"))
    await use_provider(app, "openai", model_server)
    await save(app, agent("impatient", ["slow"], timeout=1))
    model_server.script = lambda i, body: Say(calls=[("slow", {})])
    async with connect(app, USER) as client:
        result = await client.call_tool("impatient", {"request": "wait"})
    assert result.is_error and "timeout of 1 s ran out" in result.content[0].text
    runs = await app.store.runs.list_runs("default")
    parent = next(r for r in runs if r.action_name == "impatient")
    child = next(r for r in runs if r.action_name == "slow")
    assert parent.status is RunStatus.TIMEOUT and parent.usage["stop"] == "timeout"
    assert child.parent_run_id == parent.id and child.status is RunStatus.CANCELLED


async def test_a_failing_model_api_is_a_clear_error_without_the_key(app, echo_server, model_server):
    await two_actions(app, echo_server)
    await use_provider(app, "openai", model_server)
    await save(app, agent("order_helper", ["lookup_order"]))
    model_server.script = scripted()  # answers HTTP 500 with an error message
    async with connect(app, USER) as client:
        result = await client.call_tool("order_helper", {"request": "x"})
    assert result.is_error
    assert "model provider 'default' answered HTTP 500" in result.content[0].text
    run = next(r for r in await app.store.runs.list_runs("default") if r.action_name == "order_helper")
    assert run.usage["stop"] == "error" and MODEL_KEY not in run.model_dump_json()


async def test_model_calls_go_through_the_egress_policy(settings, echo_server, model_server):
    from guru_mcp.app import open_app

    strict = settings.model_copy(update={"egress_allow": []})  # loopback no longer allowed
    async with open_app(strict, sandbox=False) as app:
        await save(app, api_action("lookup_order", echo_server.url + "/orders/1"))
        await use_provider(app, "openai", model_server)
        await save(app, agent("order_helper", ["lookup_order"]))
        async with connect(app, USER) as client:
            result = await client.call_tool("order_helper", {"request": "x"})
        run = next(r for r in await app.store.runs.list_runs("default") if r.action_name == "order_helper")
    assert result.is_error and "egress refused" in result.content[0].text
    assert run.status is RunStatus.DENIED
    assert model_server.requests == []


async def test_a_model_key_limited_to_other_hosts_is_never_sent(app, echo_server, model_server):
    await save(app, api_action("lookup_order", echo_server.url + "/orders/1"))
    await use_provider(app, "openai", model_server)
    await app.vault.put("default", "MODEL_API_KEY", MODEL_KEY, hosts=["api.openai.com"])
    await save(app, agent("order_helper", ["lookup_order"]))
    async with connect(app, USER) as client:
        result = await client.call_tool("order_helper", {"request": "x"})
    assert result.is_error and "may only be sent to api.openai.com" in result.content[0].text
    assert model_server.requests == []
