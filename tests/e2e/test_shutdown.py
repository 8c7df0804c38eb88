"""SIGTERM/SIGINT and a closed stdin stop the server cleanly: calls in flight are answered (their
result, or a clear "shutting down" error once the grace period is over), every run record is final,
no container of the server's is left, and the exit status is 0."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import anyio
import pytest

from tests.e2e.conftest import StdioServer, cli, database, runs
from tests.support.http import EchoServer
from tests.support.polling import wait_for


def nap_action(echo: EchoServer) -> dict:
    return {
        "name": "nap",
        "action_type": "API_CALL",
        "parameters": [{"name": "seconds", "type": "number", "description": "how long", "required": True}],
        "config": {"endpoint": echo.url + "/sleep?s={seconds}", "method": "GET", "timeout": 60},
    }


def install(env: dict[str, str], tmp_path: Path, *actions: dict) -> None:
    cli(env, "init")
    for action in actions:
        path = tmp_path / f"{action['name']}.json"
        path.write_text(json.dumps(action))
        cli(env, "actions", "import", str(path))


def text_of(response: dict) -> str:
    return " ".join(c.get("text", "") for c in response["result"]["content"])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_lets_calls_in_flight_finish_then_cancels_the_rest_and_exits_0(
    cli_env, echo_server: EchoServer, tmp_path, signum
) -> None:
    env = cli_env | {"GURU_MCP_SHUTDOWN_GRACE": "2"}
    install(env, tmp_path, nap_action(echo_server))
    db = database(env)
    server = StdioServer(env, tmp_path / "serve.log")
    try:
        short = server.call("nap", {"seconds": 0.5})
        long = server.call("nap", {"seconds": 30})
        wait_for(lambda: len(runs(db)) == 2, timeout=30)
        server.process.send_signal(signum)
        answered = server.response(short)
        assert not answered["result"].get("isError"), answered
        cut = server.response(long)
        assert cut["result"].get("isError") is True
        assert "shutting down" in text_of(cut)
        assert server.process.wait(30) == 0, server.log.read_text()
        statuses = sorted((r["inputs"], r["status"], r["error"]) for r in runs(db))
        assert [s for _, s, _ in statuses] == ["ok", "cancelled"] or sorted(s for _, s, _ in statuses) == [
            "cancelled",
            "ok",
        ]
        [cancelled] = [r for r in runs(db) if r["status"] == "cancelled"]
        assert "shutting down" in cancelled["error"] and cancelled["ended_at"] is not None
    finally:
        server.stop()
        echo_server.gate.set()
        db.dispose()


@pytest.mark.timeout(120)
def test_closing_stdin_answers_the_calls_in_flight_then_exits_0(
    cli_env, echo_server: EchoServer, tmp_path
) -> None:
    install(cli_env, tmp_path, nap_action(echo_server))
    db = database(cli_env)
    server = StdioServer(cli_env, tmp_path / "serve.log")
    try:
        call = server.call("nap", {"seconds": 1})
        wait_for(lambda: len(runs(db)) == 1, timeout=30)
        assert server.process.stdin is not None
        server.process.stdin.close()
        answered = server.response(call)
        assert not answered["result"].get("isError"), answered
        assert server.process.wait(30) == 0, server.log.read_text()
        assert [r["status"] for r in runs(db)] == ["ok"]
    finally:
        server.stop()
        db.dispose()


@pytest.mark.timeout(120)
def test_a_call_arriving_while_the_server_stops_is_refused_and_recorded(
    cli_env, echo_server: EchoServer, tmp_path
) -> None:
    env = cli_env | {"GURU_MCP_SHUTDOWN_GRACE": "5"}
    install(env, tmp_path, nap_action(echo_server))
    db = database(env)
    server = StdioServer(env, tmp_path / "serve.log")
    try:
        holding = server.call("nap", {"seconds": 3})
        wait_for(lambda: len(runs(db)) == 1, timeout=30)
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "shutting down" in server.log.read_text(), timeout=30)
        late = server.call("nap", {"seconds": 0})
        refused = server.response(late)
        assert refused["result"].get("isError") is True and "shutting down" in text_of(refused)
        assert not server.response(holding)["result"].get("isError")
        assert server.process.wait(30) == 0
        assert sorted(r["status"] for r in runs(db)) == ["cancelled", "ok"]
    finally:
        server.stop()
        echo_server.gate.set()
        db.dispose()


def python_sleeper(name: str, seconds: float) -> dict:
    return {
        "name": name,
        "action_type": "PYTHON_CODE",
        "config": {
            "code": f"import time\nprint('started')\ntime.sleep({seconds})\nprint('woke')\n",
            "timeout": 90,
        },
    }


@pytest.mark.docker
@pytest.mark.timeout(180)
@pytest.mark.anyio
async def test_sigterm_over_http_answers_python_runs_removes_every_container_and_exits_0(
    sandbox_env, docker_api, tmp_path
) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from tests.e2e.conftest import GURU, free_port

    env = sandbox_env | {"GURU_MCP_SHUTDOWN_GRACE": "4"}
    admin = cli(env, "init", "--email", "ada@corp.example").stdout.strip()
    for action in (python_sleeper("brief", 1.5), python_sleeper("endless", 80)):
        (tmp_path / f"{action['name']}.json").write_text(json.dumps(action))
        cli(env, "actions", "import", str(tmp_path / f"{action['name']}.json"))
    db = database(env)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = await anyio.to_thread.run_sync(
            lambda: subprocess.Popen(
                [GURU, "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        )
    url = f"http://127.0.0.1:{port}/mcp"

    def containers() -> list[dict]:
        return docker_api.containers(all=True, filters={"label": f"guru-mcp.pid={process.pid}"})

    try:
        wait_for(lambda: "serving MCP" in log.read_text(), timeout=60)
        results: dict[str, object] = {}
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {admin}"}, timeout=120) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:

                async def call(name: str) -> None:
                    results[name] = await client.call_tool(name, {})

                async with anyio.create_task_group() as tg:
                    tg.start_soon(call, "brief")
                    tg.start_soon(call, "endless")
                    await anyio.to_thread.run_sync(lambda: wait_for(lambda: len(runs(db)) == 2, timeout=60))
                    assert containers(), "the runs should be in containers of this server"
                    process.send_signal(signal.SIGTERM)
        brief, endless = results["brief"], results["endless"]
        assert not brief.is_error and "woke" in brief.content[0].text, brief  # type: ignore[attr-defined]
        assert endless.is_error and "shutting down" in endless.content[0].text  # type: ignore[attr-defined]
        assert await anyio.to_thread.run_sync(lambda: process.wait(60)) == 0, log.read_text()
        assert containers() == [], "containers of the stopped server are left"
        assert sorted((r["action_name"], r["status"]) for r in runs(db)) == [
            ("brief", "ok"),
            ("endless", "cancelled"),
        ]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        db.dispose()
