"""A server killed mid-run (SIGKILL: no clean-up at all) leaves its run `running`; the next server
to start, right away, settles it as `cancelled` because the process that owned it is not alive,
not because the run is old."""

from __future__ import annotations

import json

import pytest

from tests.conftest import api_action
from tests.e2e.conftest import StdioServer, cli, database, runs
from tests.support.http import EchoServer
from tests.support.polling import wait_for


@pytest.mark.timeout(120)
def test_a_run_cut_off_by_a_kill_is_cancelled_soon_after_an_immediate_restart(
    cli_env, echo_server: EchoServer, tmp_path
) -> None:
    env = cli_env | {"GURU_MCP_PROCESS_LAPSE": "1"}
    cli(env, "init")
    (tmp_path / "slow.json").write_text(json.dumps(api_action("slow", echo_server.url + "/slow", timeout=60)))
    cli(env, "actions", "import", str(tmp_path / "slow.json"))
    db = database(env)
    first = StdioServer(env, tmp_path / "first.log")
    try:
        first.call("slow")
        wait_for(lambda: [r["status"] for r in runs(db)] == ["running"], timeout=30)
        first.process.kill()
        first.process.wait(10)
        second = StdioServer(env, tmp_path / "second.log")
        try:
            wait_for(lambda: runs(db)[0]["status"] != "running", timeout=30)
            [run] = runs(db)
            assert run["status"] == "cancelled"
            assert run["error"] == "the server running it stopped"
            assert run["ended_at"] is not None
        finally:
            second.stop()
    finally:
        first.stop()
        echo_server.gate.set()
        db.dispose()
