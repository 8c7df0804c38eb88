"""API-call actions through an MCP client, against a real HTTP server on 127.0.0.1."""

import base64
import json
from urllib.parse import quote

import anyio
import pytest

from guru_mcp.app import open_app
from guru_mcp.models import RunStatus, parse_spec
from tests.conftest import USER, api_action, connect

TOKEN = "sk_test_9f8e7d6c5b4a"


async def add(app, data, secrets=None):
    for name, value in (secrets or {}).items():
        await app.vault.put("default", name, value)
    result = await app.catalog.save_spec("default", parse_spec(data))
    assert result.action.enabled, result.warnings
    return result.action


async def only_run(app):
    runs = await app.store.runs.list_runs("default")
    assert len(runs) == 1, [r.status for r in runs]
    return runs[0]


@pytest.mark.anyio
async def test_parameters_secrets_and_builtins_fill_url_headers_and_body(app, echo_server):
    await add(
        app,
        api_action(
            "submit",
            echo_server.url + "/orders/{order_id}?user={GURUBASE_USER_EMAIL}&guru={GURUBASE_GURU_SLUG}",
            method="POST",
            parameters=[
                {"name": "order_id", "required": True},
                {"name": "qty", "type": "number", "default": 1},
                {"name": "gift", "type": "boolean"},
            ],
            headers=[
                {"key": "Authorization", "value": "Bearer {API_TOKEN}"},
                {"key": "X-Groups", "value": "{GURUBASE_USER_GROUPS}"},
            ],
            body={"order": "{order_id}", "qty": "{qty}", "gift": "{gift}", "who": "{GURUBASE_USER_NAME}"},
        ),
        {"API_TOKEN": TOKEN},
    )
    async with connect(app, USER) as client:
        result = await client.call_tool("submit", {"order_id": "A-17", "gift": True})
    assert not result.is_error, result.content[0].text
    seen = echo_server.last()
    assert seen["method"] == "POST" and seen["path"] == "/orders/A-17"
    assert seen["query"] == {"user": "alex@corp.example", "guru": "default"}
    assert seen["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert seen["headers"]["x-groups"] == "hr,eng"
    assert seen["json"] == {"order": "A-17", "qty": 1, "gift": True, "who": "Alex"}
    assert result.structured_content["success"] is True
    assert result.structured_content["status_code"] == 200
    run = await only_run(app)
    assert run.status is RunStatus.OK and run.trigger.value == "tool_call"
    assert run.inputs == {"order_id": "A-17", "gift": True, "qty": 1}
    assert run.caller["email"] == "alex@corp.example"
    assert run.hosts == ["127.0.0.1"]
    assert run.duration_ms is not None and run.ended_at is not None


@pytest.mark.anyio
async def test_a_secret_echoed_back_is_masked_in_the_result_and_the_history_in_every_form(app, echo_server):
    await add(
        app,
        api_action(
            "leaky",
            echo_server.url + "/echo?k={API_TOKEN}&encode={API_TOKEN}",
            headers=[
                {"key": "Authorization", "value": "Bearer {API_TOKEN}"},
                {"key": "X-Basic", "value": "Basic {B64}"},
            ],
        ),
        {"API_TOKEN": TOKEN, "B64": base64.b64encode(f"user:{TOKEN}".encode()).decode()},
    )
    async with connect(app, USER) as client:
        result = await client.call_tool("leaky", {})
    assert echo_server.last()["headers"]["authorization"] == f"Bearer {TOKEN}"
    # The answer carries the token's encodings (`encode=`), so each form below leaks unless masked.
    forms = [TOKEN, base64.b64encode(TOKEN.encode()).decode()[:16], quote(TOKEN), TOKEN.encode().hex()]
    forms.append(base64.b64encode(f"user:{TOKEN}".encode()).decode()[8:])  # inside a longer base64
    text = result.content[0].text
    structured = json.dumps(result.structured_content)
    run = await only_run(app)
    history = run.model_dump_json()
    for form in forms:
        assert form not in text and form not in structured and form not in history
    assert "[REDACTED]" in text and "[REDACTED]" in run.output


@pytest.mark.anyio
async def test_a_parameter_holding_a_secret_placeholder_is_not_expanded(app, echo_server):
    await add(
        app,
        api_action(
            "lookup",
            echo_server.url + "/u/{who}?q={who}",
            parameters=[{"name": "who", "required": True}],
            headers=[{"key": "X-Who", "value": "{who}"}, {"key": "X-Key", "value": "{API_TOKEN}"}],
            method="POST",
            body={"who": "{who}"},
        ),
        {"API_TOKEN": TOKEN},
    )
    async with connect(app, USER) as client:
        await client.call_tool("lookup", {"who": "{API_TOKEN}"})
    seen = echo_server.last()
    assert seen["raw_path"] == "/u/%7BAPI_TOKEN%7D?q=%7BAPI_TOKEN%7D"
    assert seen["headers"]["x-who"] == "{API_TOKEN}"
    assert seen["json"] == {"who": "{API_TOKEN}"}


@pytest.mark.anyio
async def test_cr_lf_in_a_header_value_is_refused_before_any_request(app, echo_server):
    await add(
        app,
        api_action(
            "hdr",
            echo_server.url + "/h",
            parameters=[{"name": "v", "required": True}],
            headers=[{"key": "X-V", "value": "{v}"}],
        ),
    )
    async with connect(app, USER) as client:
        result = await client.call_tool("hdr", {"v": "ok\r\nX-Injected: yes"})
    assert result.is_error and "line break" in result.content[0].text
    assert echo_server.requests == []
    assert (await only_run(app)).status is RunStatus.ERROR


@pytest.mark.anyio
async def test_quotes_and_braces_in_body_values_stay_inside_their_strings(app, echo_server):
    await add(
        app,
        api_action(
            "post",
            echo_server.url + "/p",
            method="POST",
            parameters=[{"name": "t"}],
            body={"text": "note: {t}", "exact": "{t}", "fixed": 5},
        ),
    )
    nasty = '", "admin": true, "x": {"y": "}'
    async with connect(app, USER) as client:
        await client.call_tool("post", {"t": nasty})
    assert echo_server.last()["json"] == {"text": f"note: {nasty}", "exact": nasty, "fixed": 5}


@pytest.mark.anyio
async def test_path_traversal_and_query_characters_in_path_values_are_encoded(app, echo_server):
    await add(
        app,
        api_action(
            "file", echo_server.url + "/files/{name}", parameters=[{"name": "name", "required": True}]
        ),
    )
    async with connect(app, USER) as client:
        await client.call_tool("file", {"name": "../../admin?delete=1#x"})
    seen = echo_server.last()
    assert seen["path"] == "/files/..%2F..%2Fadmin%3Fdelete%3D1%23x"
    assert seen["query"] == {}


@pytest.mark.anyio
async def test_a_loopback_target_is_refused_without_an_egress_allowance(settings, echo_server):
    settings = settings.model_copy(update={"egress_allow": []})
    async with open_app(settings, sandbox=False) as app:
        await add(app, api_action("local", echo_server.url + "/x"))
        async with connect(app, USER) as client:
            result = await client.call_tool("local", {})
        run = await only_run(app)
    assert result.is_error and "egress refused" in result.content[0].text
    assert run.status is RunStatus.DENIED
    assert echo_server.requests == []


@pytest.mark.anyio
async def test_a_redirect_to_a_metadata_address_is_refused(app, echo_server):
    action = api_action("hop", echo_server.url + "/redirect?to=http://169.254.169.254/latest/")
    action["config"]["follow_redirects"] = True  # followed to another origin, the policy still applies
    await add(app, action)
    async with connect(app, USER) as client:
        result = await client.call_tool("hop", {})
    assert result.is_error and "link-local" in result.content[0].text
    assert (await only_run(app)).status is RunStatus.DENIED


@pytest.mark.anyio
async def test_an_error_status_is_returned_to_the_model_with_its_body(app, echo_server):
    await add(app, api_action("missing", echo_server.url + "/status/404"))
    async with connect(app, USER) as client:
        result = await client.call_tool("missing", {})
    assert result.is_error
    assert result.structured_content["status_code"] == 404
    assert result.structured_content["data"] == {"error": "status 404"}
    assert (await only_run(app)).error == "HTTP 404 Not Found"


@pytest.mark.anyio
async def test_a_large_response_is_capped_and_flagged(app, echo_server):
    await add(app, api_action("big", echo_server.url + "/big"))
    async with connect(app, USER) as client:
        result = await client.call_tool("big", {})
    assert result.structured_content["truncated"] is True
    assert len(result.structured_content["data"]) == app.settings.http_response_limit
    run = await only_run(app)
    assert run.truncated and len(run.output) <= app.settings.run_output_limit


@pytest.mark.anyio
async def test_a_slow_server_times_out_and_the_run_says_so(app, echo_server):
    await add(app, api_action("slow", echo_server.url + "/slow", timeout=0.3))
    async with connect(app, USER) as client:
        result = await client.call_tool("slow", {})
    assert result.is_error and "timed out" in result.content[0].text
    assert (await only_run(app)).status is RunStatus.TIMEOUT


@pytest.mark.anyio
async def test_an_unreachable_host_is_a_clear_error_and_the_server_keeps_serving(app, echo_server):
    await add(app, api_action("down", "http://127.0.0.1:9/nothing"))
    await add(app, api_action("up", echo_server.url + "/ok"))
    async with connect(app, USER) as client:
        down = await client.call_tool("down", {})
        up = await client.call_tool("up", {})
    assert down.is_error and "failed" in down.content[0].text
    assert not up.is_error


@pytest.mark.anyio
async def test_bad_arguments_are_explained_and_recorded(app, echo_server):
    await add(
        app,
        api_action(
            "typed", echo_server.url + "/t", parameters=[{"name": "n", "type": "number", "required": True}]
        ),
    )
    async with connect(app, USER) as client:
        result = await client.call_tool("typed", {"n": "many", "extra": 1})
    text = result.content[0].text
    assert result.is_error and "'many' is not of type 'number'" in text and "extra" in text
    assert echo_server.requests == []
    assert (await only_run(app)).status is RunStatus.ERROR


@pytest.mark.anyio
async def test_a_python_action_without_a_sandbox_gives_a_clear_error_and_a_run_record(app):
    await add(app, {"name": "py", "action_type": "PYTHON_CODE", "config": {"code": "print('hi')"}})
    async with connect(app, USER) as client:
        result = await client.call_tool("py", {})
    assert result.is_error and "sandbox" in result.content[0].text
    assert (await only_run(app)).status is RunStatus.ERROR


@pytest.mark.anyio
async def test_runs_beyond_the_per_caller_limit_wait_then_give_up_clearly(settings, echo_server):
    settings = settings.model_copy(update={"max_concurrent_runs_per_caller": 1, "run_queue_timeout": 0.3})
    async with open_app(settings, sandbox=False) as app:
        await add(app, api_action("slow", echo_server.url + "/slow", timeout=5))
        results = []
        first_done = anyio.Event()
        async with connect(app, USER) as client:

            async def call():
                results.append(await client.call_tool("slow", {}))
                first_done.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                tg.start_soon(call)
                with anyio.fail_after(5):
                    await first_done.wait()
                echo_server.gate.set()
        busy = [r for r in results if r.is_error]
        assert len(busy) == 1 and "too many runs at once" in busy[0].content[0].text
        # Every call leaves one record: the refused one is `denied`.
        assert sorted(r.status for r in await app.store.runs.list_runs("default")) == sorted(
            [RunStatus.OK, RunStatus.DENIED]
        )
