"""llm-sandbox's side of bench_peer_llm_sandbox.py; runs in the peer's own venv (benchmarks/peer_env.py).

    python llm_sandbox_runner.py IMAGE

Reads one command per line on stdin and answers one JSON line per command on stdout:
`fresh` (a SandboxSession opened, `print(1)` run, the session closed: a new container per run),
`session` (`print(1)` in one session kept open across runs: the container is reused, NOT isolated
between runs), `quit`. Each answer: {"seconds": wall time, "stdout": what the code printed}.
The container has no network (`network_mode: none`); the image is never removed (keep_template).
"""

from __future__ import annotations

import json
import sys
import time

from llm_sandbox import SandboxSession

IMAGE = sys.argv[1]
RUNTIME = {
    "network_mode": "none",
    # The image's default command is python3; a sleeping pid 1 keeps the container up for exec_run, and
    # SIGKILL as the stop signal lets close() stop it at once instead of after a 10 s grace period.
    "command": ["sleep", "infinity"],
    "stop_signal": "SIGKILL",
}


def session() -> SandboxSession:
    return SandboxSession(
        lang="python",
        image=IMAGE,
        keep_template=True,
        skip_environment_setup=True,
        runtime_configs=dict(RUNTIME),
    )


def main() -> None:
    kept = None
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "quit":
                break
            started = time.perf_counter()
            if command == "fresh":
                with session() as box:
                    out = box.run("print(1)").stdout
            elif command == "session":
                if kept is None:
                    kept = session()
                    kept.open()
                    kept.run("pass")  # opening is not part of a reused-session run
                    started = time.perf_counter()
                out = kept.run("print(1)").stdout
            else:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
                continue
            print(json.dumps({"seconds": time.perf_counter() - started, "stdout": out}), flush=True)
    finally:
        if kept is not None:
            kept.close()


if __name__ == "__main__":
    main()
