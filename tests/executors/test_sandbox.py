"""The Docker sandbox executor against the real engine: isolation, limits, egress, the warm pool.

Every test talks only to 127.0.0.1 (a local HTTP server started here) or to nothing at all.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from docker import APIClient

from guru_mcp.egress import EgressPolicy
from guru_mcp.errors import SandboxUnavailable
from guru_mcp.executors.container import LABEL, LABEL_HOST, LABEL_INSTANCE, LABEL_PID
from guru_mcp.executors.sandbox import SandboxExecutor, open_sandbox
from guru_mcp.models import ActionSpec, ExecResult, Job, RunStatus
from guru_mcp.settings import Settings
from tests.support.http import QuietHandler, loopback_http
from tests.support.polling import eventually

pytestmark = pytest.mark.anyio

SECRET = "sk-live-9f8e7d6c5b4a3210"
LOOPBACK = EgressPolicy(["127.0.0.1"])


# --- helpers ----------------------------------------------------------------------------------------


def make_job(
    code: str,
    *,
    arguments: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    timeout: float = 20.0,
    allowed_hosts: list[str] | None = None,
) -> Job:
    spec = ActionSpec.model_validate(
        {
            "name": "test_action",
            "action_type": "PYTHON_CODE",
            "config": {"code": code, "allowed_hosts": allowed_hosts or []},
            "secrets": sorted(secrets or {}),
        }
    )
    return Job(
        run_id="run-1",
        action=spec,
        arguments=arguments or {},
        builtins={
            "GURUBASE_USER_EMAIL": "ada@corp.example",
            "GURUBASE_USER_NAME": "Ada",
            "GURUBASE_USER_GROUPS": "ops,hr",
            "GURUBASE_GURU_SLUG": "default",
        },
        secrets=secrets or {},
        timeout=timeout,
    )


@asynccontextmanager
async def sandbox(
    image: str, tmp_path: Path, *, policy: EgressPolicy = LOOPBACK, **settings: Any
) -> AsyncIterator[SandboxExecutor]:
    values: dict[str, Any] = {"home": tmp_path / "home", "sandbox_pool_size": 0, "sandbox_preimport": []}
    values.update(settings)
    async with open_sandbox(Settings(**values), policy, image=image) as executor:
        assert executor.status()["available"], executor.status()
        yield executor


def containers_of(api: APIClient, executor: SandboxExecutor) -> list[dict[str, Any]]:
    return api.containers(all=True, filters={"label": f"{LABEL_INSTANCE}={executor.instance}"})


@dataclass
class LocalServer:
    port: int
    paths: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A real HTTP server on 127.0.0.1 answering `hello from <path>`."""
    server = LocalServer(port=0)

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            server.paths.append(self.path)
            self.reply(200, f"hello from {self.path}".encode(), "text/plain")

    with loopback_http(Handler) as running:
        server.port = running.port
        yield server


def ok(result: ExecResult) -> str:
    assert result.status is RunStatus.OK, (result.status, result.error, result.data)
    return result.text


# --- what the code sees -----------------------------------------------------------------------------


@pytest.mark.docker
async def test_parameters_secrets_and_builtins_arrive_in_the_environment_and_stdout_is_the_result(
    sandbox_image: str, tmp_path: Path
):
    code = (
        "import os\n"
        "print(os.environ['city'], os.environ['days'], os.environ['API_KEY'])\n"
        "print(os.getenv('GURUBASE_USER_EMAIL'), os.getenv('GURUBASE_USER_GROUPS'))\n"
        "print('optional' in os.environ)\n"
    )
    job = make_job(code, arguments={"city": "Paris", "days": 3.0}, secrets={"API_KEY": SECRET})
    async with sandbox(sandbox_image, tmp_path) as executor:
        result = await executor.execute(job)
    assert ok(result) == f"Paris 3 {SECRET}\nada@corp.example ops,hr\nFalse\n"
    assert result.data == {
        "success": True,
        "output": result.text,
        "exit_code": 0,
        "truncated": False,
        "stderr": "",
    }
    assert result.hosts == []


@pytest.mark.docker
async def test_docker_inspect_of_a_live_sandbox_shows_no_secret(
    sandbox_image: str, tmp_path: Path, docker_api: APIClient
):
    job = make_job(
        "import time\ntime.sleep(30)",
        arguments={"city": "Atlantis-7"},
        secrets={"API_KEY": SECRET},
        timeout=30,
    )
    async with sandbox(sandbox_image, tmp_path) as executor, anyio.create_task_group() as tg:
        tg.start_soon(executor.execute, job)
        await eventually(lambda: executor.status()["pool"]["in_use"] == 1)
        live = await anyio.to_thread.run_sync(containers_of, docker_api, executor)
        assert len(live) == 1 and live[0]["State"] == "running"
        inspected = json.dumps(await anyio.to_thread.run_sync(docker_api.inspect_container, live[0]["Id"]))
        tg.cancel_scope.cancel()
    assert SECRET not in inspected
    assert "Atlantis-7" not in inspected  # no job data at all in the container's configuration
    assert '"ReadonlyRootfs": true' in inspected and '"Privileged": false' in inspected


@pytest.mark.docker
async def test_the_root_is_read_only_and_only_tmp_is_writable(sandbox_image: str, tmp_path: Path):
    code = (
        "import pathlib\n"
        "for path in ('/opt/guru/evil.py', '/etc/evil', '/usr/lib/evil'):\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print(path, 'WRITABLE')\n"
        "    except OSError as exc:\n"
        "        print(path, exc.errno)\n"
        "pathlib.Path('/tmp/ok.txt').write_text('fine')\n"
        "print(pathlib.Path('/tmp/ok.txt').read_text())\n"
    )
    async with sandbox(sandbox_image, tmp_path) as executor:
        output = ok(await executor.execute(make_job(code)))
    assert "WRITABLE" not in output
    assert output.count(" 30\n") == 3  # EROFS
    assert output.endswith("fine\n")


@pytest.mark.docker
async def test_tmp_is_noexec(sandbox_image: str, tmp_path: Path):
    code = (
        "import os, shutil, subprocess\n"
        "shutil.copy('/bin/sh', '/tmp/sh')\n"
        "os.chmod('/tmp/sh', 0o755)\n"
        "try:\n"
        "    subprocess.run(['/tmp/sh', '-c', 'echo EXECUTED'])\n"
        "except PermissionError as exc:\n"
        "    print('refused', exc.errno)\n"
        "print([line.split()[3] for line in open('/proc/mounts') if line.split()[1] == '/tmp'])\n"
    )
    async with sandbox(sandbox_image, tmp_path) as executor:
        output = ok(await executor.execute(make_job(code)))
    assert "EXECUTED" not in output
    assert output.startswith("refused 13\n")
    options = output.splitlines()[1]
    assert "noexec" in options and "nosuid" in options and "nodev" in options


@pytest.mark.docker
async def test_capabilities_are_empty_and_privileges_cannot_grow(sandbox_image: str, tmp_path: Path):
    code = (
        "import os\n"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status'))\n"
        "for key in ('CapEff', 'CapPrm', 'CapBnd', 'NoNewPrivs', 'Seccomp'):\n"
        "    print(key, status[key].strip())\n"
        "print('uid', os.getuid(), os.getgid())\n"
    )
    async with sandbox(sandbox_image, tmp_path) as executor:
        output = ok(await executor.execute(make_job(code)))
    assert output.splitlines() == [
        "CapEff 0000000000000000",
        "CapPrm 0000000000000000",
        "CapBnd 0000000000000000",
        "NoNewPrivs 1",
        "Seccomp 2",  # Docker's default seccomp profile is active
        "uid 10001 10001",
    ]


# --- limits -----------------------------------------------------------------------------------------


@pytest.mark.docker
async def test_a_fork_bomb_is_contained(sandbox_image: str, tmp_path: Path, docker_api: APIClient):
    counted = (
        "import os, time\n"
        "n = 0\n"
        "try:\n"
        "    while n < 1000:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "except OSError as exc:\n"
        "    print('stopped after', n, 'forks')\n"
    )
    classic = "import os\nwhile True:\n    os.fork()\n"
    async with sandbox(sandbox_image, tmp_path) as executor:
        output = ok(await executor.execute(make_job(counted)))
        started = time.monotonic()
        bomb = await executor.execute(make_job(classic, timeout=3))
        elapsed = time.monotonic() - started

        # The first run's container is removed in the background: wait for it with a deadline.
        async def removed() -> bool:
            return not await anyio.to_thread.run_sync(containers_of, docker_api, executor)

        await eventually(removed, timeout=15, interval=0.05)
    assert output.startswith("stopped after ")
    assert int(output.split()[2]) < 128
    assert bomb.status in (RunStatus.TIMEOUT, RunStatus.ERROR)
    assert elapsed < 20


@pytest.mark.docker
async def test_a_memory_bomb_gives_a_clear_memory_error(sandbox_image: str, tmp_path: Path):
    code = "chunks = []\nwhile True:\n    chunks.append(b'x' * (32 << 20))\n"
    async with sandbox(sandbox_image, tmp_path) as executor:
        result = await executor.execute(make_job(code, timeout=30))
    assert result.status is RunStatus.ERROR
    assert result.error == "memory limit (512m) exceeded"
    assert result.text.startswith("memory limit (512m) exceeded")


@pytest.mark.docker
async def test_an_endless_loop_stops_at_the_timeout_and_its_container_is_gone(
    sandbox_image: str, tmp_path: Path, docker_api: APIClient
):
    async with sandbox(sandbox_image, tmp_path) as executor:
        started = time.monotonic()
        result = await executor.execute(make_job("while True:\n    pass\n", timeout=1.5))
        elapsed = time.monotonic() - started
        left = await anyio.to_thread.run_sync(containers_of, docker_api, executor)
    assert result.status is RunStatus.TIMEOUT
    assert result.error == "timed out after 1.5 s; the sandbox was stopped and removed"
    assert 1.5 <= elapsed < 10
    assert left == []


@pytest.mark.docker
async def test_a_timeout_keeps_the_output_printed_before_it(
    sandbox_image: str, tmp_path: Path, docker_api: APIClient
):
    code = "import time\nprint('step 1 done', flush=True)\nprint('step 2 started')\ntime.sleep(60)\n"
    async with sandbox(sandbox_image, tmp_path) as executor:
        result = await executor.execute(make_job(code, timeout=1.5))
        left = await anyio.to_thread.run_sync(containers_of, docker_api, executor)
    assert result.status is RunStatus.TIMEOUT and result.truncated
    assert result.error == "timed out after 1.5 s; the sandbox was stopped and removed"
    assert "step 1 done\nstep 2 started" in result.text and "[truncated by the timeout]" in result.text
    assert result.data["output"] == "step 1 done\nstep 2 started\n" and result.data["truncated"] is True
    assert left == []


@pytest.mark.docker
async def test_an_engine_lost_mid_run_is_named_as_such(sandbox_image: str, tmp_path: Path, monkeypatch):
    """The engine's API fails while the run is going (as when dockerd stops): the run fails saying
    the engine went away, not with an internal error."""
    import requests

    from guru_mcp.errors import RunFailure
    from guru_mcp.executors import fleet

    def engine_gone(api, box):  # the seam: the engine call made after the stream ended
        raise requests.exceptions.ConnectionError("('Connection aborted.', FileNotFoundError(2))")

    async with sandbox(sandbox_image, tmp_path) as executor:
        monkeypatch.setattr(fleet, "state_blocking", engine_gone)
        with pytest.raises(RunFailure, match="the Docker engine went away during the run"):
            await executor.execute(make_job("import os\nos._exit(3)\n"))


@pytest.mark.docker
async def test_an_output_flood_is_truncated(sandbox_image: str, tmp_path: Path):
    code = "import sys\nfor _ in range(2000):\n    sys.stdout.write('x' * 10_000)\nprint('the end')\n"
    async with sandbox(sandbox_image, tmp_path, sandbox_output_limit=4096) as executor:
        result = await executor.execute(make_job(code))
    assert result.status is RunStatus.OK
    assert result.truncated is True and result.data["truncated"] is True
    assert result.data["output"] == "x" * 4096
    assert "[output truncated at 4096 bytes]" in result.text


@pytest.mark.docker
async def test_a_non_zero_exit_is_an_error_with_the_stderr_tail(sandbox_image: str, tmp_path: Path):
    code = "print('partial')\nraise ValueError('no such employee')\n"
    async with sandbox(sandbox_image, tmp_path) as executor:
        result = await executor.execute(make_job(code))
    assert result.status is RunStatus.ERROR
    assert result.error.startswith("the script exited with code 1:\nTraceback")
    assert result.error.endswith("ValueError: no such employee")
    assert result.data["exit_code"] == 1 and result.data["output"] == "partial\n"
    assert "partial" in result.text


@pytest.mark.docker
async def test_cancelling_a_run_kills_and_removes_its_container(
    sandbox_image: str, tmp_path: Path, docker_api: APIClient
):
    async with sandbox(sandbox_image, tmp_path) as executor:
        async with anyio.create_task_group() as tg:
            tg.start_soon(executor.execute, make_job("import time\ntime.sleep(60)", timeout=60))
            await eventually(lambda: executor.status()["pool"]["in_use"] == 1)
            tg.cancel_scope.cancel()
        assert await anyio.to_thread.run_sync(containers_of, docker_api, executor) == []
        assert executor.status()["pool"]["in_use"] == 0


@pytest.mark.docker
async def test_shutting_down_during_a_run_ends_the_run_and_removes_its_container(
    sandbox_image: str, tmp_path: Path, docker_api: APIClient
):
    outcome: list[object] = []
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        async with sandbox(sandbox_image, tmp_path, sandbox_pool_size=1) as executor:

            async def run() -> None:
                outcome.append(await executor.execute(make_job("import time\ntime.sleep(60)", timeout=60)))

            tg.start_soon(run)
            await eventually(lambda: executor.status()["pool"]["in_use"] == 1)
        # the executor has shut down with the run in flight
    assert time.monotonic() - started < 30
    [result] = outcome
    assert isinstance(result, ExecResult) and result.status is RunStatus.ERROR
    assert "shut down during the run" in result.error
    assert await anyio.to_thread.run_sync(containers_of, docker_api, executor) == []


# --- egress -----------------------------------------------------------------------------------------


@pytest.mark.docker
async def test_an_action_reaches_a_local_http_server_through_the_proxy_and_its_host_is_recorded(
    sandbox_image: str, tmp_path: Path, local_server: LocalServer
):
    code = (
        "import os, http.client, urllib.request\n"
        "print(urllib.request.urlopen(os.environ['URL'] + '/plain', timeout=10).read().decode())\n"
        "tunnel = http.client.HTTPConnection('127.0.0.1', 3128, timeout=10)\n"  # what HTTPS clients do
        "tunnel.set_tunnel('127.0.0.1', int(os.environ['PORT']))\n"
        "tunnel.request('GET', '/tunnel')\n"
        "print(tunnel.getresponse().read().decode())\n"
        "try:\n"
        "    import requests, httpx\n"
        "except ImportError:\n"
        "    print('no requests/httpx in this image')\n"
        "else:\n"
        "    print(requests.get(os.environ['URL'] + '/requests', timeout=10).text)\n"
        "    print(httpx.get(os.environ['URL'] + '/httpx', timeout=10).text)\n"
    )
    job = make_job(code, arguments={"URL": local_server.url, "PORT": local_server.port})
    async with sandbox(sandbox_image, tmp_path) as executor:
        result = await executor.execute(job)
    lines = ok(result).splitlines()
    assert lines[:2] == ["hello from /plain", "hello from /tunnel"]
    if lines[2] != "no requests/httpx in this image":
        assert lines[2:] == ["hello from /requests", "hello from /httpx"]
    assert result.hosts == ["127.0.0.1"]


@pytest.mark.docker
async def test_the_container_has_no_network_of_its_own(
    sandbox_image: str, tmp_path: Path, local_server: LocalServer
):
    code = (
        "import os, socket\n"
        "print(sorted(line.split(':')[0].strip() for line in list(open('/proc/net/dev'))[2:]))\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', int(os.environ['PORT'])), timeout=3)\n"
        "    print('reached the host directly')\n"
        "except OSError:\n"
        "    print('no direct route')\n"
    )
    async with sandbox(sandbox_image, tmp_path) as executor:
        output = ok(await executor.execute(make_job(code, arguments={"PORT": local_server.port})))
    assert output == "['lo']\nno direct route\n"
    assert local_server.paths == []


@pytest.mark.docker
async def test_the_container_gets_namespaces_of_its_own_not_the_hosts(sandbox_image: str, tmp_path: Path):
    # The containers are created with NetworkDisabled (no libnetwork sandbox): the runtime must still
    # give each one a fresh network namespace, as it does the other namespaces.
    kinds = ("net", "pid", "ipc", "uts", "mnt")
    code = f"import os\nprint(' '.join(os.readlink('/proc/self/ns/' + k) for k in {kinds!r}))\n"
    async with sandbox(sandbox_image, tmp_path) as executor:
        first = ok(await executor.execute(make_job(code))).split()
        second = ok(await executor.execute(make_job(code))).split()
    host = [os.readlink(f"/proc/self/ns/{kind}") for kind in kinds]
    assert len(first) == len(kinds)
    for kind, mine, a, b in zip(kinds, host, first, second, strict=True):
        assert a != mine and b != mine, kind  # (ids of gone namespaces are reused: not compared)


FETCH = (
    "import os, urllib.request, urllib.error\n"
    "try:\n"
    "    print(urllib.request.urlopen(os.environ['URL'], timeout=10).read().decode())\n"
    "except urllib.error.HTTPError as exc:\n"
    "    print(exc.code, exc.read().decode().strip())\n"
)


@pytest.mark.docker
async def test_a_host_refused_by_the_egress_policy_gets_a_403_that_says_why(
    sandbox_image: str, tmp_path: Path, local_server: LocalServer
):
    job = make_job(FETCH, arguments={"URL": f"http://127.0.0.2:{local_server.port}/"})
    async with sandbox(sandbox_image, tmp_path) as executor:
        result = await executor.execute(job)
    assert ok(result).startswith("403 guru-mcp egress proxy: egress refused: 127.0.0.2 is a loopback address")
    assert result.hosts == []
    assert result.data["refused_hosts"] == ["127.0.0.2"]
    assert local_server.paths == []


@pytest.mark.docker
async def test_a_host_outside_the_actions_allowed_hosts_is_refused(
    sandbox_image: str, tmp_path: Path, local_server: LocalServer
):
    refused = make_job(FETCH, arguments={"URL": local_server.url + "/x"}, allowed_hosts=["api.example.com"])
    allowed = make_job(FETCH, arguments={"URL": local_server.url + "/y"}, allowed_hosts=["127.0.0.1"])
    async with sandbox(sandbox_image, tmp_path) as executor:
        no = await executor.execute(refused)
        yes = await executor.execute(allowed)
    assert ok(no).startswith(
        "403 guru-mcp egress proxy: egress refused: 127.0.0.1 is not in this action's allowed hosts"
    )
    assert no.hosts == []
    assert ok(yes) == "hello from /y\n" and yes.hosts == ["127.0.0.1"]
    assert local_server.paths == ["/y"]


@pytest.mark.docker
async def test_egress_mode_none_leaves_the_code_without_any_network(
    sandbox_image: str, tmp_path: Path, local_server: LocalServer
):
    code = FETCH.replace("except urllib.error.HTTPError", "except OSError")
    job = make_job(code, arguments={"URL": local_server.url})
    async with sandbox(sandbox_image, tmp_path, sandbox_egress="none") as executor:
        result = await executor.execute(job)
    assert result.status is RunStatus.ERROR or "hello" not in result.text
    assert local_server.paths == []


# --- the warm pool ----------------------------------------------------------------------------------


@pytest.mark.docker
async def test_pool_containers_are_never_reused(sandbox_image: str, tmp_path: Path, docker_api: APIClient):
    code = (
        "import os, socket\n"
        "print(socket.gethostname(), os.path.exists('/tmp/marker'))\n"
        "open('/tmp/marker', 'w').write('run was here')\n"
    )
    async with sandbox(sandbox_image, tmp_path, sandbox_pool_size=2) as executor:
        await executor.wait_warm(60)
        pooled = {c["Id"][:12] for c in await anyio.to_thread.run_sync(containers_of, docker_api, executor)}
        first = ok(await executor.execute(make_job(code))).split()
        second = ok(await executor.execute(make_job(code))).split()
        assert executor.status()["cold_starts"] == 0  # both runs were served warm
        await executor.wait_warm(60)
        now = {c["Id"][:12] for c in await anyio.to_thread.run_sync(containers_of, docker_api, executor)}
    assert first[1] == second[1] == "False"  # neither run saw another run's /tmp
    assert first[0] != second[0]
    assert {first[0], second[0]} <= pooled  # they came from the pool ...
    assert not {first[0], second[0]} & now  # ... and are gone from the engine


@pytest.mark.docker
async def test_a_burst_larger_than_the_pool_gives_every_run_its_own_container(
    sandbox_image: str, tmp_path: Path
):
    results: list[ExecResult] = []

    async def one() -> None:
        results.append(await executor.execute(make_job("import socket\nprint(socket.gethostname())")))

    async with sandbox(sandbox_image, tmp_path, sandbox_pool_size=1) as executor:
        await executor.wait_warm(60)
        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(one)
        status = executor.status()
    hostnames = [ok(result).strip() for result in results]
    assert len(set(hostnames)) == 6
    assert status["runs"] == 6


@pytest.mark.docker
async def test_pre_imported_modules_are_loaded_before_the_run(sandbox_image: str, tmp_path: Path):
    code = "import sys\nprint('decimal' in sys.modules, 'fractions' in sys.modules)"
    async with sandbox(
        sandbox_image, tmp_path, sandbox_pool_size=1, sandbox_preimport=["decimal"]
    ) as executor:
        await executor.wait_warm(60)
        assert ok(await executor.execute(make_job(code))) == "True False\n"


# --- start-up and failure modes ---------------------------------------------------------------------


@pytest.mark.docker
async def test_leftovers_of_a_dead_server_are_reaped_at_start_up_but_live_ones_are_kept(
    sandbox_image: str, tmp_path: Path, docker_api: APIClient
):
    dead_pid = await anyio.to_thread.run_sync(lambda: subprocess.Popen(["true"]))
    await anyio.to_thread.run_sync(dead_pid.wait)

    def leftover(pid: int, *, start: bool = True) -> str:
        created = docker_api.create_container(
            sandbox_image,
            command=["python3", "-c", "import time; time.sleep(60)"],
            labels={
                LABEL: "1",
                LABEL_INSTANCE: "earlier",
                LABEL_HOST: socket.gethostname(),
                LABEL_PID: str(pid),
            },
            host_config=docker_api.create_host_config(network_mode="none"),
        )
        if start:
            docker_api.start(created["Id"])
        return created["Id"]

    orphan = await anyio.to_thread.run_sync(leftover, dead_pid.pid)
    alive = await anyio.to_thread.run_sync(leftover, os.getpid())  # "another executor of a live server"
    # ... and one that live executor is creating right now (not started yet): never touched either.
    being_created = await anyio.to_thread.run_sync(lambda: leftover(os.getpid(), start=False))
    try:
        async with sandbox(sandbox_image, tmp_path):
            ids = {
                c["Id"]
                for c in docker_api.containers(all=True, filters={"label": f"{LABEL_INSTANCE}=earlier"})
            }
        assert orphan not in ids
        assert alive in ids and being_created in ids
    finally:
        for kept in (alive, being_created):
            await anyio.to_thread.run_sync(lambda k=kept: docker_api.remove_container(k, force=True))


@pytest.mark.docker
async def test_a_missing_image_makes_python_actions_fail_with_a_build_hint(
    docker_api: APIClient, tmp_path: Path
):
    settings = Settings(home=tmp_path, sandbox_pool_size=1)
    async with open_sandbox(settings, LOOPBACK, image="guru-mcp-sandbox:not-built") as executor:
        status = executor.status()
        with pytest.raises(SandboxUnavailable) as caught:
            await executor.execute(make_job("print(1)"))
    assert status["available"] is False and status["image_present"] is False
    assert status["engine"]["reachable"] is True
    assert "guru-mcp sandbox build" in status["reason"]
    assert "guru-mcp-sandbox:not-built" in str(caught.value) and "guru-mcp sandbox build" in str(caught.value)


async def test_without_a_docker_engine_python_actions_fail_clearly_and_the_status_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker-here.sock")
    with anyio.fail_after(30):
        async with open_sandbox(Settings(home=tmp_path), LOOPBACK, image="guru-mcp-sandbox:any") as executor:
            status = executor.status()
            with pytest.raises(SandboxUnavailable) as caught:
                await executor.execute(make_job("print(1)"))
    assert status["available"] is False
    assert status["engine"]["reachable"] is False
    assert "no Docker engine is reachable" in status["reason"] and "dockerd" in status["reason"]
    assert str(caught.value).startswith("Python actions cannot run: no Docker engine is reachable")


@pytest.mark.docker
def test_no_labelled_container_is_left_after_the_suite(docker_api: APIClient):
    # Last in this module: every executor above has shut down, so none of our containers may remain.
    left = docker_api.containers(all=True, filters={"label": [f"{LABEL}=1", f"{LABEL_PID}={os.getpid()}"]})
    assert [c for c in left if c["Labels"].get(LABEL_INSTANCE) != "earlier"] == []
