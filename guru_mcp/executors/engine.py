"""The engine probe: is a Docker engine reachable, is the sandbox image on it, and what it reported.

`Engine` holds what the last probe found (the low-level API client, the engine's version, whether the
image is present) and why Python actions cannot run when they cannot. It never raises because Docker
is missing: the reason is kept (with a hint how to fix it) and the sandbox looks again, at most every
`REPROBE_INTERVAL` seconds, so a fix is picked up without a restart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any

import anyio
import anyio.to_thread
import docker
from docker import APIClient
from docker.errors import DockerException, ImageNotFound

from guru_mcp.settings import Settings

__all__ = [
    "BUILD_HINT",
    "DOCKER_API_TIMEOUT",
    "ENGINE_HINT",
    "PREFERRED_RUNTIME",
    "REPROBE_INTERVAL",
    "Engine",
    "resolve_runtime",
    "short",
]

logger = logging.getLogger(__name__)

DOCKER_API_TIMEOUT = 30
"""Deadline of every Docker API request, in seconds."""
REPROBE_INTERVAL = 10.0
"""While unavailable, how often the sandbox looks again at the engine and the image."""
BUILD_HINT = "build it with `guru-mcp sandbox build`"
ENGINE_HINT = (
    "start a Docker engine (as root: scripts/ensure-docker.sh, or `dockerd --iptables=false &`) and make "
    "sure this process can reach it (DOCKER_HOST, membership of the docker group)"
)


def default_image(settings: Settings) -> str | None:
    """`settings.sandbox_image`, else the tag computed from sandbox/ (None if it cannot be)."""
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


def short(exc: BaseException) -> str:
    """An exception as one short line, for status and error messages."""
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


PREFERRED_RUNTIME = "crun"
"""The runtime `sandbox_runtime = auto` picks when the engine has it registered: a C runtime whose
per-container work (create, the container's own init, delete) costs less CPU than runc's (measured in
benchmarks/bench_sandbox_lifecycle.py; same OCI configuration, so the same hardening)."""


def resolve_runtime(setting: str, registered: set[str]) -> str | None:
    """The runtime to name in every container's HostConfig, or None for the engine's default.
    Raises ValueError (saying what to do) when a named runtime is not registered with the engine."""
    if setting == "default":
        return None
    if setting == "auto":
        return PREFERRED_RUNTIME if PREFERRED_RUNTIME in registered else None
    if setting not in registered:
        known = ", ".join(sorted(registered)) or "none"
        raise ValueError(
            f"the OCI runtime {setting!r} (GURU_MCP_SANDBOX_RUNTIME) is not registered with the Docker "
            f"engine (it has: {known}); register it in the engine's daemon.json `runtimes`, or set it to auto"
        )
    return setting


def _connect(image: str) -> tuple[APIClient, str, bool, set[str]]:
    """Blocking: a client of the engine `DOCKER_HOST` (or the default socket) names, its version,
    whether `image` is there, and the OCI runtimes it has registered. Raises DockerException or
    OSError when no engine answers."""
    client = docker.from_env(timeout=DOCKER_API_TIMEOUT)
    try:
        version = str(client.version().get("Version", "?"))
        runtimes = set(client.info().get("Runtimes") or {})
        try:
            client.images.get(image)
            present = True
        except ImageNotFound:
            present = False
    except BaseException:
        client.close()
        raise
    return client.api, version, present, runtimes


class Engine:
    """The Docker engine as this process sees it. Built once by `open_sandbox`, passed to the fleet.

    `unavailable` is None once the sandbox can run (`mark_ready`, after a successful probe and the
    fleet's preparation), else the reason, shown to callers and in the status.
    """

    def __init__(self, image: str | None, runtime_setting: str = "default") -> None:
        self.image = image
        self.runtime_setting = runtime_setting
        self.runtime: str | None = None
        """The OCI runtime the containers name (None: the engine's default); set by `probe`."""
        self.api: APIClient | None = None
        self.version: str | None = None
        self.image_present = False
        self.unavailable: str | None = "not started"
        self.last_error: str | None = None
        self.probe_lock = anyio.Lock()
        self._last_probe = float("-inf")

    def disable(self, reason: str) -> None:
        """The sandbox is switched off: never probe, always answer with `reason`."""
        self.unavailable = reason

    def mark_ready(self) -> None:
        self.unavailable = None

    def note_error(self, message: str) -> None:
        """The latest failure of the sandbox (probe, container start), for the status."""
        self.last_error = message

    def probe_due(self) -> bool:
        return time.monotonic() - self._last_probe >= REPROBE_INTERVAL

    async def probe(self) -> bool:
        """Connect to the engine and check the image; True when both are there (then `api` is set)."""
        self._last_probe = time.monotonic()
        if self.image is None:
            self.unavailable = f"no sandbox image is configured; set GURU_MCP_SANDBOX_IMAGE or {BUILD_HINT}"
            return False
        try:
            api, version, present, runtimes = await anyio.to_thread.run_sync(_connect, self.image)
        except (DockerException, OSError) as exc:
            self.api = None
            self._fail(f"no Docker engine is reachable ({short(exc)}); {ENGINE_HINT}")
            return False
        if self.api is not None and self.api is not api:
            with contextlib.suppress(Exception):
                self.api.close()
        self.api, self.version, self.image_present = api, version, present
        if not present:
            self._fail(f"the sandbox image {self.image} is not on this Docker engine; {BUILD_HINT}")
            return False
        try:
            self.runtime = resolve_runtime(self.runtime_setting, runtimes)
        except ValueError as exc:
            self._fail(str(exc))
            return False
        return True

    def _fail(self, reason: str) -> None:
        self.unavailable = reason
        self.last_error = reason
        logger.warning("sandbox unavailable: %s", reason)

    def status(self) -> dict[str, Any]:
        """The `engine` part of the sandbox status."""
        return {
            "reachable": self.api is not None,
            "version": self.version,
            "runtime": self.runtime or "default",
            "endpoint": self.api.base_url if self.api is not None else os.environ.get("DOCKER_HOST"),
        }

    def close(self) -> None:
        if self.api is not None:
            with contextlib.suppress(Exception):
                self.api.close()
