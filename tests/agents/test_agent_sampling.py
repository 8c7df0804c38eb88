"""An agent that uses MCP sampling: the calling client's own model, through the SDK client's
sampling callback (with the sampling.tools capability)."""

from __future__ import annotations

import anyio
import mcp_types as types
import pytest
from mcp import Client

from guru_mcp.models import RunStatus
from guru_mcp.server import build_server
from tests.agents.conftest import agent, save, use_provider
from tests.conftest import USER, api_action, connect

pytestmark = pytest.mark.anyio


async def test_a_sampling_agent_runs_its_tools_with_the_clients_model(app, echo_server):
    await save(
        app,
        api_action(
            "lookup_order",
            echo_server.url + "/orders/{order_id}",
            parameters=[{"name": "order_id", "required": True}],
        ),
    )
    await use_provider(app, "sampling")
    await save(app, agent("order_helper", ["lookup_order"]))
    seen: list[types.CreateMessageRequestParams] = []

    async def sample(context, params: types.CreateMessageRequestParams):
        seen.append(params)
        if len(seen) == 1:
            return types.CreateMessageResultWithTools(
                role="assistant",
                model="client-model",
                content=[types.ToolUseContent(id="use-1", name="lookup_order", input={"order_id": "B-2"})],
                stop_reason="toolUse",
            )
        result = params.messages[-1].content_as_list[0]
        assert result.type == "tool_result" and result.tool_use_id == "use-1"
        return types.CreateMessageResultWithTools(
            role="assistant",
            model="client-model",
            content=[
                types.TextContent(type="text", text=f"Order B-2: {'/orders/B-2' in result.content[0].text}")
            ],
            stop_reason="endTurn",
        )

    handle = build_server(app, stdio_caller=USER)
    async with anyio.create_task_group() as tg:
        tg.start_soon(handle.notifier)
        async with Client(
            handle.server,
            mode="legacy",
            sampling_callback=sample,
            sampling_capabilities=types.SamplingCapability(tools=types.SamplingToolsCapability()),
        ) as client:
            result = await client.call_tool("order_helper", {"request": "where is B-2?"})
        tg.cancel_scope.cancel()
    assert not result.is_error, result.content[0].text
    assert result.content[0].text == "Order B-2: True"
    assert [t.name for t in seen[0].tools] == ["lookup_order"]
    assert seen[0].system_prompt.startswith("You help with orders")
    assert seen[0].tools[0].input_schema["required"] == ["order_id"]
    runs = await app.store.runs.list_runs("default")
    parent = next(r for r in runs if r.action_name == "order_helper")
    assert parent.usage["model"] == "client-model" and parent.usage["model_calls"] == 2
    child = next(r for r in runs if r.action_name == "lookup_order")
    assert child.parent_run_id == parent.id and child.status is RunStatus.OK


async def test_a_client_without_sampling_gets_a_clear_error(app, echo_server):
    await save(app, api_action("lookup_order", echo_server.url + "/orders/1"))
    await use_provider(app, "sampling")
    await save(app, agent("order_helper", ["lookup_order"]))
    async with connect(app, USER) as client:
        result = await client.call_tool("order_helper", {"request": "x"})
    assert result.is_error
    assert "does not support sampling with tools" in result.content[0].text
