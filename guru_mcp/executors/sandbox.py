"""The Docker sandbox executor: every Python-code run in a fresh, hardened, single-use container.

This module is the job protocol (the job line to the runner, its events and result line, deadlines)
and the composition: `open_sandbox` builds the parts once and passes them in — the engine probe
(`engine.py`), the container fleet (`fleet.py`: every container call of the Docker API), the warm
pool (`pool.py`) — and `SandboxExecutor` runs jobs with them.

    async with open_sandbox(settings, policy) as sandbox:
        result = await sandbox.execute(job)
        sandbox.status()  # engine, image, pool, egress, last error

What holds (docs/architecture.md section 4):

- **One container per run.** A run takes a container from the warm pool (or starts a fresh one when the
  pool is empty); the container is destroyed after that run, whatever happened. Nothing ever puts a
  container back into the pool.
- **Hardened containers** (`pool.ContainerRecipe`): read-only root, `/tmp` a `noexec` tmpfs, every
  capability dropped, `no-new-privileges`, pid/memory/CPU limits from the settings, uid 10001, Docker's
  default seccomp profile; never privileged, no host namespaces, no Docker socket, no logs.
- **Secrets only over stdin.** The container's configuration holds no job data: parameters, secrets
  and built-in variables travel in the job line written to the runner's stdin (`sandbox/runner.py`
  documents the framing), so `docker inspect` never shows them.
- **Limits.** The job's timeout is enforced by killing the container (status `timeout`); a kernel OOM
  kill or a `MemoryError` is reported as "memory limit (512m) exceeded"; cancellation and shutdown
  kill and remove containers under a shielded scope.
- **Egress** (`settings.sandbox_egress`):

  - `proxy` (default): the container has no network (`network_mode: none`). HTTP(S) leaves only through
    a per-container proxy in this process (`egress_proxy.EgressProxy`), reached over a Unix socket in a
    host directory bind-mounted into that container alone. The proxy applies the server's
    `EgressPolicy` plus the action's `allowed_hosts`, and records the hosts each run contacted.
  - `none`: no network at all.
  - `bridge`: Docker's default bridge network, no proxy. The operator's choice when actions need more
    than HTTP(S) (raw TCP, DNS tools); the price is that nothing checks where the code connects —
    private ranges, cloud metadata and the host's own services are as reachable as Docker's network
    set-up makes them, and contacted hosts are not recorded. It also needs a daemon with a bridge
    network (and NAT for the internet: not the case with `dockerd --iptables=false`).

- **No Docker, no crash.** If the engine is unreachable or the image missing, `open_sandbox` still
  yields an executor; its `execute` raises `SandboxUnavailable` saying how to fix it (and looks again,
  at most every few seconds, so a fix is picked up without a restart), and `status()` says why.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import TaskGroup
from docker.errors import DockerException

from guru_mcp import progress
from guru_mcp.egress import EgressPolicy
from guru_mcp.errors import GuruError, RunFailure, SandboxUnavailable
from guru_mcp.executors.container import Exchange, Sandbox
from guru_mcp.executors.engine import Engine, default_image
from guru_mcp.executors.fleet import ContainerFleet
from guru_mcp.executors.pool import MAINTENANCE_DEFER, WarmPool
from guru_mcp.executors.sandbox_results import failure, from_runner, memory_message, needs_oom_check, tail
from guru_mcp.models import ActionType, ExecResult, Job, PythonCodeConfig, RunStatus
from guru_mcp.settings import Settings

__all__ = ["SandboxExecutor", "open_sandbox"]

DEFAULT_MAX_CONCURRENT = 16
RUNNER_TIMEOUT_GRACE = 3.0
"""Seconds past a job's timeout for the runner to report it (with the output so far) before the
container is killed instead."""


class SandboxExecutor:
    """Runs Python-code jobs in single-use Docker containers. Build it with `open_sandbox`, which
    passes in the engine probe, the fleet and the pool (None when `sandbox_pool_size` is 0)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        fleet: ContainerFleet,
        pool: WarmPool | None,
        *,
        max_concurrent: int,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.fleet = fleet
        self.pool = pool
        self._slots = anyio.CapacityLimiter(max_concurrent)
        self._in_use = 0
        self._runs = 0
        self._cold_starts = 0

    @property
    def image(self) -> str | None:
        return self.engine.image

    @property
    def instance(self) -> str:
        """The label value that marks this executor's containers."""
        return self.fleet.instance

    # -- public ----------------------------------------------------------------------------------

    async def execute(self, job: Job) -> ExecResult:
        """Run one Python-code job in a container no other run used, and destroy that container."""
        config = job.action.config
        if job.action.action_type is not ActionType.PYTHON_CODE or not isinstance(config, PythonCodeConfig):
            raise RunFailure("the sandbox runs Python-code actions only")
        await self._require_available()
        async with self._slots:  # FIFO: a burst is served in arrival order
            for attempt in (1, 2):
                if self.fleet.closing:
                    raise RunFailure("the sandbox is shutting down")
                box = self.pool.take() if self.pool is not None else None
                if box is None:
                    self._cold_starts += 1
                    box = await self.fleet.create(preimport=False)
                self._in_use += 1
                self._runs += 1
                try:
                    result = await self._run(box, job, config)
                except _Undelivered:
                    # The container died before it got the job (nothing ran): one fresh try.
                    self.discard(box)
                    if attempt == 2:
                        raise RunFailure(
                            "the sandbox container stopped before it could start the run"
                        ) from None
                    continue
                except (DockerException, OSError) as exc:
                    # The engine's API failed mid-run (dockerd stopped or restarted): say so.
                    with anyio.CancelScope(shield=True):
                        await self.fleet.destroy(box)
                    raise RunFailure(
                        f"the Docker engine went away during the run ({type(exc).__name__}); its result is "
                        "lost: check that the engine runs (scripts/ensure-docker.sh), then retry"
                    ) from exc
                except BaseException:
                    # Cancelled (or broken): the container is killed and removed before we go on.
                    with anyio.CancelScope(shield=True):
                        await self.fleet.destroy(box)
                    raise
                finally:
                    self._in_use -= 1
                self.discard(box)
                return result
        raise AssertionError("unreachable")

    def status(self) -> dict[str, Any]:
        """The sandbox's state, for the admin status tool."""
        pool = self.pool if self.fleet.prepared.is_set() else None
        return {
            "available": self.engine.unavailable is None,
            "reason": self.engine.unavailable,
            "engine": self.engine.status(),
            "image": self.engine.image,
            "image_present": self.engine.image_present,
            "pool": {
                "size": self.settings.sandbox_pool_size,
                "ready": pool.ready if pool is not None else 0,
                "ready_preimported": pool.ready_preimported if pool is not None else 0,
                "under_pressure": pool.under_pressure() if pool is not None else False,
                "starting": pool.starting if pool is not None else 0,
                "in_use": self._in_use,
                "removing": self.fleet.removing,
            },
            "egress": self.settings.sandbox_egress,
            "runs": self._runs,
            "cold_starts": self._cold_starts,
            "last_error": self.engine.last_error or (pool.last_error if pool is not None else None),
        }

    async def wait_warm(self, timeout: float = 60.0, *, preimported: bool = False) -> None:
        """Wait until the warm pool is full (with `preimported`: of containers that pre-imported
        `sandbox_preimport`) and no used container is still being removed. For tests and benchmarks.
        Raises TimeoutError."""
        with anyio.fail_after(timeout):
            if self.pool is not None and self.fleet.prepared.is_set():
                await self.pool.wait_full(preimported=preimported)
            await self.fleet.wait_settled()

    def discard(self, box: Sandbox) -> None:
        """Have the fleet destroy a used (or swapped-out) sandbox in the background, after a short
        pause while a warm one is ready and nobody is short of one (see `pool.MAINTENANCE_DEFER`)."""
        idle = self.pool is not None and self.pool.idle()
        self.fleet.discard(box, after=MAINTENANCE_DEFER if idle else 0.0)

    async def bring_up(self) -> None:
        """Probe the engine; when it and the image are there, prepare the fleet (which lets the pool
        fill) and accept runs. Called at start-up and, while unavailable, by `execute`."""
        if await self.engine.probe():
            await self.fleet.prepare()
            self.engine.mark_ready()

    async def _require_available(self) -> None:
        engine = self.engine
        if engine.unavailable is not None:
            async with engine.probe_lock:
                if engine.unavailable is not None and self.settings.sandbox_enabled and engine.probe_due():
                    await self.bring_up()
            if engine.unavailable is not None:
                raise SandboxUnavailable(f"Python actions cannot run: {engine.unavailable}")

    # -- one run ------------------------------------------------------------------------------------

    async def _run(self, box: Sandbox, job: Job, config: PythonCodeConfig) -> ExecResult:
        listened = progress.wanted()
        job_line = {
            "code": config.code,
            "env": job.environment(),
            "max_output": self.settings.sandbox_output_limit,
            "timeout": job.timeout,  # the runner stops the code then and reports its output so far
            "events": listened,
        }
        payload = json.dumps(job_line).encode() + b"\n"
        if box.proxy is not None:
            scoped = {n: (job.secrets[n], hosts) for n, hosts in job.secret_hosts.items() if n in job.secrets}
            box.proxy.arm(config.allowed_hosts, secrets=scoped)
        exchange: Exchange | None = None
        with anyio.move_on_after(job.timeout + RUNNER_TIMEOUT_GRACE) as deadline:
            try:
                await box.send(payload)
            except OSError:
                raise _Undelivered from None
            exchange = await box.receive_result(_report_event if listened else None)
        hosts = list(box.proxy.hosts) if box.proxy is not None else []
        refused = dict(box.proxy.refused) if box.proxy is not None else {}
        if deadline.cancelled_caught or exchange is None:
            with anyio.CancelScope(shield=True):
                await self.fleet.destroy(box)
            message = f"timed out after {job.timeout:g} s; the sandbox was stopped and removed"
            return failure(RunStatus.TIMEOUT, message, hosts=hosts, refused=refused)
        if exchange.result_line is None and self.fleet.closing:
            message = "the server shut down during the run; the sandbox was stopped and removed"
            return failure(RunStatus.ERROR, message, hosts=hosts, refused=refused)
        if exchange.result_line is None:
            state = await self.fleet.state(box)
            if state.get("OOMKilled"):
                return failure(
                    RunStatus.ERROR,
                    memory_message(self.settings.sandbox_memory),
                    hosts=hosts,
                    refused=refused,
                )
            detail = tail(exchange.stderr.decode("utf-8", "replace"))
            message = f"the sandbox stopped without a result (exit code {state.get('ExitCode', '?')})"
            return failure(
                RunStatus.ERROR, message + (f": {detail}" if detail else ""), hosts=hosts, refused=refused
            )
        box.finished = True
        try:
            result = json.loads(exchange.result_line)
        except json.JSONDecodeError:
            return failure(
                RunStatus.ERROR, "the sandbox returned a malformed result", hosts=hosts, refused=refused
            )
        oom_killed = needs_oom_check(result) and await self.fleet.oom_killed(box)
        outcome = from_runner(
            result,
            hosts=hosts,
            refused=refused,
            output_limit=self.settings.sandbox_output_limit,
            memory_limit=self.settings.sandbox_memory,
            oom_killed=oom_killed,
            timeout=job.timeout,
        )
        if outcome.status is RunStatus.TIMEOUT:  # the runner interrupted the code; the box goes now
            with anyio.CancelScope(shield=True):
                await self.fleet.destroy(box)
        return outcome


async def _report_event(event: dict[str, Any]) -> None:
    """An event line of the runner, as progress of the current run (masked by the run service)."""
    if event.get("event") == "line":
        await progress.report(None, str(event.get("text", "")))
    elif event.get("event") == "progress":
        fraction = event.get("fraction")
        fraction = (
            float(fraction) if isinstance(fraction, int | float) and not isinstance(fraction, bool) else None
        )
        await progress.report(fraction, str(event.get("message", "")))


class _Undelivered(GuruError):
    """The job could not be written to the container: nothing ran."""


async def _keep_warm(fleet: ContainerFleet, pool: WarmPool, scope: anyio.CancelScope) -> None:
    """Fill the pool once the fleet can create containers; until `scope` is cancelled (shutdown)."""
    with scope:
        await fleet.prepared.wait()
        await pool.run()


@asynccontextmanager
async def open_sandbox(
    settings: Settings,
    policy: EgressPolicy,
    *,
    image: str | None = None,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
) -> AsyncIterator[SandboxExecutor]:
    """The sandbox executor for the server's lifetime: engine checked, leftovers reaped, pool filling.

    Never raises because Docker is missing or the image is not built: the executor then answers every
    job with `SandboxUnavailable` (saying how to fix it) and `status()` reports why. On exit every
    container this executor started is killed and removed.

    Args:
        settings: the `sandbox_*` settings give the image, limits, pool size, pre-imports, egress mode.
        policy: the outbound policy applied by the egress proxy (the same one as API-call actions).
        image: image reference; default `settings.sandbox_image`, else the tag computed from sandbox/.
        max_concurrent: runs executing at once; later ones wait their turn in arrival order.
    """
    engine = Engine(image or default_image(settings), settings.sandbox_runtime)
    raised: BaseException | None = None
    async with anyio.create_task_group() as tg:
        fleet, pool, executor, keep_warm = _compose(settings, policy, engine, tg, max_concurrent)
        try:
            if not settings.sandbox_enabled:
                engine.disable("Python actions are disabled on this server (GURU_MCP_SANDBOX_ENABLED=false)")
            else:
                if pool is not None:
                    tg.start_soon(_keep_warm, fleet, pool, keep_warm)
                await executor.bring_up()
            try:
                yield executor
            except BaseException as exc:
                # An error of the caller's must reach it as itself, not wrapped in an ExceptionGroup.
                raised = exc
        finally:
            with anyio.CancelScope(shield=True):
                fleet.closing = True
                keep_warm.cancel()
                if pool is not None:
                    pool.drain()
                await fleet.shutdown()
            tg.cancel_scope.cancel()
    fleet.close()
    engine.close()
    if raised is not None:
        raise raised


def _compose(
    settings: Settings, policy: EgressPolicy, engine: Engine, tg: TaskGroup, max_concurrent: int
) -> tuple[ContainerFleet, WarmPool | None, SandboxExecutor, anyio.CancelScope]:
    """The parts, each built once: the fleet on the engine, the pool on the fleet, the executor on all."""
    fleet = ContainerFleet(settings, policy, engine, tg)
    pool: WarmPool | None = None
    executor: SandboxExecutor | None = None

    def discard(box: Sandbox) -> None:
        assert executor is not None
        executor.discard(box)

    if settings.sandbox_pool_size > 0:
        pool = WarmPool(
            settings.sandbox_pool_size, fleet.make_warm, discard, preimport=bool(settings.sandbox_preimport)
        )
    executor = SandboxExecutor(settings, engine, fleet, pool, max_concurrent=max_concurrent)
    return fleet, pool, executor, anyio.CancelScope()
