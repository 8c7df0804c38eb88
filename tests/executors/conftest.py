"""Docker fixtures for the sandbox tests: a reachable engine and the sandbox image.

Locally, a missing engine or image skips the Docker tests (saying how to get them). Under CI (env `CI`
set) they FAIL instead: CI must install and start Docker and build the image (`.ci/run`).
The image is `GURU_MCP_SANDBOX_IMAGE` when set, else the tag computed from `sandbox/`
(`guru_mcp.sandbox_image.expected_tag()`), which changes whenever `sandbox/runner.py` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import docker
import pytest
from docker import APIClient
from docker.errors import DockerException, ImageNotFound

from tests.conftest import unavailable as _unavailable


@pytest.fixture(scope="session")
def docker_api() -> Iterator[APIClient]:
    """The low-level Docker client; the test fails under CI (skips locally) without an engine."""
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as exc:
        _unavailable(f"no Docker engine reachable ({exc}); start one with scripts/ensure-docker.sh")
    yield client.api
    client.close()


@pytest.fixture(scope="session")
def sandbox_image(docker_api: APIClient) -> str:
    """The sandbox image reference, present on the engine."""
    ref = os.environ.get("GURU_MCP_SANDBOX_IMAGE")
    if not ref:
        from guru_mcp.sandbox_image import expected_tag

        ref = expected_tag()
    try:
        docker_api.inspect_image(ref)
    except ImageNotFound:
        _unavailable(f"sandbox image {ref} is not built; build it with `guru-mcp sandbox build`")
    return ref
