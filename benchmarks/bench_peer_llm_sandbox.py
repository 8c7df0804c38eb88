"""Python actions against llm-sandbox, the same code on the same image and engine, interleaved in one run.

Rows (each `print(1)`, wall time per run as its caller sees it):

- `guru-mcp warm pool`     our executor, pool of 2: a fresh hardened container per run, started ahead
                           of time (pool full before each timed run), removed after the run;
- `guru-mcp cold`          our executor, pool 0: create + attach + start + run per call;
- `llm-sandbox fresh`      llm-sandbox (pinned in `benchmarks/peer_env.py`, its own venv) with a new
                           `SandboxSession` per run: create + start a container, copy the code in,
                           `exec` python, stop, remove;
- `llm-sandbox session`    one llm-sandbox session kept open, `run()` called on it again and again:
                           the container is REUSED, so runs are NOT isolated from one another (files,
                           processes, anything left by one run is seen by the next). Shown for what
                           the peer's fast path costs, not as a like-for-like figure.

The iterations interleave all four rows, so load drifts hit every row alike. Same image
(`scripts/ensure-sandbox-image.sh`), no network on either side (ours: egress proxy mode over a Unix
socket, the default; llm-sandbox: `network_mode: none`). The peer keeps its own defaults otherwise
(root user, writable root filesystem); ours keeps its hardening (docs/architecture.md section 4).

    python -m benchmarks.bench_peer_llm_sandbox [-n 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from benchmarks import peer_env
from benchmarks._util import Summary, header, load, table
from benchmarks.bench_sandbox_executor import PRINT_1, run_ok, settings
from guru_mcp.egress import EgressPolicy
from guru_mcp.executors.sandbox import open_sandbox

PEER = "llm-sandbox"
PEER_SCRIPT = Path(__file__).resolve().parent / "peers" / "llm_sandbox_runner.py"
DEADLINE = 900.0
ANSWER_TIMEOUT = 120.0


class Peer:
    """The peer script in its venv, one command per line, one JSON answer per line."""

    def __init__(self, image: str) -> None:
        self.proc: subprocess.Popen[str] = peer_env.peer_popen(
            PEER, [str(PEER_SCRIPT), image], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ask(self, command: str) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {PEER} script ended (exit {self.proc.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer or answer.get("stdout", "").strip() != "1":
            raise RuntimeError(f"unexpected {PEER} answer: {answer}")
        return float(answer["seconds"])

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)


async def main(n: int) -> None:
    header("Python action: guru-mcp sandbox vs llm-sandbox, same image, print(1)")
    stop_at = time.monotonic() + DEADLINE
    policy = EgressPolicy(["127.0.0.1"])
    samples: dict[str, list[float]] = {
        "guru-mcp warm pool": [],
        "guru-mcp cold": [],
        "llm-sandbox fresh": [],
        "llm-sandbox session (reused, NOT isolated)": [],
    }
    with tempfile.TemporaryDirectory(prefix="guru-bench-") as tmp:
        home = Path(tmp)
        async with (
            open_sandbox(settings(home, sandbox_pool_size=2), policy) as warm,
            open_sandbox(settings(home, sandbox_pool_size=0), policy) as cold,
        ):
            status = warm.status()
            if not status["available"]:
                sys.exit(f"sandbox unavailable: {status['reason']}")
            image = warm.image
            assert image is not None
            try:
                python = await anyio.to_thread.run_sync(peer_env.peer_python, PEER)
            except peer_env.PeerEnvUnavailable as exc:
                sys.exit(f"{PEER} unavailable: {exc}")
            print(
                f"image {image}, engine {status['engine']['version']}, runtime {status['engine']['runtime']}; "
                f"peer {PEER} {peer_env.peer_version(PEER)} ({python})"
            )
            peer = Peer(image)
            try:

                async def settle() -> None:
                    await warm.wait_warm(120)  # nothing of ours runs in the background while timing
                    await cold.wait_warm(120)

                async def ours(executor: Any) -> float:
                    await settle()
                    started = time.perf_counter()
                    await run_ok(executor, PRINT_1, "1")
                    return time.perf_counter() - started

                async def theirs(command: str) -> float:
                    await settle()
                    return await anyio.to_thread.run_sync(peer.ask, command)

                for _ in range(2):  # warm-up: imports, first containers, the peer's first session
                    await ours(warm)
                    await ours(cold)
                    await theirs("fresh")
                    await theirs("session")
                for _ in range(n):
                    samples["guru-mcp warm pool"].append(await ours(warm))
                    samples["guru-mcp cold"].append(await ours(cold))
                    samples["llm-sandbox fresh"].append(await theirs("fresh"))
                    samples["llm-sandbox session (reused, NOT isolated)"].append(await theirs("session"))
                    if time.monotonic() > stop_at:
                        raise TimeoutError(f"the benchmark ran past its {DEADLINE:g} s deadline")
            finally:
                await anyio.to_thread.run_sync(peer.close)
    rows = [(label, Summary.of(values)) for label, values in samples.items()]
    print(table(rows, title=f"\nprint(1) per run, wall time (ms), {n} interleaved iterations"))
    figures = dict(rows)
    fresh = figures["llm-sandbox fresh"].p50
    session = figures["llm-sandbox session (reused, NOT isolated)"].p50
    print("\nRatios of p50 (a new container per run on both sides unless said):")
    print(f"  llm-sandbox fresh / guru-mcp warm pool   {fresh / figures['guru-mcp warm pool'].p50:6.1f}x")
    print(f"  llm-sandbox fresh / guru-mcp cold        {fresh / figures['guru-mcp cold'].p50:6.1f}x")
    print(
        f"  llm-sandbox session / guru-mcp warm pool {session / figures['guru-mcp warm pool'].p50:6.1f}x "
        "(the peer reuses its container: not isolated)"
    )
    print(f"\n{load()} at the end, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--iterations", "-n", type=int, default=20, help="interleaved iterations (default 20)"
    )
    args = parser.parse_args()
    anyio.run(main, args.iterations)
