"""The container fleet: every sandbox container of this process, and every container call of the Docker API.

`ContainerFleet` creates hardened containers from one `ContainerRecipe` (attached before they start,
each with its own egress proxy in `proxy` mode), removes them after their one run, and at start-up
reaps the containers a crashed server left behind. The blocking engine calls are the module functions
below (`create_blocking`, `remove_blocking`, `state_blocking`, `reap_leftovers`), run in worker
threads; nothing else in the sandbox talks to the engine about containers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from docker import APIClient
from docker.errors import APIError, DockerException, NotFound

from guru_mcp.adapters import attach_socket_raw
from guru_mcp.egress import EgressPolicy
from guru_mcp.errors import RunFailure
from guru_mcp.executors.container import (
    EGRESS_MOUNT,
    LABEL,
    LABEL_HOST,
    LABEL_INSTANCE,
    LABEL_PID,
    RUNNER_COMMAND,
    SANDBOX_USER,
    ContainerRecipe,
    Sandbox,
)
from guru_mcp.executors.egress_proxy import EgressProxy
from guru_mcp.executors.engine import Engine, short
from guru_mcp.executors.sandbox_results import tail
from guru_mcp.settings import Settings

__all__ = ["ContainerFleet", "create_blocking", "reap_leftovers", "remove_blocking", "state_blocking"]

logger = logging.getLogger(__name__)

READY_TIMEOUT = 120.0
"""How long a warm container may take to start and finish its pre-imports."""
REMOVE_TIMEOUT = 30.0
EXIT_GRACE = 3
"""Seconds a finished runner gets to exit once its stdin is closed, before it is killed."""
STALE_AFTER = 600.0
"""A labelled container not running for this long belongs to no live server (see `reap_leftovers`)."""


class ContainerFleet:
    """The live sandbox containers of one executor. Built once by `open_sandbox` with the engine and
    the task group that runs proxies and background removals."""

    def __init__(self, settings: Settings, policy: EgressPolicy, engine: Engine, tg: TaskGroup) -> None:
        self.settings = settings
        self.policy = policy
        self.engine = engine
        self.instance = uuid.uuid4().hex[:12]
        self.prepared = anyio.Event()
        """Set once the fleet can create containers (engine reachable, image present, leftovers reaped)."""
        self.closing = False
        self.removing = 0
        self._tg = tg
        self._live: dict[int, Sandbox] = {}
        self._recipe: ContainerRecipe | None = None
        self._socket_base: Path | None = None
        self._settled = anyio.Event()

    async def prepare(self) -> None:
        """Reap the leftovers of dead servers; build the recipe and the egress sockets' directory."""
        api, image = self.engine.api, self.engine.image
        assert api is not None and image is not None
        await anyio.to_thread.run_sync(reap_leftovers, api, self.instance)
        self._recipe = ContainerRecipe.from_settings(
            self.settings, image, self.instance, runtime=self.engine.runtime
        )
        if self.settings.sandbox_egress == "proxy" and self._socket_base is None:
            self._socket_base = Path(tempfile.mkdtemp(prefix="guru-mcp-egress-"))
        self.prepared.set()

    # -- creation ----------------------------------------------------------------------------------

    async def create(self, *, preimport: bool) -> Sandbox:
        """A started container whose runner waits for its job. Raises RunFailure if it cannot start."""
        api, recipe = self.engine.api, self._recipe
        assert api is not None and recipe is not None
        box = Sandbox(recipe, preimport=preimport)
        self._live[id(box)] = box
        box.creating = True
        try:
            try:
                if recipe.egress == "proxy":
                    assert self._socket_base is not None
                    box.socket_dir = new_socket_dir(self._socket_base)
                    box.proxy = EgressProxy(self.policy, box.socket_dir / "proxy.sock")
                    await box.proxy.start(self._tg)
                await anyio.to_thread.run_sync(create_blocking, api, box)
            finally:
                box.creating = False
            if box.doomed:  # shutdown came while the container was being created
                raise RunFailure("the sandbox is shutting down")
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await self.destroy(box)
            if isinstance(exc, DockerException | OSError):
                if self._drop_chosen_runtime(exc):
                    return await self.create(preimport=preimport)
                message = f"cannot start a sandbox container: {short(exc)}"
                self.engine.note_error(message)
                raise RunFailure(message) from None
            raise
        return box

    def _drop_chosen_runtime(self, exc: BaseException) -> bool:
        """When `sandbox_runtime = auto` picked a runtime (crun) that fails on this host (e.g. crun on a
        cgroup v1/v2 hybrid with controllers on v2), go back to the engine's default for good; True if
        so (the caller then tries once more). A runtime the operator named is never swapped."""
        recipe = self._recipe
        if (
            recipe is None
            or self.settings.sandbox_runtime != "auto"
            or "runtime" not in recipe.host_config
            or not isinstance(exc, APIError)
        ):
            return False
        logger.warning(
            "the OCI runtime %s failed (%s); using the engine's default runtime from now on",
            recipe.host_config["runtime"],
            short(exc),
        )
        self.engine.note_error(
            f"runtime {recipe.host_config['runtime']} failed, now the default: {short(exc)}"
        )
        self.engine.runtime = None
        assert self.engine.image is not None
        self._recipe = ContainerRecipe.from_settings(self.settings, self.engine.image, self.instance)
        return True

    async def make_warm(self, preimport: bool) -> Sandbox | None:
        """A container for the warm pool, once its runner is ready; None if it could not start."""
        try:
            box = await self.create(preimport=preimport)
        except RunFailure:
            return None
        except Exception as exc:
            logger.exception("could not start a warm sandbox")
            self.engine.note_error(f"cannot start a warm sandbox: {short(exc)}")
            return None
        with anyio.move_on_after(READY_TIMEOUT):
            if await box.wait_ready():
                return box
        if not self.closing:
            stderr = tail(box.stderr.decode("utf-8", "replace"))
            message = f"a warm sandbox did not become ready: {stderr or 'no output'}"
            self.engine.note_error(message)
            logger.warning("%s", message)
        await self.destroy(box)
        return None

    # -- removal -----------------------------------------------------------------------------------

    def discard(self, box: Sandbox, *, after: float = 0.0) -> None:
        """Destroy a used sandbox in the background (the run's result does not wait for it), `after`
        a pause (`pool.MAINTENANCE_DEFER` when nothing waits for the engine)."""
        if id(box) in self._live:
            self._tg.start_soon(self._destroy_soon, box, after)

    async def _destroy_soon(self, box: Sandbox, after: float) -> None:
        if after > 0 and not self.closing:
            with anyio.CancelScope(shield=True):  # a shutdown must not skip the removal
                await anyio.sleep(after)
        await self.destroy(box)

    async def destroy(self, box: Sandbox) -> None:
        """Kill and remove a container and its proxy; idempotent, shielded, bounded."""
        if box.creating:
            box.doomed = True  # `create` destroys it as soon as the engine has answered
            return
        if self._live.pop(id(box), None) is None:
            return
        box.close_stream(on_loop=True)
        box.release_egress()
        api = self.engine.api
        if api is None:
            return
        self.removing += 1
        try:
            with anyio.CancelScope(shield=True), anyio.move_on_after(REMOVE_TIMEOUT):
                try:
                    await anyio.to_thread.run_sync(remove_blocking, api, box)
                except (DockerException, OSError) as exc:
                    logger.warning("could not remove sandbox %s: %s", (box.id or "?")[:12], exc)
        finally:
            self.removing -= 1
            self._settled.set()
            self._settled = anyio.Event()

    async def wait_settled(self) -> None:
        """Until no container is being removed."""
        while self.removing:
            await self._settled.wait()

    async def shutdown(self) -> None:
        """Refuse new containers and destroy every live one (bounded by `REMOVE_TIMEOUT`)."""
        self.closing = True
        boxes = list(self._live.values())
        with anyio.move_on_after(REMOVE_TIMEOUT):
            async with anyio.create_task_group() as tg:
                for box in boxes:
                    tg.start_soon(self.destroy, box)

    def close(self) -> None:
        """Last step, once every task of the fleet has finished."""
        if self._socket_base is not None:
            shutil.rmtree(self._socket_base, ignore_errors=True)

    # -- state -------------------------------------------------------------------------------------

    async def state(self, box: Sandbox) -> dict[str, Any]:
        """The container's State once it has stopped (waits up to 10 s)."""
        api = self.engine.api
        assert api is not None
        return await anyio.to_thread.run_sync(state_blocking, api, box)

    async def oom_killed(self, box: Sandbox) -> bool:
        """Whether the kernel's OOM killer hit a process of this container (e.g. a subprocess)."""
        api = self.engine.api
        if api is None or box.id is None:
            return False
        try:
            info = await anyio.to_thread.run_sync(api.inspect_container, box.id)
        except (DockerException, OSError):
            return False
        return bool(info.get("State", {}).get("OOMKilled"))


# -- the blocking engine calls (worker threads) --------------------------------------------------------


def create_blocking(api: APIClient, box: Sandbox) -> None:
    """Create, attach, start. Sets `box.id` as soon as the container exists, so a caller that gives
    up half-way can still remove it."""
    box.id = create_container_blocking(api, box)
    attached = api.attach_socket(box.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
    box.attach(attach_socket_raw(attached), attached)
    api.start(box.id)


def create_container_blocking(api: APIClient, box: Sandbox) -> str:
    """The `create` call alone (not attached, not started): the new container's id."""
    recipe = box.recipe
    host_config = dict(recipe.host_config)
    if box.socket_dir is not None:
        host_config["binds"] = {str(box.socket_dir): {"bind": EGRESS_MOUNT, "mode": "ro"}}
    created = api.create_container(
        recipe.image,
        command=RUNNER_COMMAND,
        user=SANDBOX_USER,
        working_dir="/tmp",
        stdin_open=True,  # with detach=False this also sets StdinOnce: stdin closes with our attach
        environment=recipe.environment if box.preimport else {**recipe.environment, "GURU_PREIMPORT": ""},
        labels=recipe.labels,
        network_disabled=recipe.network_disabled,
        host_config=api.create_host_config(**host_config),
        use_config_proxy=False,
    )
    return str(created["Id"])


def remove_blocking(api: APIClient, box: Sandbox) -> None:
    """Remove the container. After a complete run, closing the attach stream closes the runner's
    stdin and it exits by itself, which costs the engine less than a kill (measured: removing without
    the wait, so killing the exiting runner, was no faster; see bench_sandbox_lifecycle.py); otherwise: kill."""
    box.close_stream()
    if box.id is None:
        return
    if box.finished:
        with contextlib.suppress(DockerException, OSError):
            api.wait(box.id, timeout=EXIT_GRACE)
    try:
        api.remove_container(box.id, force=True)
    except NotFound:
        pass
    except APIError as exc:
        if exc.status_code != 409:  # 409: a removal is already in progress
            raise


def state_blocking(api: APIClient, box: Sandbox, wait: int = 10) -> dict[str, Any]:
    """The container's State once it has stopped (or after `wait` seconds)."""
    assert box.id is not None
    with contextlib.suppress(DockerException, OSError):
        api.wait(box.id, timeout=wait)
    try:
        state: dict[str, Any] = api.inspect_container(box.id).get("State", {})
    except NotFound:
        return {}
    return state


def new_socket_dir(base: Path) -> Path:
    """A fresh directory for one container's egress socket: mounted into that container only."""
    path = base / secrets.token_hex(8)
    path.mkdir(mode=0o711)
    path.chmod(0o711)  # the container's user (uid 10001) must reach the socket inside
    return path


def reap_leftovers(api: APIClient, instance: str) -> list[str]:
    """Remove labelled containers that no live guru-mcp process owns (left by a crash); their ids.

    Removed: those whose server process, on this host, is dead; and those of any host that have not
    been running for `STALE_AFTER` seconds (an orphaned pool container exits by itself once its
    server's attach connection is gone, as its stdin closes). Kept: everything a live server may be
    using — another replica's, another executor's in this process, and containers another server is
    just creating (state `created`) or just removing (`exited`).
    """
    try:
        found = api.containers(all=True, filters={"label": f"{LABEL}=1"})
    except DockerException as exc:
        logger.warning("could not list leftover sandboxes: %s", exc)
        return []
    host = socket.gethostname()
    removed = []
    for info in found:
        labels = info.get("Labels") or {}
        if labels.get(LABEL_INSTANCE) == instance:
            continue
        owner_dead = labels.get(LABEL_HOST) == host and not _pid_alive(labels.get(LABEL_PID))
        idle_long = (
            info.get("State") != "running" and time.time() - float(info.get("Created") or 0) > STALE_AFTER
        )
        if not (owner_dead or idle_long):
            continue
        with contextlib.suppress(NotFound, DockerException):
            api.remove_container(info["Id"], force=True)
            removed.append(info["Id"])
            logger.info("removed leftover sandbox container %s", info["Id"][:12])
    return removed


def _pid_alive(pid: str | None) -> bool:
    try:
        os.kill(int(pid or ""), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True
