"""The sandbox image: its name, whether it is present, and how to build it.

The image comes in two layers so that the in-container runner can change cheaply:

- the BASE image ``guru-mcp-sandbox-base:<tag>`` holds the root file system and the pinned
  libraries. Its tag is the first 12 hex digits of a SHA-256 over ``sandbox/Dockerfile``,
  ``sandbox/requirements.txt`` and ``sandbox/build_offline.sh``. It is built either from the
  Dockerfile (hosts that reach a registry) or offline from debootstrap + PyPI wheels + ``docker
  import`` (hosts that reach none);
- the TOP image ``guru-mcp-sandbox:<tag>`` adds ``sandbox/runner.py`` as ``/opt/guru/runner.py`` and
  the actions' helper module ``sandbox/guru.py`` beside it (``import guru``; the runner's directory is
  on ``sys.path``), byte-compiled, on top of the base with a tiny generated Dockerfile. Its tag hashes
  the base tag and the bytes of both files.

An image whose inputs did not change is never rebuilt (unless forced). Nothing here runs at import
time; the module needs only the standard library and the ``docker`` SDK.

Run ``python -m guru_mcp.sandbox_image [--offline|--online] [--force]`` to build with progress.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors

from guru_mcp.errors import ConfigError

__all__ = [
    "BASE_IMAGE",
    "IMAGE",
    "RUNNER_PATH",
    "SandboxImageError",
    "base_tag",
    "build_image",
    "expected_base_ref",
    "expected_tag",
    "image_present",
    "registry_reachable",
    "sandbox_dir",
    "top_tag",
]

BASE_IMAGE = "guru-mcp-sandbox-base"
IMAGE = "guru-mcp-sandbox"
RUNNER_PATH = "/opt/guru/runner.py"
"""Where the runner lives inside the image."""
HELPER_NAME = "guru.py"
"""The helper module for actions' code (`guru.args()`), copied beside the runner."""

BASE_INPUTS = ("Dockerfile", "requirements.txt", "build_offline.sh")
"""Files of ``sandbox/`` whose bytes decide the base tag."""

UPSTREAM_BASE = "python:3.13-slim"
LABEL_PREFIX = "io.guru-mcp.sandbox-image"
SANDBOX_UID = 10001

_DEFAULT_REGISTRY = "https://registry-1.docker.io/v2/"
_BUILD_CLIENT_TIMEOUT = 1800  # seconds; a quiet build step may not stream anything for minutes


class SandboxImageError(ConfigError):
    """The sandbox image cannot be named or built (missing inputs, failed build, no engine)."""


# --------------------------------------------------------------------------------------------
# Names and tags (pure, apart from reading the input files)


def sandbox_dir() -> Path:
    """The directory holding the image's inputs.

    In a source checkout this is the repository's ``sandbox/`` beside the package; in an installed
    wheel the same files ship as ``guru_mcp/_sandbox``.
    """
    repo = Path(__file__).resolve().parents[1] / "sandbox"
    if (repo / "Dockerfile").is_file():
        return repo
    packaged = Path(__file__).resolve().parent / "_sandbox"
    if (packaged / "Dockerfile").is_file():
        return packaged
    return repo


def _digest(parts: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(parts):
        data = parts[name]
        # Length-prefixed so that moving bytes from one input to another changes the hash.
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:12]


def base_tag(directory: Path | None = None) -> str:
    """The base image's tag: 12 hex digits of SHA-256 over the base inputs of ``directory``.

    Args:
        directory: where the inputs are; defaults to :func:`sandbox_dir`.

    Raises:
        SandboxImageError: an input file is missing.
    """
    directory = directory or sandbox_dir()
    parts: dict[str, bytes] = {}
    for name in BASE_INPUTS:
        try:
            parts[name] = (directory / name).read_bytes()
        except FileNotFoundError as exc:
            raise SandboxImageError(f"sandbox image input missing: {directory / name}") from exc
    return _digest(parts)


def top_tag(base: str, runner: bytes, helper: bytes = b"") -> str:
    """The top image's tag: 12 hex digits of SHA-256 over the base tag, the runner's and the helper's bytes."""
    parts = {"base": base.encode(), "runner.py": runner}
    if helper:
        parts[HELPER_NAME] = helper
    return _digest(parts)


def _runner_bytes(directory: Path) -> bytes:
    try:
        return (directory / "runner.py").read_bytes()
    except FileNotFoundError as exc:
        raise SandboxImageError(f"sandbox runner missing: {directory / 'runner.py'}") from exc


def _helper_bytes(directory: Path) -> bytes:
    try:
        return (directory / HELPER_NAME).read_bytes()
    except FileNotFoundError as exc:
        raise SandboxImageError(f"sandbox helper module missing: {directory / HELPER_NAME}") from exc


def expected_base_ref() -> str:
    """``guru-mcp-sandbox-base:<tag>`` for the current inputs."""
    return f"{BASE_IMAGE}:{base_tag()}"


def expected_tag() -> str:
    """The full reference ``guru-mcp-sandbox:<tag>`` the executor must run, for the current inputs.

    Raises:
        SandboxImageError: an input file (or ``sandbox/runner.py``) is missing.
    """
    directory = sandbox_dir()
    return f"{IMAGE}:{top_tag(base_tag(directory), _runner_bytes(directory), _helper_bytes(directory))}"


def _has_image(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def image_present(docker_client: docker.DockerClient) -> bool:
    """Whether the engine holds the image :func:`expected_tag` names (blocking; run off the loop)."""
    return _has_image(docker_client, expected_tag())


# --------------------------------------------------------------------------------------------
# Choosing the build path


def registry_reachable(url: str = _DEFAULT_REGISTRY, timeout: float = 3.0) -> bool:
    """Whether a container registry answers at ``url`` within ``timeout`` seconds (any HTTP reply).

    The whole probe, DNS included, is bounded by ``timeout``.
    """
    answered = threading.Event()

    def probe() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=timeout):
                answered.set()
        except urllib.error.HTTPError:  # 401 from a registry is an answer
            answered.set()
        except (OSError, ValueError):
            pass

    worker = threading.Thread(target=probe, name="registry-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    return answered.is_set()


def _registry_url(client: docker.DockerClient) -> str:
    """The registry the engine pulls from: its first configured mirror, else Docker Hub."""
    try:
        mirrors = (client.info().get("RegistryConfig") or {}).get("Mirrors") or []
    except docker.errors.APIError:
        mirrors = []
    if mirrors:
        return str(mirrors[0]).rstrip("/") + "/v2/"
    return _DEFAULT_REGISTRY


def _choose_offline(
    client: docker.DockerClient,
    progress: Callable[[str], None],
    probe: Callable[[str], bool] = registry_reachable,
) -> bool:
    """Pick the build path: the Dockerfile when its base image is at hand or a registry answers."""
    if _has_image(client, UPSTREAM_BASE):
        progress(f"{UPSTREAM_BASE} is present locally: building from the Dockerfile")
        return False
    url = _registry_url(client)
    progress(f"probing container registry {url} ...")
    if probe(url):
        progress("registry answered: building from the Dockerfile")
        return False
    progress("no container registry answered: using the offline build (debootstrap + PyPI wheels)")
    return True


# --------------------------------------------------------------------------------------------
# Building


def _stream_build(client: docker.DockerClient, progress: Callable[[str], None], **kwargs: Any) -> None:
    """Run a classic ``docker build`` through the API, relaying its output; raise on failure."""
    for chunk in client.api.build(decode=True, rm=True, forcerm=True, pull=False, **kwargs):
        if "error" in chunk:
            detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            raise SandboxImageError(f"docker build failed: {detail.strip()}")
        text = chunk.get("stream") or chunk.get("status")
        if text:
            for line in str(text).splitlines():
                if line.strip():
                    progress("  " + line.rstrip())


def _build_base_dockerfile(
    client: docker.DockerClient, directory: Path, ref: str, progress: Callable[[str], None]
) -> None:
    progress(f"building {ref} from {directory / 'Dockerfile'}")
    # pull=False: the builder still fetches python:3.13-slim when it is absent, but never
    # re-pulls a local copy (a host may have loaded it by hand).
    _stream_build(
        client,
        progress,
        path=str(directory),
        dockerfile="Dockerfile",
        tag=ref,
        labels={f"{LABEL_PREFIX}.build": "dockerfile"},
    )


def _build_base_offline(directory: Path, ref: str, progress: Callable[[str], None]) -> None:
    script = directory / "build_offline.sh"
    command = ["bash", str(script), ref]
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise SandboxImageError(
                "the offline sandbox build needs root (debootstrap, chroot); run "
                f"`sudo bash {script} {ref}` or build as root"
            )
        command = ["sudo", "-n", "--preserve-env=PYTHON,DEBIAN_MIRROR,DEBIAN_SUITE,BUILD_TMPDIR", *command]
    env = dict(os.environ)
    env.setdefault("PYTHON", sys.executable)  # the script falls back to python3 if it has no pip
    progress(f"building {ref} offline with {script}")
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            line = line.rstrip("\n")
            progress(line)
            tail = [*tail, line][-20:]
        code = proc.wait()
    if code != 0:
        raise SandboxImageError(f"offline sandbox build failed (exit {code}): " + " | ".join(tail[-5:]))


def _top_context(base_ref: str, base: str, top: str, runner: bytes, helper: bytes) -> io.BytesIO:
    helper_path = f"{Path(RUNNER_PATH).parent}/{HELPER_NAME}"
    dockerfile = "\n".join(
        [
            f"FROM {base_ref}",
            "USER 0",
            f"COPY runner.py {RUNNER_PATH}",
            f"COPY {HELPER_NAME} {helper_path}",
            (
                f"RUN chmod 0644 {RUNNER_PATH} {helper_path} && "
                f"python3 -m compileall -q --invalidation-mode unchecked-hash {Path(RUNNER_PATH).parent}"
            ),
            f"USER {SANDBOX_UID}",
            "WORKDIR /tmp",
            f'LABEL {LABEL_PREFIX}.base="{base}" {LABEL_PREFIX}.tag="{top}"',
            "",
        ]
    ).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile), ("runner.py", runner), (HELPER_NAME, helper)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


@contextlib.contextmanager
def _build_lock(progress: Callable[[str], None]) -> Iterator[None]:
    """Serialise builds on this host (CLI and server start-up may race); best effort."""
    path = Path(tempfile.gettempdir()) / "guru-mcp-sandbox-build.lock"
    try:
        handle = open(path, "a+b")  # noqa: SIM115 - held for the duration of the build
    except OSError:
        yield
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"another sandbox image build holds {path}; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_image(
    *,
    force: bool = False,
    offline: bool | None = None,
    progress: Callable[[str], None] = print,
) -> str:
    """Build whatever of the sandbox image is missing (base, then top) and return its reference.

    Blocking and slow (minutes for a base build): call it from the CLI or through
    ``anyio.to_thread``.

    Args:
        force: rebuild base and top even when images with the expected tags exist.
        offline: ``True`` for the debootstrap build, ``False`` for the Dockerfile; ``None`` picks
            the Dockerfile when ``python:3.13-slim`` is local or a registry answers within a few
            seconds, else the offline build. Only consulted when the base must be built.
        progress: receives one human-readable line per step.

    Returns:
        The reference ``guru-mcp-sandbox:<tag>``.

    Raises:
        SandboxImageError: missing inputs, no Docker engine, or a failed build.
    """
    directory = sandbox_dir()
    base = base_tag(directory)
    runner = _runner_bytes(directory)
    helper = _helper_bytes(directory)
    top = top_tag(base, runner, helper)
    ref = f"{IMAGE}:{top}"
    try:
        client = docker.from_env(timeout=_BUILD_CLIENT_TIMEOUT)
        client.ping()
    except docker.errors.DockerException as exc:
        raise SandboxImageError(
            f"no Docker engine reachable ({exc}); start one (scripts/ensure-docker.sh) and retry"
        ) from exc
    try:
        if not force and _has_image(client, ref):
            progress(f"{ref} is up to date")
            return ref
        with _build_lock(progress):
            return _build_locked(client, directory, base, top, runner, helper, force, offline, progress)
    except docker.errors.DockerException as exc:
        raise SandboxImageError(f"sandbox image build failed: {exc}") from exc
    finally:
        client.close()


def _build_locked(
    client: docker.DockerClient,
    directory: Path,
    base: str,
    top: str,
    runner: bytes,
    helper: bytes,
    force: bool,
    offline: bool | None,
    progress: Callable[[str], None],
) -> str:
    base_ref, ref = f"{BASE_IMAGE}:{base}", f"{IMAGE}:{top}"
    if not force and _has_image(client, ref):  # built by whoever held the lock before us
        progress(f"{ref} is up to date")
        return ref
    if force or not _has_image(client, base_ref):
        use_offline = _choose_offline(client, progress) if offline is None else offline
        if use_offline:
            _build_base_offline(directory, base_ref, progress)
        else:
            _build_base_dockerfile(client, directory, base_ref, progress)
        if not _has_image(client, base_ref):
            raise SandboxImageError(f"the build finished but {base_ref} is not in the engine")
    else:
        progress(f"{base_ref} is up to date")
    progress(f"building {ref} (runner layer on {base_ref})")
    _stream_build(
        client,
        progress,
        fileobj=_top_context(base_ref, base, top, runner, helper),
        custom_context=True,
        tag=ref,
        network_mode="none",
    )
    progress(f"{ref} ready")
    return ref


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: build the image with progress, print its reference last."""
    parser = argparse.ArgumentParser(
        prog="python -m guru_mcp.sandbox_image", description=__doc__.split("\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--offline",
        dest="offline",
        action="store_const",
        const=True,
        default=None,
        help="build the base offline (debootstrap + PyPI wheels + docker import)",
    )
    mode.add_argument(
        "--online",
        dest="offline",
        action="store_const",
        const=False,
        help="build the base from sandbox/Dockerfile (needs python:3.13-slim or a registry)",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when the tags exist")
    parser.add_argument("--print-tag", action="store_true", help="print the expected reference and exit")
    args = parser.parse_args(argv)
    try:
        if args.print_tag:
            print(expected_tag())
            return 0
        ref = build_image(
            force=args.force, offline=args.offline, progress=lambda line: print(line, flush=True)
        )
    except SandboxImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(ref)
    return 0


if __name__ == "__main__":
    sys.exit(main())
