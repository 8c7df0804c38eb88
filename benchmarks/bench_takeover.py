"""Schedule take-over: time from SIGKILL of the replica holding a schedule's claim to the other
replica firing that schedule.

Two `guru-mcp serve --transport http` processes share one database (a throw-away SQLite file, or
the PostgreSQL URL given with `--database-url`). One action is scheduled every second, overlap
"skip", and its run holds (a loopback HTTP server answers after 60 s), so the replica that fired
it keeps the schedule's claim and lease. Each round kills that replica with SIGKILL and measures
the wall time until a run of the schedule starts in the other one (its `started_at` in the
database); the killed replica is then started again, and the next round kills whichever holds the
claim. The take-over is bounded by how fast the survivor sees the holder stopped: a dead pid on
the same host is seen at its next sweep (every `GURU_MCP_PROCESS_LAPSE`/3 s), a lapsed heartbeat
after `GURU_MCP_PROCESS_LAPSE` s; then the next due time (at most 1 s away) fires. `--signal STOP`
freezes the holder instead (a hung replica, or one on another host: its pid looks alive), which
measures the heartbeat path.

    python -m benchmarks -k bench_takeover [-- --kills 10] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from benchmarks._util import Summary, guru_command, guru_env, header, table, verdict
from guru_mcp.settings import Settings
from guru_mcp.store import create_db_engine

TARGET_MS = 5000.0
DEADLINE = 60.0


class _Hold(BaseHTTPRequestHandler):
    release = threading.Event()

    def do_GET(self) -> None:
        self.release.wait(60)
        body = b"{}"
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the replica that asked was killed

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, what: str, timeout: float = DEADLINE, interval: float = 0.02):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


class Replica:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.log = log
        with log.open("a") as stderr:
            self.process = subprocess.Popen(
                [
                    guru_command(),
                    "serve",
                    "--transport",
                    "http",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    def up(self) -> bool:
        return "serving MCP" in self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary home")
    parser.add_argument("--signal", choices=["KILL", "STOP"], default="KILL")
    parser.add_argument(
        "--lapse", type=float, default=None, help="GURU_MCP_PROCESS_LAPSE (default: the setting's)"
    )
    args = parser.parse_args()
    header(f"bench_takeover: SIG{args.signal} of the claim holder -> the other replica fires the schedule")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hold)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    hold_url = f"http://127.0.0.1:{httpd.server_address[1]}/hold"

    with tempfile.TemporaryDirectory(prefix="bench-takeover-") as tmp:
        home = Path(tmp) / "home"
        env = guru_env(home) | {"GURU_MCP_SCHEDULER_ENABLED": "true"}
        if args.database_url:
            env["GURU_MCP_DATABASE_URL"] = args.database_url
        if args.lapse:
            env["GURU_MCP_PROCESS_LAPSE"] = str(args.lapse)
        lapse = Settings(
            process_lapse=args.lapse or Settings.model_fields["process_lapse"].default
        ).process_lapse
        print(
            f"database: {'PostgreSQL' if args.database_url else 'SQLite'}; process lapse {lapse:g} s",
            flush=True,
        )
        subprocess.run([guru_command(), "init"], env=env, capture_output=True, check=True, timeout=120)
        action = {
            "name": "hold",
            "action_type": "API_CALL",
            "config": {"endpoint": hold_url, "method": "GET", "timeout": 90},
            "schedule": {"cron": "* * * * * *", "overlap": "skip"},
        }
        (Path(tmp) / "hold.json").write_text(json.dumps(action))
        subprocess.run(
            [guru_command(), "actions", "import", str(Path(tmp) / "hold.json")],
            env=env,
            capture_output=True,
            check=True,
            timeout=120,
        )
        engine = create_db_engine(Settings(home=home, database_url=args.database_url).db_url)

        def holder() -> str | None:
            with engine.connect() as conn:
                row = conn.execute(
                    sa.text(
                        "SELECT process_id FROM runs WHERE trigger = 'schedule' AND status = 'running' "
                        "ORDER BY started_at DESC LIMIT 1"
                    )
                ).first()
            return row[0] if row else None

        def started_by_other(victim: str, after: datetime) -> datetime | None:
            with engine.connect() as conn:
                rows = (
                    conn.execute(
                        sa.text(
                            "SELECT started_at FROM runs WHERE trigger = 'schedule' AND process_id != :v"
                        ),
                        {"v": victim},
                    )
                    .scalars()
                    .all()
                )
            times = [t for t in map(_aware, rows) if t > after]
            return min(times) if times else None

        logs = Path(tmp)
        replicas = [Replica(env, logs / f"replica-{i}.log") for i in range(2)]
        figures: list[float] = []
        try:
            for r in replicas:
                _wait(r.up, "the replicas to start")
            for n in range(args.kills):
                victim_id = _wait(holder, "a run holding the claim")
                pid = int(victim_id.split(":")[1])
                [victim] = [r for r in replicas if r.process.pid == pid]
                killed_at = datetime.now(UTC)
                os.kill(pid, getattr(signal, f"SIG{args.signal}"))
                if args.signal == "KILL":
                    victim.process.wait(10)
                fired = _wait(
                    lambda victim_id=victim_id, killed_at=killed_at: started_by_other(victim_id, killed_at),
                    "the other replica to fire",
                )
                seconds = (fired - killed_at).total_seconds()
                figures.append(seconds)
                print(
                    f"  kill {n + 1:>2}: the other replica fired after {seconds * 1000:7.0f} ms", flush=True
                )
                if args.signal == "STOP":
                    victim.process.kill()
                    victim.process.wait(10)
                again = replicas[replicas.index(victim)] = Replica(env, logs / f"replica-{n + 2}.log")
                _wait(again.up, "the restarted replica")
        finally:
            _Hold.release.set()
            for r in replicas:
                r.stop()
            engine.dispose()
            httpd.shutdown()
        summary = Summary.of(figures)
        print(
            table(
                [(f"SIG{args.signal} -> fired elsewhere", summary)],
                title=f"take-over over {len(figures)} SIG{args.signal}s",
            )
        )
        print(f"p50 {summary.p50:.0f} ms: {verdict(summary.p50, TARGET_MS)}", flush=True)


if __name__ == "__main__":
    main()
