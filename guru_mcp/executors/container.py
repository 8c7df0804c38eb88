"""One sandbox container: its recipe and its attach stream (no Docker API call is made here).

`ContainerRecipe` is how every sandbox container is configured (hardened, docs/architecture.md
section 4). A `Sandbox` is one container: the fleet (`fleet.py`) creates it with `create` + `start`
(never `run`, which would try to pull) and attaches *before* it starts, so not a byte of its output is
missed, then hands the attach socket over with `Sandbox.attach`. That socket carries the job to the
runner's stdin and brings back Docker's multiplexed stdout/stderr frames, which are demultiplexed here
(8-byte headers: stream type, three zero bytes, big-endian length), read and written without threads,
on the event loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from docker.types import LogConfig

from guru_mcp.executors.egress_proxy import EgressProxy
from guru_mcp.settings import Settings

LABEL = "guru-mcp.sandbox"
LABEL_INSTANCE = "guru-mcp.instance"
LABEL_HOST = "guru-mcp.host"
LABEL_PID = "guru-mcp.pid"
RUNNER_COMMAND = ["python3", "-u", "/opt/guru/runner.py"]
READY_MARKER = b"guru-runner: ready\n"
"""Written by the runner on stderr once its pre-imports are done and it waits for the job."""
EVENT_PREFIX = b'{"event"'
"""How the runner's event lines start (its result line never does)."""
EventHandler = Callable[[dict[str, Any]], Awaitable[None]]
SANDBOX_USER = "10001:10001"
EGRESS_MOUNT = "/run/guru-egress"
PROXY_PORT = 3128
STDERR_KEEP = 64 * 1024
"""Bytes of the container's own stderr stream kept for diagnostics (the code's stderr is in the result)."""


@dataclass(frozen=True)
class ContainerRecipe:
    """Everything needed to create a sandbox container; built once from the settings."""

    image: str
    egress: str
    environment: dict[str, str]
    host_config: dict[str, Any]
    labels: dict[str, str]
    network_disabled: bool = False
    """Create the container with `NetworkDisabled` (egress `proxy` and `none`): the runtime still gives
    it a new network namespace with only loopback (the OCI spec keeps its default `network` entry), but
    dockerd sets up no libnetwork sandbox for it, so no `libnetwork-setkey` prestart hook (a re-exec
    of the dockerd binary, measured at ~110 ms of CPU per container, about 40% of its lifecycle)."""

    @classmethod
    def from_settings(
        cls, settings: Settings, image: str, instance: str, *, runtime: str | None = None
    ) -> ContainerRecipe:
        """docs/architecture.md section 4: read-only root, noexec /tmp, no capabilities, no new privileges, a pid,
        memory (swap equal, so none) and CPU limit, non-root user, Docker's default seccomp profile,
        never privileged, no host namespaces, no Docker socket, no logs (output may hold secrets)."""
        environment = {
            "HOME": "/tmp",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "MPLBACKEND": "Agg",
            "GURU_PREIMPORT": ",".join(settings.sandbox_preimport),
        }
        if settings.sandbox_egress == "proxy":
            proxy = f"http://127.0.0.1:{PROXY_PORT}"
            environment |= {
                "GURU_EGRESS_SOCKET": f"{EGRESS_MOUNT}/proxy.sock",
                "GURU_PROXY_PORT": str(PROXY_PORT),
                "HTTP_PROXY": proxy,
                "HTTPS_PROXY": proxy,
                "http_proxy": proxy,
                "https_proxy": proxy,
            }
        host_config = {
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,noexec,nosuid,nodev,size={settings.sandbox_tmp_size}"},
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "pids_limit": settings.sandbox_pids_limit,
            "mem_limit": settings.sandbox_memory,
            "memswap_limit": settings.sandbox_memory,
            "nano_cpus": int(settings.sandbox_cpus * 1e9),
            "network_mode": "bridge" if settings.sandbox_egress == "bridge" else "none",
            "privileged": False,
            "log_config": LogConfig(type="none"),
        }
        if runtime is not None:  # an OCI runtime registered with the engine (engine.resolve_runtime)
            host_config["runtime"] = runtime
        labels = {
            LABEL: "1",
            LABEL_INSTANCE: instance,
            LABEL_HOST: socket.gethostname(),
            LABEL_PID: str(os.getpid()),
        }
        disabled = settings.sandbox_egress != "bridge"
        return cls(
            image, settings.sandbox_egress, environment, host_config, labels, network_disabled=disabled
        )


@dataclass
class Exchange:
    """What came back from a sandbox after its job was sent."""

    result_line: bytes | None
    """The runner's result line, or None if the stream ended without one (killed, crashed)."""
    stderr: bytes


@dataclass(eq=False)
class Sandbox:
    """One single-use sandbox container and its egress proxy. Compared by identity."""

    recipe: ContainerRecipe
    id: str | None = None
    proxy: EgressProxy | None = None
    socket_dir: Path | None = None
    preimport: bool = False
    """Whether the runner pre-imports `settings.sandbox_preimport` (only worth it for pool entries)."""
    creating: bool = False
    finished: bool = False
    """The runner delivered its result (it now waits for stdin to close, then exits)."""
    doomed: bool = False
    created_at: float = field(default_factory=time.monotonic)
    _sock: socket.socket | None = None
    _keepalive: Any = None
    _buf: bytearray = field(default_factory=bytearray)
    _stdout: bytearray = field(default_factory=bytearray)
    _stderr: bytearray = field(default_factory=bytearray)
    _eof: bool = False

    # -- hand-over and clean-up --------------------------------------------------------------------

    def attach(self, sock: socket.socket, keepalive: object) -> None:
        """Adopt the container's attach socket (made non-blocking); `keepalive` is what docker-py
        returned for it, kept so the HTTP response under it is not collected (and closed) early."""
        sock.setblocking(False)
        self._sock = sock
        self._keepalive = keepalive

    @property
    def stderr(self) -> bytes:
        """The container's own stderr stream so far (its last `STDERR_KEEP` bytes at least)."""
        return bytes(self._stderr)

    def close_stream(self, *, on_loop: bool = False) -> None:
        """Close the attach stream (the runner's stdin closes with it). `on_loop`: called from the
        event loop, so tasks waiting on the socket are woken (they see the end of the stream)."""
        if self._sock is not None:
            if on_loop:
                anyio.notify_closing(self._sock)
            with contextlib.suppress(OSError):
                self._sock.close()
        with contextlib.suppress(Exception):
            if self._keepalive is not None and hasattr(self._keepalive, "close"):
                self._keepalive.close()
        self._sock = None
        self._keepalive = None

    def release_egress(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    # -- the attach stream (async, cancellable, no thread) -----------------------------------------

    async def _read_some(self) -> bool:
        """Read what is available into the frame buffer; False at end of stream."""
        sock = self._sock
        if sock is None or self._eof:
            return False
        while True:
            try:
                data = sock.recv(256 * 1024)
            except (BlockingIOError, InterruptedError):
                if not await _readable(sock):
                    data = b""
                    break
                continue
            except ssl.SSLWantReadError:  # a TLS engine connection (DOCKER_HOST=tcp://, DOCKER_TLS_VERIFY)
                if await _readable(sock):
                    continue
                data = b""
            except OSError:
                data = b""
            break
        if not data:
            self._eof = True
            return False
        self._buf += data
        self._demux()
        return True

    def _demux(self) -> None:
        buf = self._buf
        offset = 0
        while len(buf) - offset >= 8:
            size = int.from_bytes(buf[offset + 4 : offset + 8], "big")
            if len(buf) - offset - 8 < size:
                break
            payload = buf[offset + 8 : offset + 8 + size]
            if buf[offset] == 1:
                self._stdout += payload
            elif buf[offset] == 2:
                self._stderr += payload
                if len(self._stderr) > 2 * STDERR_KEEP:
                    del self._stderr[:-STDERR_KEEP]
            offset += 8 + size
        del buf[:offset]

    async def wait_ready(self) -> bool:
        """Wait for the runner's ready marker; False if the container's stream ended first."""
        while READY_MARKER not in self._stderr:
            if not await self._read_some():
                return False
        return True

    async def send(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise BrokenPipeError("the sandbox's attach stream is closed")
        view = memoryview(data)
        while view:
            try:
                sent = sock.send(view)
            except (BlockingIOError, InterruptedError):
                try:
                    await anyio.wait_writable(sock)
                except anyio.ClosedResourceError:
                    raise BrokenPipeError("the sandbox's attach stream was closed") from None
                continue
            view = view[sent:]

    async def receive_result(self, on_event: EventHandler | None = None) -> Exchange:
        """Read until the runner's one result line (or the end of the stream). Event lines before it
        (sandbox/runner.py) go to `on_event`, parsed; a malformed one is skipped."""
        while True:
            end = self._stdout.find(b"\n")
            if end >= 0:
                line = bytes(self._stdout[:end])
                if not line.startswith(EVENT_PREFIX):
                    return Exchange(line, bytes(self._stderr).replace(READY_MARKER, b""))
                del self._stdout[: end + 1]
                if on_event is not None:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(event, dict):
                        await on_event(event)
                continue
            if not await self._read_some():
                return Exchange(None, bytes(self._stderr).replace(READY_MARKER, b""))


async def _readable(sock: socket.socket) -> bool:
    """Wait until `sock` can be read; False if it was closed meanwhile (`close_stream`)."""
    try:
        await anyio.wait_readable(sock)
    except anyio.ClosedResourceError:
        return False
    return True
