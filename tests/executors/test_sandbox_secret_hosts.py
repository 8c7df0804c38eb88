"""A Python action's host-limited secret, end to end through a real Docker sandbox and its egress proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.executors.test_sandbox import SECRET, LocalServer, local_server, make_job, ok, sandbox  # noqa: F401

pytestmark = pytest.mark.anyio

SEND_KEY = (
    "import os, urllib.request, urllib.error\n"
    "request = urllib.request.Request(os.environ['URL'], headers={'X-Api-Key': os.environ['API_KEY']})\n"
    "try:\n"
    "    print(urllib.request.urlopen(request, timeout=10).read().decode())\n"
    "except urllib.error.HTTPError as exc:\n"
    "    print(exc.code, exc.read().decode().strip())\n"
)


def job_for(url: str, hosts: list[str]):
    job = make_job(SEND_KEY, arguments={"URL": url}, secrets={"API_KEY": SECRET})
    return job.model_copy(update={"secret_hosts": {"API_KEY": hosts}})


@pytest.mark.docker
async def test_a_python_action_cannot_send_a_host_limited_secret_elsewhere(
    sandbox_image: str, tmp_path: Path, local_server: LocalServer
):
    async with sandbox(sandbox_image, tmp_path) as executor:
        refused = await executor.execute(job_for(local_server.url + "/x", ["api.example.com"]))
        allowed = await executor.execute(job_for(local_server.url + "/y", ["127.0.0.1"]))
    assert ok(refused).startswith(
        "403 guru-mcp egress proxy: egress refused: secret API_KEY may only be sent to api.example.com, not 127.0.0.1"
    )
    assert ok(allowed) == "hello from /y\n"
    assert local_server.paths == ["/y"]
