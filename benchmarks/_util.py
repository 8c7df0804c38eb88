"""Shared helpers for the benchmarks: percentiles, printing, a fast loopback HTTP server, and a
stdio `guru-mcp serve` subprocess on a throw-away home.

Everything here talks only to 127.0.0.1. Every wait has a deadline; every subprocess is stopped on
exit (the HTTP server also stops by itself when its parent closes its stdin).

Run `python -m benchmarks._util serve` to start the HTTP server by hand: it prints its port.
"""

from __future__ import annotations

import asyncio
import base64
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
BENCH_SECRET_KEY = base64.b64encode(b"b" * 32).decode()
"""A fixed throw-away master key: benchmark homes hold no real secrets."""


# -- figures ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """Latency figures in milliseconds. Where measured, `cpu_ms` is CPU time per call of this process
    plus any server subprocess, and `server_cpu_ms` the subprocess's share."""

    n: int
    p50: float
    p99: float
    mean: float
    min: float
    max: float
    cpu_ms: float | None = None
    server_cpu_ms: float | None = None

    @classmethod
    def of(
        cls,
        seconds: Sequence[float],
        *,
        cpu_seconds: float | None = None,
        server_cpu_seconds: float | None = None,
    ) -> Summary:
        ms = [s * 1000 for s in seconds]
        return cls(
            n=len(ms),
            p50=percentile(ms, 50),
            p99=percentile(ms, 99),
            mean=statistics.fmean(ms),
            min=min(ms),
            max=max(ms),
            cpu_ms=None if cpu_seconds is None else cpu_seconds * 1000 / len(ms),
            server_cpu_ms=None if server_cpu_seconds is None else server_cpu_seconds * 1000 / len(ms),
        )


def table(rows: Sequence[tuple[str, Summary]], *, title: str) -> str:
    width = max(len(label) for label, _ in rows)
    cpu = any(s.cpu_ms is not None for _, s in rows)
    server = any(s.server_cpu_ms is not None for _, s in rows)
    head = f"  {'':<{width}}  {'n':>5}  {'p50 ms':>9}  {'p99 ms':>9}  {'mean ms':>9}  {'min ms':>8}  {'max ms':>8}"
    head += f"  {'cpu ms/call':>11}" if cpu else ""
    head += f"  {'of it server':>12}" if server else ""
    lines = [title, head]
    for label, s in rows:
        line = f"  {label:<{width}}  {s.n:>5}  {s.p50:>9.3f}  {s.p99:>9.3f}  {s.mean:>9.3f}  {s.min:>8.3f}  {s.max:>8.3f}"
        if cpu:
            line += f"  {s.cpu_ms:>11.3f}" if s.cpu_ms is not None else f"  {'-':>11}"
        if server:
            line += f"  {s.server_cpu_ms:>12.3f}" if s.server_cpu_ms is not None else f"  {'-':>12}"
        lines.append(line)
    return "\n".join(lines)


def verdict(value_ms: float, target_ms: float) -> str:
    return f"{'MET' if value_ms < target_ms else 'MISSED'} (target < {target_ms:g} ms)"


# -- CPU accounting: wall-clock figures on a shared machine include waiting for a CPU --------------

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pids: Sequence[int] = ()) -> float:
    """CPU time (user + system) of this process plus the processes `pids`, in seconds."""
    return time.process_time() + processes_cpu_seconds(pids)


def processes_cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time (user + system) of the processes `pids` (Linux /proc; 10 ms ticks), in seconds."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    return total


def child_pids(*needles: str) -> list[int]:
    """Our child processes whose command line holds every one of `needles` (Linux; else [])."""
    found: list[int] = []
    for children in Path("/proc/self/task").glob("*/children"):
        try:
            pids = [int(p) for p in children.read_text().split()]
        except OSError:
            continue
        for pid in pids:
            try:
                cmdline = (
                    Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
            except OSError:
                continue
            if all(n in cmdline for n in needles):
                found.append(pid)
    return sorted(set(found))


async def measure(
    variants: Sequence[tuple[str, Callable[[], Awaitable[Any]]]],
    *,
    iterations: int,
    warmup: int,
    block: int = 50,
    deadline: float = 600.0,
    cpu_pids: dict[str, Sequence[int]] | None = None,
) -> dict[str, Summary]:
    """Time each variant `iterations` times after `warmup` untimed calls.

    Variants are interleaved in blocks so that drift (caches, a growing database, other load on the
    machine) falls on all of them alike. CPU time per call counts this process plus, per variant, the
    processes in `cpu_pids` (e.g. a server subprocess). Raises TimeoutError past `deadline` seconds.
    """
    stop_at = time.monotonic() + deadline
    for _, call in variants:
        for _ in range(warmup):
            await call()
    samples: dict[str, list[float]] = {label: [] for label, _ in variants}
    own: dict[str, float] = {label: 0.0 for label, _ in variants}
    others: dict[str, float] = {label: 0.0 for label, _ in variants}
    done = 0
    while done < iterations:
        step = min(block, iterations - done)
        for label, call in variants:
            pids = (cpu_pids or {}).get(label, ())
            out = samples[label]
            own_before, others_before = time.process_time(), processes_cpu_seconds(pids)
            for _ in range(step):
                started = time.perf_counter()
                await call()
                out.append(time.perf_counter() - started)
            own[label] += time.process_time() - own_before
            others[label] += processes_cpu_seconds(pids) - others_before
            if time.monotonic() > stop_at:
                raise TimeoutError(f"the benchmark ran past its {deadline:g} s deadline")
        done += step
    return {
        label: Summary.of(
            values,
            cpu_seconds=own[label] + others[label],
            server_cpu_seconds=others[label] if (cpu_pids or {}).get(label) else None,
        )
        for label, values in samples.items()
    }


def iterations_arg(parser: Any, default: int) -> None:
    parser.add_argument(
        "--iterations", "-n", type=int, default=default, help=f"timed calls per variant (default {default})"
    )


# -- a fast loopback HTTP server -------------------------------------------------------------------

_BODY = b'{"ok":true,"item":"42","tags":["a","b"],"count":3}'
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(_BODY)).encode()
    + b"\r\nConnection: keep-alive\r\n\r\n"
    + _BODY
)


class FastHTTP(asyncio.Protocol):
    """Keep-alive HTTP/1.1 that answers every request with one small JSON body. Parses only what
    framing needs (the end of the head and Content-Length), so its cost stays far below the client's."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                key, _, value = line.partition(b":")
                if key.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body, self.buffer = self.buffer[end + 4 : total], self.buffer[total:]
            self.transport.write(self.respond(body))

    def respond(self, body: bytes) -> bytes:
        """The whole response to one request with this body (subclasses answer differently)."""
        return _RESPONSE


async def _serve_http() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FastHTTP, LOOPBACK, 0, backlog=128)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    # Stop when the parent goes away (it closes our stdin), so no server outlives a benchmark.
    gone = loop.create_future()

    class _Stdin(asyncio.Protocol):
        def connection_lost(self, exc: Exception | None) -> None:
            if not gone.done():
                gone.set_result(None)

    await loop.connect_read_pipe(_Stdin, sys.stdin)
    async with server:
        await gone


@contextmanager
def http_server(timeout: float = 15.0) -> Iterator[str]:
    """Start the fast HTTP server in its own process (so it does not compete for our GIL); yields
    its base URL, `http://127.0.0.1:PORT`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._util", "serve"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": _pythonpath()},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = _read_line(proc, timeout)
        yield f"http://{LOOPBACK}:{int(port)}"
    finally:
        _stop(proc)


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise TimeoutError("the loopback HTTP server did not start in time")
    line = proc.stdout.readline().strip()
    if not line:
        raise RuntimeError(f"the loopback HTTP server exited (code {proc.poll()})")
    return line


def _stop(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    if proc.stdin:
        proc.stdin.close()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def _pythonpath() -> str:
    current = os.environ.get("PYTHONPATH")
    return f"{REPO}{os.pathsep}{current}" if current else str(REPO)


# -- guru-mcp on a throw-away home -----------------------------------------------------------------


def guru_env(home: Path) -> dict[str, str]:
    """Environment for a `guru-mcp` subprocess: its own home, loopback egress, no Docker, no scheduler."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURU_MCP_")}
    env.update(
        GURU_MCP_HOME=str(home),
        GURU_MCP_SECRET_KEY=BENCH_SECRET_KEY,
        GURU_MCP_EGRESS_ALLOW=LOOPBACK,
        GURU_MCP_SANDBOX_ENABLED="false",
        GURU_MCP_SCHEDULER_ENABLED="false",
    )
    return env


def guru_settings(home: Path) -> Any:
    """The same configuration as `guru_env`, as a Settings object for in-process use."""
    from guru_mcp.settings import Settings

    return Settings(
        home=home,
        secret_key=BENCH_SECRET_KEY,
        egress_allow=[LOOPBACK],
        sandbox_enabled=False,
        scheduler_enabled=False,
    )


def guru_command() -> str:
    """The `guru-mcp` executable of the running interpreter's environment."""
    beside = Path(sys.executable).with_name("guru-mcp")
    if beside.exists():
        return str(beside)
    found = shutil.which("guru-mcp")
    if not found:
        raise RuntimeError("guru-mcp is not installed in this environment (pip install -e .)")
    return found


def guru_cli(home: Path, *args: str, timeout: float = 120.0) -> str:
    """Run one `guru-mcp` CLI command on `home`; returns stdout, raises with stderr on failure."""
    done = subprocess.run(
        [guru_command(), *args], env=guru_env(home), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"guru-mcp {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def stdio_params(home: Path, *extra: str) -> Any:
    """StdioServerParameters for `guru-mcp serve --transport stdio` on `home`."""
    from mcp.client.stdio import StdioServerParameters

    return StdioServerParameters(
        command=guru_command(), args=["serve", "--transport", "stdio", *extra], env=guru_env(home)
    )


def header(title: str) -> None:
    print(f"== {title} ==", flush=True)
    print(f"python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs, {load()}", flush=True)


def load() -> str:
    """The 1-minute load average: figures taken on a busy machine are worth less."""
    try:
        return f"load average {os.getloadavg()[0]:.2f}"
    except OSError:
        return "load average unknown"


def main(argv: list[str]) -> None:
    if argv[:1] == ["serve"]:
        asyncio.run(_serve_http())
        return
    print("usage: python -m benchmarks._util serve", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
