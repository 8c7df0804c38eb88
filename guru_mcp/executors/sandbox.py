"""The Docker sandbox executor: every Python-code run in a fresh, hardened, single-use container.

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

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import docker
from anyio.abc import TaskGroup
from docker import APIClient
from docker.errors import DockerException, ImageNotFound

from guru_mcp import progress
from guru_mcp.egress import EgressPolicy
from guru_mcp.errors import GuruError, RunFailure, SandboxUnavailable
from guru_mcp.executors.container import ContainerRecipe, Exchange, Sandbox, new_socket_dir, reap_leftovers
from guru_mcp.executors.egress_proxy import EgressProxy
from guru_mcp.executors.pool import MAINTENANCE_DEFER, WarmPool
from guru_mcp.executors.sandbox_results import failure, from_runner, memory_message, needs_oom_check, tail
from guru_mcp.models import ActionType, ExecResult, Job, PythonCodeConfig, RunStatus
from guru_mcp.settings import Settings

__all__ = ["SandboxExecutor", "open_sandbox"]

logger = logging.getLogger(__name__)

DOCKER_API_TIMEOUT = 30.0
"""Deadline of every Docker API request."""
READY_TIMEOUT = 120.0
"""How long a warm container may take to start and finish its pre-imports."""
REPROBE_INTERVAL = 10.0
"""While unavailable, how often `execute` looks again at the engine and the image."""
REMOVE_TIMEOUT = 30.0
DEFAULT_MAX_CONCURRENT = 16
BUILD_HINT = "build it with `guru-mcp sandbox build`"
ENGINE_HINT = (
    "start a Docker engine (as root: scripts/ensure-docker.sh, or `dockerd --iptables=false &`) and make "
    "sure this process can reach it (DOCKER_HOST, membership of the docker group)"
)


def _default_image(settings: Settings) -> str | None:
    if settings.sandbox_image:
        return settings.sandbox_image
    try:
        from guru_mcp.sandbox_image import expected_tag
    except ImportError:
        return None
    try:
        return expected_tag()
    except Exception:
        logger.exception("cannot compute the sandbox image tag")
        return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


RUNNER_TIMEOUT_GRACE = 3.0
"""Seconds past a job's timeout for the runner to report it (with the output so far) before the
container is killed instead."""


class SandboxExecutor:
    """Runs Python-code jobs in single-use Docker containers. Build it with `open_sandbox`."""

    def __init__(
        self, settings: Settings, policy: EgressPolicy, *, image: str | None, max_concurrent: int
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.image = image or _default_image(settings)
        self.instance = uuid.uuid4().hex[:12]
        self._api: APIClient | None = None
        self._engine_version: str | None = None
        self._image_present = False
        self._unavailable: str | None = "not started"
        self._last_error: str | None = None
        self._last_probe = float("-inf")
        self._probe_lock = anyio.Lock()
        self._slots = anyio.CapacityLimiter(max_concurrent)
        self._live: dict[int, Sandbox] = {}
        self._pool: WarmPool | None = None
        self._pool_scope = anyio.CancelScope()
        self._socket_base: Path | None = None
        self._recipe: ContainerRecipe | None = None
        self._tg: TaskGroup | None = None
        self._closing = False
        self._removing = 0
        self._settled = anyio.Event()
        self._in_use = 0
        self._runs = 0
        self._cold_starts = 0

    # -- public ----------------------------------------------------------------------------------

    async def execute(self, job: Job) -> ExecResult:
        """Run one Python-code job in a container no other run used, and destroy that container."""
        config = job.action.config
        if job.action.action_type is not ActionType.PYTHON_CODE or not isinstance(config, PythonCodeConfig):
            raise RunFailure("the sandbox runs Python-code actions only")
        await self._require_available()
        async with self._slots:  # FIFO: a burst is served in arrival order
            for attempt in (1, 2):
                if self._closing:
                    raise RunFailure("the sandbox is shutting down")
                box = self._pool.take() if self._pool is not None else None
                if box is None:
                    self._cold_starts += 1
                    box = await self._create(preimport=False)
                self._in_use += 1
                self._runs += 1
                try:
                    result = await self._run(box, job, config)
                except _Undelivered:
                    # The container died before it got the job (nothing ran): one fresh try.
                    self._discard(box)
                    if attempt == 2:
                        raise RunFailure(
                            "the sandbox container stopped before it could start the run"
                        ) from None
                    continue
                except (DockerException, OSError) as exc:
                    # The engine's API failed mid-run (dockerd stopped or restarted): say so.
                    with anyio.CancelScope(shield=True):
                        await self._destroy(box)
                    raise RunFailure(
                        f"the Docker engine went away during the run ({type(exc).__name__}); its result is "
                        "lost: check that the engine runs (scripts/ensure-docker.sh), then retry"
                    ) from exc
                except BaseException:
                    # Cancelled (or broken): the container is killed and removed before we go on.
                    with anyio.CancelScope(shield=True):
                        await self._destroy(box)
                    raise
                finally:
                    self._in_use -= 1
                self._discard(box)
                return result
        raise AssertionError("unreachable")

    def status(self) -> dict[str, Any]:
        """The sandbox's state, for the admin status tool."""
        pool = self._pool
        return {
            "available": self._unavailable is None,
            "reason": self._unavailable,
            "engine": {
                "reachable": self._api is not None,
                "version": self._engine_version,
                "endpoint": self._api.base_url if self._api is not None else os.environ.get("DOCKER_HOST"),
            },
            "image": self.image,
            "image_present": self._image_present,
            "pool": {
                "size": self.settings.sandbox_pool_size,
                "ready": pool.ready if pool is not None else 0,
                "ready_preimported": pool.ready_preimported if pool is not None else 0,
                "under_pressure": pool.under_pressure() if pool is not None else False,
                "starting": pool.starting if pool is not None else 0,
                "in_use": self._in_use,
                "removing": self._removing,
            },
            "egress": self.settings.sandbox_egress,
            "runs": self._runs,
            "cold_starts": self._cold_starts,
            "last_error": self._last_error or (pool.last_error if pool is not None else None),
        }

    async def wait_warm(self, timeout: float = 60.0, *, preimported: bool = False) -> None:
        """Wait until the warm pool is full (with `preimported`: of containers that pre-imported
        `sandbox_preimport`) and no used container is still being removed. For tests and benchmarks.
        Raises TimeoutError."""
        with anyio.fail_after(timeout):
            if self._pool is not None:
                await self._pool.wait_full(preimported=preimported)
            while self._removing:
                await self._settled.wait()

    # -- start-up and shutdown ---------------------------------------------------------------------

    async def _start(self, tg: TaskGroup) -> None:
        self._tg = tg
        if not self.settings.sandbox_enabled:
            self._unavailable = "Python actions are disabled on this server (GURU_MCP_SANDBOX_ENABLED=false)"
            return
        await self._probe()

    async def _require_available(self) -> None:
        if self._unavailable is not None:
            async with self._probe_lock:
                if (
                    self._unavailable is not None
                    and self.settings.sandbox_enabled
                    and time.monotonic() - self._last_probe >= REPROBE_INTERVAL
                ):
                    await self._probe()
            if self._unavailable is not None:
                raise SandboxUnavailable(f"Python actions cannot run: {self._unavailable}")

    async def _probe(self) -> None:
        """Connect to the engine and check the image; when both are there, reap and fill the pool."""
        self._last_probe = time.monotonic()
        if self.image is None:
            self._unavailable = f"no sandbox image is configured; set GURU_MCP_SANDBOX_IMAGE or {BUILD_HINT}"
            return
        image = self.image

        def probe() -> tuple[APIClient, str, bool]:
            client = docker.from_env(timeout=DOCKER_API_TIMEOUT)
            try:
                version = str(client.version().get("Version", "?"))
                try:
                    client.api.inspect_image(image)
                    present = True
                except ImageNotFound:
                    present = False
            except BaseException:
                client.close()
                raise
            return client.api, version, present

        try:
            api, version, present = await anyio.to_thread.run_sync(probe)
        except (DockerException, OSError) as exc:
            self._api = None
            self._unavailable = f"no Docker engine is reachable ({_short(exc)}); {ENGINE_HINT}"
            self._last_error = self._unavailable
            logger.warning("sandbox unavailable: %s", self._unavailable)
            return
        self._api, self._engine_version, self._image_present = api, version, present
        if not present:
            self._unavailable = f"the sandbox image {image} is not on this Docker engine; {BUILD_HINT}"
            self._last_error = self._unavailable
            logger.warning("sandbox unavailable: %s", self._unavailable)
            return
        await anyio.to_thread.run_sync(reap_leftovers, api, self.instance)
        self._recipe = ContainerRecipe.from_settings(self.settings, image, self.instance)
        if self.settings.sandbox_egress == "proxy" and self._socket_base is None:
            self._socket_base = Path(tempfile.mkdtemp(prefix="guru-mcp-egress-"))
        self._unavailable = None
        if self.settings.sandbox_pool_size > 0 and self._pool is None and self._tg is not None:
            self._pool = WarmPool(
                self.settings.sandbox_pool_size,
                self._make_warm,
                self._discard,
                preimport=bool(self.settings.sandbox_preimport),
            )
            self._tg.start_soon(self._run_pool, self._pool)

    async def _run_pool(self, pool: WarmPool) -> None:
        with self._pool_scope:
            await pool.run()

    async def _shutdown(self) -> None:
        self._closing = True
        self._pool_scope.cancel()
        if self._pool is not None:
            self._pool.drain()
        boxes = list(self._live.values())
        with anyio.move_on_after(REMOVE_TIMEOUT):
            async with anyio.create_task_group() as tg:
                for box in boxes:
                    tg.start_soon(self._destroy, box)

    def _close(self) -> None:
        """Last step, once every task of the executor has finished."""
        if self._socket_base is not None:
            shutil.rmtree(self._socket_base, ignore_errors=True)
        if self._api is not None:
            with contextlib.suppress(Exception):
                self._api.close()

    # -- containers ---------------------------------------------------------------------------------

    async def _create(self, *, preimport: bool) -> Sandbox:
        assert self._api is not None and self._recipe is not None and self._tg is not None
        box = Sandbox(self._recipe, preimport=preimport)
        self._live[id(box)] = box
        box.creating = True
        try:
            try:
                if self._recipe.egress == "proxy":
                    assert self._socket_base is not None
                    box.socket_dir = new_socket_dir(self._socket_base)
                    box.proxy = EgressProxy(self.policy, box.socket_dir / "proxy.sock")
                    await box.proxy.start(self._tg)
                await anyio.to_thread.run_sync(box.create_blocking, self._api)
            finally:
                box.creating = False
            if box.doomed:  # shutdown came while the container was being created
                raise RunFailure("the sandbox is shutting down")
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await self._destroy(box)
            if isinstance(exc, DockerException | OSError):
                self._last_error = f"cannot start a sandbox container: {_short(exc)}"
                raise RunFailure(self._last_error) from None
            raise
        return box

    async def _make_warm(self, preimport: bool) -> Sandbox | None:
        try:
            box = await self._create(preimport=preimport)
        except RunFailure:
            return None
        except Exception as exc:
            logger.exception("could not start a warm sandbox")
            self._last_error = f"cannot start a warm sandbox: {_short(exc)}"
            return None
        with anyio.move_on_after(READY_TIMEOUT):
            if await box.wait_ready():
                return box
        if not self._closing:
            stderr = tail(bytes(box._stderr).decode("utf-8", "replace"))  # noqa: SLF001
            self._last_error = f"a warm sandbox did not become ready: {stderr or 'no output'}"
            logger.warning("%s", self._last_error)
        await self._destroy(box)
        return None

    def _discard(self, box: Sandbox) -> None:
        """Destroy a used sandbox in the background (the run's result does not wait for it)."""
        if id(box) in self._live and self._tg is not None:
            self._tg.start_soon(self._destroy_soon, box)

    async def _destroy_soon(self, box: Sandbox) -> None:
        """Destroy, after a short pause when nothing is waiting (see `MAINTENANCE_DEFER`)."""
        pool = self._pool
        if pool is not None and pool.ready and not pool.under_pressure() and not self._closing:
            with anyio.CancelScope(shield=True):  # a shutdown must not skip the removal
                await anyio.sleep(MAINTENANCE_DEFER)
        await self._destroy(box)

    async def _destroy(self, box: Sandbox) -> None:
        """Kill and remove a container and its proxy; idempotent, shielded, bounded."""
        if box.creating:
            box.doomed = True  # `_create` destroys it as soon as the engine has answered
            return
        if self._live.pop(id(box), None) is None:
            return
        box.close_stream(on_loop=True)
        box.release_egress()
        if self._api is None:
            return
        self._removing += 1
        try:
            with anyio.CancelScope(shield=True), anyio.move_on_after(REMOVE_TIMEOUT):
                try:
                    await anyio.to_thread.run_sync(box.remove_blocking, self._api)
                except (DockerException, OSError) as exc:
                    logger.warning("could not remove sandbox %s: %s", (box.id or "?")[:12], exc)
        finally:
            self._removing -= 1
            self._settled.set()
            self._settled = anyio.Event()

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
                await self._destroy(box)
            message = f"timed out after {job.timeout:g} s; the sandbox was stopped and removed"
            return failure(RunStatus.TIMEOUT, message, hosts=hosts, refused=refused)
        if exchange.result_line is None and self._closing:
            message = "the server shut down during the run; the sandbox was stopped and removed"
            return failure(RunStatus.ERROR, message, hosts=hosts, refused=refused)
        if exchange.result_line is None:
            assert self._api is not None
            state = await anyio.to_thread.run_sync(box.state_blocking, self._api)
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
        oom_killed = needs_oom_check(result) and await self._oom_killed(box)
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
                await self._destroy(box)
        return outcome

    async def _oom_killed(self, box: Sandbox) -> bool:
        """Whether the kernel's OOM killer hit a process of this container (e.g. a subprocess)."""
        if self._api is None or box.id is None:
            return False
        try:
            info = await anyio.to_thread.run_sync(self._api.inspect_container, box.id)
        except (DockerException, OSError):
            return False
        return bool(info.get("State", {}).get("OOMKilled"))


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
    executor = SandboxExecutor(settings, policy, image=image, max_concurrent=max_concurrent)
    raised: BaseException | None = None
    async with anyio.create_task_group() as tg:
        try:
            await executor._start(tg)  # noqa: SLF001
            try:
                yield executor
            except BaseException as exc:
                # An error of the caller's must reach it as itself, not wrapped in an ExceptionGroup.
                raised = exc
        finally:
            with anyio.CancelScope(shield=True):
                await executor._shutdown()  # noqa: SLF001
            tg.cancel_scope.cancel()
    executor._close()  # noqa: SLF001
    if raised is not None:
        raise raised
