"""The sandbox's OCI runtime (`sandbox_runtime`): which one the containers name, and what happens when
it is missing or fails. Real engine; containers talk to nothing."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
import pytest
from docker import APIClient

from guru_mcp.errors import SandboxUnavailable
from guru_mcp.executors import engine as engine_module
from guru_mcp.executors.engine import PREFERRED_RUNTIME, resolve_runtime
from guru_mcp.executors.sandbox import open_sandbox
from guru_mcp.settings import Settings
from tests.executors.test_sandbox import LOOPBACK, containers_of, make_job, ok, sandbox

pytestmark = pytest.mark.anyio


def test_the_setting_resolves_against_what_the_engine_has_registered():
    assert resolve_runtime("default", {"runc", "crun"}) is None
    assert resolve_runtime("auto", {"runc", "crun"}) == PREFERRED_RUNTIME == "crun"
    assert resolve_runtime("auto", {"runc"}) is None
    assert resolve_runtime("runc", {"runc"}) == "runc"
    with pytest.raises(ValueError) as refused:
        resolve_runtime("kata", {"runc", "crun"})
    message = str(refused.value)
    assert "'kata'" in message and "crun, runc" in message and "daemon.json" in message


@pytest.mark.docker
async def test_a_runtime_the_engine_does_not_know_makes_the_sandbox_unavailable_saying_so(
    sandbox_image: str, tmp_path: Path
):
    values = Settings(home=tmp_path / "home", sandbox_pool_size=0, sandbox_runtime="guru-no-such-runtime")
    async with open_sandbox(values, LOOPBACK, image=sandbox_image) as executor:
        status = executor.status()
        assert not status["available"]
        assert "'guru-no-such-runtime'" in status["reason"] and "not registered" in status["reason"]
        with pytest.raises(SandboxUnavailable, match="guru-no-such-runtime"):
            await executor.execute(make_job("print(1)"))


@pytest.mark.docker
@pytest.mark.parametrize("setting", ["auto", "default"])
async def test_the_containers_run_on_the_resolved_runtime(
    sandbox_image: str, tmp_path: Path, docker_api: APIClient, setting: str
):
    info = docker_api.info()
    registered = set(info.get("Runtimes") or {})
    named = resolve_runtime(setting, registered)
    expected = named or info.get("DefaultRuntime", "runc")
    async with sandbox(sandbox_image, tmp_path, sandbox_pool_size=1, sandbox_runtime=setting) as executor:
        await executor.wait_warm(60)
        waiting = await anyio.to_thread.run_sync(containers_of, docker_api, executor)
        assert len(waiting) == 1
        inspected = docker_api.inspect_container(waiting[0]["Id"])
        assert inspected["HostConfig"]["Runtime"] == expected
        assert executor.status()["engine"]["runtime"] == (named or "default")
        assert ok(await executor.execute(make_job("print(6 * 7)"))).strip() == "42"


@pytest.mark.docker
async def test_an_automatically_chosen_runtime_that_fails_gives_way_to_the_engines_default(
    sandbox_image: str, tmp_path: Path, docker_api: APIClient, monkeypatch: pytest.MonkeyPatch
):
    # As if `auto` had picked a runtime that cannot start containers on this host (crun on a cgroup
    # hybrid with controllers on v2): the engine refuses the container, the run still succeeds.
    monkeypatch.setattr(engine_module, "resolve_runtime", lambda setting, registered: "guru-broken-runtime")
    async with sandbox(sandbox_image, tmp_path, sandbox_runtime="auto") as executor:
        assert executor.status()["engine"]["runtime"] == "guru-broken-runtime"
        assert ok(await executor.execute(make_job("print('still ran')"))).strip() == "still ran"
        status = executor.status()
        assert status["engine"]["runtime"] == "default"
        assert "guru-broken-runtime" in (status["last_error"] or "")
        assert ok(await executor.execute(make_job("print(2)"))).strip() == "2"
