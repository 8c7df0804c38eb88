"""Process liveness: this server's heartbeat, and recovery of what stopped servers left behind.

Every server process has an id (`host:pid:random`) stamped on the runs it starts and the schedule
claims it makes. `Liveness.run` beats a heartbeat into the `processes` table every
`process_lapse / 3` seconds and, on the same tick, sweeps: anything owned by a process whose
heartbeat is older than `process_lapse` (or, on this host, whose pid is gone) is recovered —
runs still `running` become `cancelled` ("the server running it stopped"), and its schedule leases
expire at once, so the scheduler here takes the due time over (`Scheduler.take_over`): a due time
claimed but never recorded fires now if the misfire policy allows, and due times missed while the
lease stood collapse into one run, as after any outage. Exactly once stays a database guarantee:
claims are conditional updates, and the runs table allows one run per (schedule, due time).

The heartbeat uses this process's clock; replicas' clocks must agree to well within the lapse.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from guru_mcp.store.processes import ProcessStore, Recovered

log = logging.getLogger(__name__)


def new_process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"[:64]


def host_key() -> str:
    """This host as seen by pids: host name and PID namespace (containers sharing a host name do
    not share pids)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}"[:255]


def pid_dead(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class Liveness:
    """Heartbeat and sweep for one process. `on_recovered` hears of every sweep that settled
    something (the scheduler takes the claims over)."""

    def __init__(
        self,
        store: ProcessStore,
        process_id: str,
        *,
        lapse: float,
        on_recovered: Callable[[Recovered], None] | None = None,
    ) -> None:
        self.store = store
        self.process_id = process_id
        self.lapse = timedelta(seconds=lapse)
        self.interval = lapse / 3
        self.on_recovered = on_recovered
        self._host = host_key()
        self.sweeps = 0

    async def beat(self) -> None:
        present = await self.store.beat(
            self.process_id, host=self._host, pid=os.getpid(), now=datetime.now(UTC)
        )
        if not present and self.sweeps:
            log.warning("this server's heartbeat had lapsed; another process may have settled its runs")

    async def sweep(self) -> Recovered:
        found = await self.store.recover(
            me=self.process_id, now=datetime.now(UTC), lapse=self.lapse, host=self._host, dead=pid_dead
        )
        self.sweeps += 1
        if found.processes or found.runs or found.claims:
            log.warning(
                "recovered after stopped server(s) %s: %d run(s) marked cancelled, %d schedule claim(s) released",
                ", ".join(found.processes) or "(gone)",
                found.runs,
                len(found.claims),
            )
            if self.on_recovered is not None:
                self.on_recovered(found)
        return found

    async def start(self) -> None:
        """Register and settle what stopped processes left (before anything else starts)."""
        await self.beat()
        await self.sweep()

    async def run(self) -> None:
        """Beat and sweep until cancelled; a storage failure is logged and retried on the next tick."""
        while True:
            await anyio.sleep(self.interval)
            try:
                await self.beat()
                await self.sweep()
            except Exception as exc:  # the database may be away for a while; keep trying
                log.warning("heartbeat failed: %s", exc)

    async def stop(self) -> None:
        """A clean stop: the row goes, nothing is left to recover."""
        with anyio.move_on_after(5, shield=True):
            try:
                await self.store.remove(self.process_id)
            except Exception as exc:
                log.warning("could not remove this server's process row: %s", exc)
