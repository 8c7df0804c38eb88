"""The README's quick start, followed literally from a fresh home: the commands are parsed from the
README and run as written (from the repository's root), ending in successful tool calls through the
MCP client that `scripts/mcp-call` is. A line ending in `&` is started in the background, and the
next line runs once it said it is serving. The one change to the lines: the example API's port, 8765
in the README, is a free port here (`--port` on `scripts/example-api`, the same number in the URLs),
so that the test does not depend on 8765 being free (other checkouts, parallel test workers)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADING = "### A first tool call in five minutes"
EXAMPLE_PORT = 8765


def quick_start_commands(readme: str) -> list[str]:
    """The lines of the first ```sh block after the quick start's heading, comments kept."""
    start = readme.index(HEADING)
    block = re.search(r"```sh\n(.*?)```", readme[start:], re.S)
    assert block, f"no ```sh block after {HEADING!r}"
    return [
        line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


BACKGROUND = re.compile(r"&\s*(#.*)?$")
"""A line that starts something and leaves it running: `scripts/example-api &   # ...`."""


def on_port(command: str, port: int) -> str:
    """A quick-start line with the example API on `port` instead of the README's 8765."""
    command = command.replace(f"127.0.0.1:{EXAMPLE_PORT}", f"127.0.0.1:{port}")
    return command.replace("scripts/example-api &", f"scripts/example-api --port {port} &", 1)


def test_the_quick_start_block_is_what_this_test_runs():
    lines = quick_start_commands((ROOT / "README.md").read_text())
    assert lines[0].startswith("scripts/example-api &")
    assert sum(f"127.0.0.1:{EXAMPLE_PORT}" in line for line in lines[1:]) == 2, "the secrets name the API"
    moved = [on_port(line, 1234) for line in lines]
    assert moved[0].startswith("scripts/example-api --port 1234 &")
    assert not any(str(EXAMPLE_PORT) in line for line in moved)
    assert sum("127.0.0.1:1234" in line for line in moved[1:]) == 2
    assert lines[-1].startswith("scripts/mcp-call pto_balance_lookup")
    assert [bool(BACKGROUND.search(line)) for line in lines].count(True) == 1


@pytest.mark.docker
def test_the_readme_quick_start_ends_in_successful_tool_calls(tmp_path, sandbox_image):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURU_MCP_")}
    env.update(GURU_MCP_HOME=str(tmp_path / "fresh-home"), GURU_MCP_SANDBOX_POOL_SIZE="1")
    background: list[subprocess.Popen] = []
    outputs: list[tuple[str, subprocess.CompletedProcess]] = []
    try:
        for command in (on_port(c, port) for c in quick_start_commands((ROOT / "README.md").read_text())):
            if BACKGROUND.search(command):
                # bash starts it in the background and exits; its process group is the session's
                process = subprocess.Popen(
                    ["bash", "-c", command],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                    start_new_session=True,
                )
                background.append(process)
                first = process.stdout.readline()
                assert "serving on" in first, f"{command!r} printed {first!r}"
                continue
            done = subprocess.run(
                ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, (
                f"{command!r} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
            outputs.append((command, done))
    finally:
        for process in background:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
    init = next(done for command, done in outputs if command.startswith(".venv/bin/guru-mcp init"))
    assert init.stdout.strip().startswith("gmcp_")
    imported = next(done for command, done in outputs if "actions import" in command).stdout
    assert "disabled" not in imported and imported.count("create") == 3, imported
    booked = next(done for command, done in outputs if "mcp-call submit_pto_request" in command).stdout
    assert '"success": true' in booked and '"status_code": 201' in booked and "pending approval" in booked
    balance = outputs[-1][1].stdout.strip()
    assert balance == "you@example.com: 22 PTO days left (last used 2026-07-01)"
    config = (tmp_path / "fresh-home" / "config.toml").read_text()
    assert config.startswith("# guru-mcp configuration") and '\negress_allow = ["127.0.0.1"]\n' in config


from tests.executors.conftest import docker_api, sandbox_image  # noqa: E402,F401  (fail under CI without Docker)
