"""Where the CPU of one sandbox container's lifecycle goes: per process and per Docker API call.

Runs `n` containers one after another with the fleet's own recipe and calls (create, attach, start,
the runner's start-up to its ready marker, the job, the runner's exit once its stdin closes, wait,
remove), with a short pause after each call so the engine's trailing work lands in that call's
bucket. Per call it reads:

- exactly, from /proc: dockerd, containerd and this process (utime + stime);
- exactly, from the container's cpuacct cgroup: what ran inside the container (the runtime's init
  once it joined the cgroup, the runner);
- sampled (`perf record -a`, 997 Hz, CLOCK_MONOTONIC timestamps bucketed by call) when perf is
  there and we are root: the short-lived processes /proc cannot follow, since the shim is re-parented
  to init and its CPU never reaches a parent we can read: containerd-shim*, runc/crun, the
  libnetwork-setkey hook (a re-exec of dockerd, `exe`), and the rest of the machine.

    python -m benchmarks.bench_sandbox_lifecycle --breakdown 10 --rounds 0
"""

from __future__ import annotations

import bisect
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from docker import APIClient

from guru_mcp.adapters import attach_socket_raw
from guru_mcp.executors.container import READY_MARKER, ContainerRecipe, Sandbox
from guru_mcp.executors.fleet import create_container_blocking

TICK = os.sysconf("SC_CLK_TCK")
SETTLE = 0.08
"""Seconds of pause after each call (the shim's and the engine's work after a reply)."""
PHASES = ("create", "attach", "start", "ready", "job", "exit", "wait", "remove")
JOB = b'{"code": "print(1)", "env": {}, "max_output": 65536, "timeout": 30, "events": false}\n'


def _recv_until(sock: socket.socket, data: bytearray, marker: bytes, lost: str) -> None:
    """Read from `sock` into `data` until `marker` is in it; `lost` is the error if it closes first."""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(lost)
        data += chunk


def proc_cpu(pid: int, *, children: bool = False) -> float:
    """utime + stime of a live process, seconds; with `children`, also of its reaped children."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return 0.0
    fields = data[data.rindex(")") + 2 :].split()
    return sum(int(x) for x in fields[11 : 15 if children else 13]) / TICK


def _cgroup_cpu(container_id: str) -> float:
    for base in ("/sys/fs/cgroup/cpuacct/docker", "/sys/fs/cgroup/system.slice"):
        for name in (container_id, f"docker-{container_id}.scope"):
            path = Path(base, name, "cpuacct.usage")
            with contextlib.suppress(OSError, ValueError):
                return int(path.read_text()) / 1e9
            path = Path(base, name, "cpu.stat")
            with contextlib.suppress(OSError, ValueError, StopIteration):
                line = next(x for x in path.read_text().splitlines() if x.startswith("usage_usec"))
                return int(line.split()[1]) / 1e6
    return 0.0


def _comm_group(comm: str) -> str:
    if comm.startswith("containerd-shim"):
        return "shim"
    if comm.startswith(("runc", "crun")):
        return "runtime"
    if comm == "exe":
        return "setkey hook"
    if comm in ("dockerd", "containerd"):
        return comm
    return "other"


class _Perf:
    """`perf record -a` for the duration of a `with` block; samples per (phase, comm group)."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="guru-perf-")) / "perf.data"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _Perf:
        if shutil.which("perf") and os.geteuid() == 0:
            self.proc = subprocess.Popen(
                ["perf", "record", "-a", "-F", "997", "-k", "CLOCK_MONOTONIC", "-o", str(self.path)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def buckets(self, marks: list[tuple[float, str]]) -> dict[str, dict[str, float]]:
        """Seconds of CPU (samples / 997) per phase and comm group, samples outside a phase dropped."""
        out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        if self.proc is None:
            return out
        try:
            text = subprocess.run(
                ["perf", "script", "-i", str(self.path), "-F", "comm,pid,time"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            ).stdout
        finally:
            shutil.rmtree(self.path.parent, ignore_errors=True)
        me = os.getpid()
        starts = [t for t, _ in marks]

        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue
            try:
                stamp = float(parts[-1].rstrip(":"))
                pid = int(parts[-2])
            except ValueError:
                continue
            i = bisect.bisect_right(starts, stamp) - 1
            if i < 0 or marks[i][1] == "":
                continue
            comm = " ".join(parts[:-2])
            group = "us" if pid == me else _comm_group(comm)
            out[marks[i][1]][group] += 1 / 997
        return out


def breakdown(api: APIClient, recipe: ContainerRecipe, n: int) -> str:
    """Run `n` lifecycles and return the per-call, per-process table (ms per container)."""
    pids = {name: _pid_of(name) for name in ("dockerd", "containerd")}
    exact: dict[str, dict[str, float]] = {p: defaultdict(float) for p in PHASES}
    marks: list[tuple[float, str]] = []
    me = os.getpid()

    def snapshot() -> dict[str, float]:
        values = {name: proc_cpu(pid) for name, pid in pids.items() if pid is not None}
        values["us"] = proc_cpu(me)
        return values

    with _Perf() as perf:
        for _ in range(n):
            box = Sandbox(recipe)
            current: dict[str, float] = {}
            container_before = 0.0

            def phase(name: str, box: Sandbox = box) -> None:
                nonlocal current, container_before
                now = snapshot()
                inside = (_cgroup_cpu(box.id) if box.id else 0.0) or container_before  # gone once it exited
                if marks and marks[-1][1]:
                    prev = marks[-1][1]
                    for key, value in now.items():
                        exact[prev][key] += value - current[key]
                    exact[prev]["container"] += inside - container_before
                current, container_before = now, inside
                marks.append((time.monotonic(), name))

            try:
                phase("create")
                box.id = create_container_blocking(api, box)
                time.sleep(SETTLE)
                phase("attach")
                attached = api.attach_socket(
                    box.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
                )
                sock = attach_socket_raw(attached)
                time.sleep(SETTLE)
                phase("start")
                api.start(box.id)
                time.sleep(SETTLE)
                phase("ready")
                data = bytearray()
                _recv_until(sock, data, READY_MARKER, "the runner ended before it was ready")
                time.sleep(SETTLE)
                phase("job")
                sock.sendall(JOB)
                _recv_until(sock, data, b'"stdout"', "no result")
                time.sleep(SETTLE)
                phase("exit")
                sock.shutdown(socket.SHUT_WR)
                sock.close()
                attached.close()  # type: ignore[attr-defined]
                time.sleep(0.3)
                phase("wait")
                api.wait(box.id, timeout=10)
                time.sleep(SETTLE)
                phase("remove")
                api.remove_container(box.id, force=True)
                time.sleep(SETTLE)
                phase("")
            finally:
                if box.id is not None:
                    with contextlib.suppress(Exception):
                        api.remove_container(box.id, force=True)
    sampled = perf.buckets(marks)
    return _table(exact, sampled, n, perf.proc is not None)


def _pid_of(name: str) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry}/comm").read_text().strip() == name:
                    return int(entry)
    return None


def _table(
    exact: dict[str, dict[str, float]], sampled: dict[str, dict[str, float]], n: int, have_perf: bool
) -> str:
    cols = ["dockerd", "containerd", "us", "container"]
    perf_cols = ["shim", "runtime", "setkey hook"] if have_perf else []
    header = f"  {'call':<8}" + "".join(f"{c:>11}" for c in cols + perf_cols) + f"{'sum':>9}"
    lines = [header]
    totals: dict[str, float] = defaultdict(float)
    for name in PHASES:
        row = {c: exact[name].get(c, 0.0) for c in cols} | {c: sampled[name].get(c, 0.0) for c in perf_cols}
        for c, v in row.items():
            totals[c] += v
        lines.append(
            f"  {name:<8}"
            + "".join(f"{row[c] * 1000 / n:11.1f}" for c in cols + perf_cols)
            + f"{sum(row.values()) * 1000 / n:9.1f}"
        )
    lines.append(
        f"  {'total':<8}"
        + "".join(f"{totals[c] * 1000 / n:11.1f}" for c in cols + perf_cols)
        + f"{sum(totals.values()) * 1000 / n:9.1f}"
    )
    if have_perf:
        other = sum(sampled[p].get("other", 0.0) for p in PHASES) * 1000 / n
        lines.append(
            f"  (sampled, not in the sum: everything else on the machine during the calls, {other:.0f} ms per"
            " container, including the container's own processes and other work on a shared host)"
        )
    return "\n".join(lines)
