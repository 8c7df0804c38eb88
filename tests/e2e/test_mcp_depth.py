"""Progress, cancellation, confirmation, structured output and annotations end to end: a real
`guru-mcp serve` (stdio and HTTP), a real Docker sandbox, the official `mcp` SDK client, both
protocol generations."""

import json
import time
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import accept_confirmation, api_action, decline_confirmation
from tests.e2e.conftest import GURU, cli, serve_http

MODES = ["legacy", "2026-07-28"]
TRANSPORTS = ["stdio", "http"]

THREE_LINES = (
    "import time\n"
    "for step in ('fetching', 'crunching', 'writing'):\n"
    "    print(step, flush=True)\n"
    "    time.sleep(0.4)\n"
    "progress(1, 'all done')\n"
)
LONG_RUN = (
    "import socket, time\nprint('box', socket.gethostname(), flush=True)\ntime.sleep(30)\nprint('finished')\n"
)


def python_action(name: str, code: str, **extra) -> dict:
    return {"name": name, "action_type": "PYTHON_CODE", "config": {"code": code, "timeout": 60}, **extra}


def import_actions(env, tmp_path, *actions) -> None:
    path = tmp_path / "actions.json"
    path.write_text(json.dumps(list(actions)))
    cli(env, "actions", "import", str(path))


@asynccontextmanager
async def client_for(transport: str, env: dict, mode: str, **kw):
    """An admin client of a fresh `guru-mcp serve` over `transport`."""
    if transport == "stdio":
        params = StdioServerParameters(command=GURU, args=["serve", "--admin"], env=env)
        async with Client(params, mode=mode, read_timeout_seconds=120, **kw) as client:
            yield client
        return
    admin = cli(env, "tokens", "create", "--admin", "--email", "ada@corp.example").stdout.strip()
    with serve_http(env, admin, "") as server:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {admin}"}, timeout=120) as http:
            transport_ = streamable_http_client(server.url, http_client=http)
            async with Client(transport_, mode=mode, read_timeout_seconds=120, **kw) as client:
                yield client


async def runs_of(client: Client, action: str) -> list[dict]:
    listed = await client.call_tool("admin_runs_list", {"action": action})
    return listed.structured_content["runs"]


async def wait_for_run_status(client: Client, action: str, status: str, timeout: float = 15) -> dict:
    with anyio.fail_after(timeout):
        while True:
            runs = await runs_of(client, action)
            if runs and runs[0]["status"] == status:
                return runs[0]
            await anyio.sleep(0.1)


async def wait_for_warm_pool(client: Client, timeout: float = 60) -> None:
    with anyio.fail_after(timeout):
        while (await client.call_tool("admin_sandbox_status", {})).structured_content["pool"]["ready"] < 1:
            await anyio.sleep(0.1)


pytestmark = pytest.mark.docker


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_a_python_run_reports_progress_while_it_runs(sandbox_env, tmp_path, transport, mode):
    cli(sandbox_env, "init")
    import_actions(sandbox_env, tmp_path, python_action("three_steps", THREE_LINES))
    seen: list[tuple[float, float, float | None, str]] = []

    async def on_progress(progress, total, message):
        seen.append((time.monotonic(), progress, total, message))

    async with client_for(transport, sandbox_env, mode) as client:
        await client.list_tools()
        result = await client.call_tool("three_steps", {}, progress_callback=on_progress)
        returned = time.monotonic()
    assert not result.is_error, result.content[0].text
    messages = [m for _, _, _, m in seen]
    assert messages[0] == "started three_steps" and messages[-1] == "three_steps finished: ok"
    assert [m for m in messages if m in ("fetching", "crunching", "writing")] == [
        "fetching",
        "crunching",
        "writing",
    ]
    assert "all done" in messages
    values = [p for _, p, _, _ in seen]
    assert values == sorted(values) and len(set(values)) == len(values)
    # The lines arrived while the script was still running, each before the next was printed.
    arrived = {m: t for t, _, _, m in seen}
    assert arrived["fetching"] < arrived["crunching"] < arrived["writing"] <= returned
    assert result.content[0].text == "fetching\ncrunching\nwriting\n"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_cancelling_a_call_kills_its_container_and_records_it_cancelled(
    sandbox_env, tmp_path, docker_api, transport, mode
):
    cli(sandbox_env, "init")
    import_actions(
        sandbox_env, tmp_path, python_action("long_job", LONG_RUN), python_action("quick", "print('hi')")
    )
    box = anyio.Event()
    found: dict[str, str] = {}

    async def on_progress(progress, total, message):
        if message.startswith("box "):
            found["host"] = message.split()[1]
            box.set()

    async with client_for(transport, sandbox_env, mode) as client:
        await client.list_tools()
        await wait_for_warm_pool(client)
        cold_before = (await client.call_tool("admin_sandbox_status", {})).structured_content["cold_starts"]
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: client.call_tool("long_job", {}, progress_callback=on_progress))
            with anyio.fail_after(60):
                await box.wait()
            (container,) = [c for c in docker_api.containers() if c["Id"].startswith(found["host"])]
            tg.cancel_scope.cancel()
        # The container ends at once (deadline wait on the Docker API; 2 s is what the issue asks).
        deadline = time.monotonic() + 2.0
        while True:
            running = [c for c in docker_api.containers() if c["Id"] == container["Id"]]
            if not running:
                break
            assert time.monotonic() < deadline, "the cancelled run's container is still running after 2 s"
            await anyio.sleep(0.05)
        run = await wait_for_run_status(client, "long_job", "cancelled")
        assert "finished" not in run["output"]
        # The warm pool was not touched: it refills and the next run is served from it.
        await wait_for_warm_pool(client)
        quick = await client.call_tool("quick", {})
        assert not quick.is_error and quick.content[0].text == "hi\n"
        after = (await client.call_tool("admin_sandbox_status", {})).structured_content
        assert after["cold_starts"] == cold_before


PTO_SCHEMA = {
    "type": "object",
    "properties": {"user": {"type": "string"}, "remaining": {"type": "integer"}},
    "required": ["user", "remaining"],
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_a_python_action_returns_structured_content_from_its_last_line(sandbox_env, tmp_path, mode):
    cli(sandbox_env, "init")
    good = "import json, os\nprint('looking up')\nprint(json.dumps({'user': os.environ['GURUBASE_USER_EMAIL'], 'remaining': 12}))"
    bad = "import json\nprint(json.dumps({'user': 'x', 'remaining': 'twelve'}))"
    import_actions(
        sandbox_env,
        tmp_path,
        python_action(
            "balance", good, output_schema=PTO_SCHEMA, annotations={"read_only": True, "idempotent": True}
        ),
        python_action("broken_balance", bad, output_schema=PTO_SCHEMA),
    )
    async with client_for("stdio", sandbox_env, mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        ok = await client.call_tool("balance", {})
        wrong = await client.call_tool("broken_balance", {})
        runs = await runs_of(client, "broken_balance")
    assert tools["balance"].output_schema == PTO_SCHEMA
    assert (
        tools["balance"].annotations.read_only_hint is True
        and tools["balance"].annotations.idempotent_hint is True
    )
    assert tools["broken_balance"].annotations.read_only_hint is False
    assert not ok.is_error and ok.structured_content == {"user": "sam@corp.example", "remaining": 12}
    assert ok.content[0].text.startswith("looking up\n")
    assert wrong.is_error and "remaining: 'twelve' is not of type 'integer'" in wrong.content[0].text
    assert runs[0]["status"] == "error" and "remaining" in runs[0]["error"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_over_stdio_a_confirmed_call_runs_and_a_declined_one_is_recorded_denied(
    cli_env, tmp_path, echo_server, mode
):
    cli(cli_env, "init")
    import_actions(
        cli_env,
        tmp_path,
        api_action(
            "cancel_booking",
            echo_server.url + "/bookings/{booking}",
            method="DELETE",
            parameters=[{"name": "booking", "required": True}],
        ),
    )
    answers = [accept_confirmation, decline_confirmation]
    asked: list[str] = []

    async def user(ctx, params):
        asked.append(params.message)
        return await answers[len(asked) - 1](ctx, params)

    async with client_for("stdio", cli_env, mode, elicitation_callback=user) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        done = await client.call_tool("cancel_booking", {"booking": "B-1"})
        refused = await client.call_tool("cancel_booking", {"booking": "B-2"})
        runs = await runs_of(client, "cancel_booking")
    assert tools["cancel_booking"].annotations.destructive_hint is True
    assert not done.is_error and refused.is_error
    assert [r["path"] for r in echo_server.requests] == ["/bookings/B-1"]
    assert "cancel_booking" in asked[0] and "B-1" in asked[0] and "B-2" in asked[1]
    assert [r["status"] for r in runs] == ["denied", "ok"]
    assert runs[0]["inputs"] == {"booking": "B-2"}
