"""Confirmation before side effects: the user is asked through elicitation, in both protocol generations."""

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from guru_mcp.app import open_app
from guru_mcp.models import RunStatus, parse_spec
from tests.conftest import ADMIN, USER, accept_confirmation, api_action, connect, decline_confirmation

MODES = ["legacy", "2026-07-28"]
TOKEN = "sk_live_0a1b2c3d4e5f"


async def add(app, data, secrets=None):
    for name, value in (secrets or {}).items():
        await app.vault.put("default", name, value)
    result = await app.catalog.save_spec("default", parse_spec(data))
    assert result.action.enabled, result.warnings
    return result.action


def remove_order(echo_server, **extra):
    return api_action(
        "remove_order",
        echo_server.url + "/orders/{order_id}?key={API_TOKEN}",
        method="DELETE",
        parameters=[{"name": "order_id", "required": True}],
        **extra,
    )


class Recorder:
    """An elicitation handler that remembers what it was asked and answers as told."""

    def __init__(self, answer):
        self.answer = answer
        self.asked: list[types.ElicitRequestParams] = []

    async def __call__(self, ctx, params):
        self.asked.append(params)
        return await self.answer(ctx, params)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_a_delete_call_runs_after_the_user_confirms_it(app, echo_server, mode):
    await add(app, remove_order(echo_server), {"API_TOKEN": TOKEN})
    handler = Recorder(accept_confirmation)
    async with connect(app, USER, mode=mode, elicitation=handler) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("remove_order", {"order_id": "A-17"})
    assert not result.is_error, result.content[0].text
    assert echo_server.last()["method"] == "DELETE" and echo_server.last()["path"] == "/orders/A-17"
    assert len(handler.asked) == 1
    message = handler.asked[0].message
    assert "remove_order" in message and "A-17" in message
    assert "confirm" in tools["remove_order"].description
    runs = await app.store.runs.list_runs("default")
    assert [r.status for r in runs] == [RunStatus.OK]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_a_declined_call_is_not_run_and_is_recorded_denied(app, echo_server, mode):
    await add(app, remove_order(echo_server), {"API_TOKEN": TOKEN})
    async with connect(app, USER, mode=mode, elicitation=decline_confirmation) as client:
        result = await client.call_tool("remove_order", {"order_id": "A-17"})
    assert result.is_error
    assert "declined" in result.content[0].text
    assert echo_server.requests == []
    (run,) = await app.store.runs.list_runs("default")
    assert run.status is RunStatus.DENIED and run.inputs == {"order_id": "A-17"}
    assert "declined" in run.error


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_unchecking_the_box_counts_as_declining(app, echo_server, mode):
    await add(app, remove_order(echo_server), {"API_TOKEN": TOKEN})

    async def unchecked(ctx, params):
        return types.ElicitResult(action="accept", content={"confirm": False})

    async with connect(app, USER, mode=mode, elicitation=unchecked) as client:
        result = await client.call_tool("remove_order", {"order_id": "A-17"})
    assert result.is_error and echo_server.requests == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_a_client_that_cannot_ask_gets_a_clear_error_and_nothing_runs(app, echo_server, mode):
    await add(app, remove_order(echo_server), {"API_TOKEN": TOKEN})
    async with connect(app, USER, mode=mode, elicitation=None) as client:
        if mode == "legacy":
            result = await client.call_tool("remove_order", {"order_id": "A-17"})
            assert result.is_error
            text = result.content[0].text
        else:  # 2026-07-28 names the missing capability with its own error
            with pytest.raises(MCPError) as caught:
                await client.call_tool("remove_order", {"order_id": "A-17"})
            assert caught.value.error.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY
            assert caught.value.error.data == {"requiredCapabilities": {"elicitation": {}}}
            text = caught.value.error.message
    assert "cannot ask" in text and "GURU_MCP_UNCONFIRMED_GURUS" in text
    assert echo_server.requests == []
    (run,) = await app.store.runs.list_runs("default")
    assert run.status is RunStatus.DENIED


@pytest.mark.anyio
async def test_an_admin_may_let_a_guru_run_unconfirmed_when_the_client_cannot_ask(settings, echo_server):
    settings = settings.model_copy(update={"unconfirmed_gurus": ["default"]})
    async with open_app(settings, sandbox=False) as app:
        await add(app, remove_order(echo_server), {"API_TOKEN": TOKEN})
        async with connect(app, USER, elicitation=None) as client:
            result = await client.call_tool("remove_order", {"order_id": "A-17"})
        assert not result.is_error, result.content[0].text
        assert echo_server.last()["method"] == "DELETE"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_confirm_is_set_per_action_either_way(app, echo_server, mode):
    await add(app, api_action("ping", echo_server.url + "/ping", method="POST", confirm=True))
    await add(app, remove_order(echo_server, confirm=False), {"API_TOKEN": TOKEN})
    handler = Recorder(decline_confirmation)
    async with connect(app, USER, mode=mode, elicitation=handler) as client:
        pinged = await client.call_tool("ping", {})
        removed = await client.call_tool("remove_order", {"order_id": "B-2"})
    assert pinged.is_error and not removed.is_error
    assert [p.message.split("'")[1] for p in handler.asked] == ["ping"]
    assert [r["path"] for r in echo_server.requests] == ["/orders/B-2"]


@pytest.mark.anyio
async def test_the_question_never_shows_a_secret(app, echo_server):
    await add(
        app,
        api_action(
            "remove_order",
            echo_server.url + "/orders/{order_id}",
            method="DELETE",
            parameters=[{"name": "order_id", "required": True}],
            headers=[{"key": "Authorization", "value": "Bearer {API_TOKEN}"}],
        ),
        {"API_TOKEN": TOKEN},
    )
    handler = Recorder(decline_confirmation)
    async with connect(app, USER, elicitation=handler) as client:
        await client.call_tool("remove_order", {"order_id": f"x-{TOKEN}"})
    assert TOKEN not in handler.asked[0].message
    (run,) = await app.store.runs.list_runs("default")
    assert TOKEN not in str(run.inputs)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_invalid_arguments_are_reported_without_asking(app, echo_server, mode):
    await add(app, remove_order(echo_server), {"API_TOKEN": TOKEN})
    handler = Recorder(accept_confirmation)
    async with connect(app, USER, mode=mode, elicitation=handler) as client:
        result = await client.call_tool("remove_order", {})
    assert result.is_error and "invalid arguments" in result.content[0].text
    assert handler.asked == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_destructive_admin_tools_ask_first(app, echo_server, mode):
    await add(app, api_action("ping", echo_server.url + "/ping"))
    handler = Recorder(decline_confirmation)
    async with connect(app, ADMIN, mode=mode, elicitation=handler) as client:
        refused = await client.call_tool("admin_action_delete", {"name": "ping"})
        assert refused.is_error and "declined" in refused.content[0].text
        assert "ping" in (await app.catalog.snapshot("default")).entries
        handler.answer = accept_confirmation
        done = await client.call_tool("admin_action_delete", {"name": "ping"})
    assert not done.is_error, done.content[0].text
    assert "admin_action_delete" in handler.asked[0].message and "ping" in handler.asked[0].message
    assert len(handler.asked) == 2


@pytest.mark.anyio
async def test_a_2026_answer_is_only_accepted_with_the_state_the_server_sealed(app, echo_server):
    await add(app, remove_order(echo_server), {"API_TOKEN": TOKEN})
    accepted = {"confirm": types.ElicitResult(action="accept", content={"confirm": True})}
    async with connect(app, USER, mode="2026-07-28") as client:
        # Answering a question that was never asked, with no state: the question is asked instead.
        first = await client.session.call_tool(
            "remove_order", {"order_id": "A-17"}, input_responses=accepted, allow_input_required=True
        )
        assert isinstance(first, types.InputRequiredResult) and first.request_state
        # A forged state is refused outright.
        with pytest.raises(MCPError, match="requestState"):
            await client.session.call_tool(
                "remove_order",
                {"order_id": "A-17"},
                input_responses=accepted,
                request_state="guru-mcp:confirm:remove_order",
                allow_input_required=True,
            )
        # The sealed state is bound to the arguments it was minted for.
        with pytest.raises(MCPError, match="requestState"):
            await client.session.call_tool(
                "remove_order",
                {"order_id": "B-99"},
                input_responses=accepted,
                request_state=first.request_state,
                allow_input_required=True,
            )
        assert echo_server.requests == []
        done = await client.session.call_tool(
            "remove_order",
            {"order_id": "A-17"},
            input_responses=accepted,
            request_state=first.request_state,
            allow_input_required=True,
        )
    assert isinstance(done, types.CallToolResult) and not done.is_error
    assert [r["path"] for r in echo_server.requests] == ["/orders/A-17"]


@pytest.mark.anyio
async def test_a_rollback_asks_first_but_its_dry_run_does_not(app, echo_server):
    await add(app, api_action("ping", echo_server.url + "/v1"))
    await add(app, api_action("ping", echo_server.url + "/v2"))
    handler = Recorder(decline_confirmation)
    async with connect(app, ADMIN, elicitation=handler) as client:
        dry = await client.call_tool("admin_action_rollback", {"name": "ping", "version": 1, "dry_run": True})
        assert not dry.is_error, dry.content[0].text
        assert handler.asked == []
        refused = await client.call_tool("admin_action_rollback", {"name": "ping", "version": 1})
    assert refused.is_error and "declined" in refused.content[0].text
    assert "admin_action_rollback" in handler.asked[0].message
    assert (await app.catalog.snapshot("default")).entries["ping"].stored.spec.config.endpoint.endswith("/v2")
