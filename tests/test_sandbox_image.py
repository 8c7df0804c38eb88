"""The sandbox image: tagged by its inputs, built, and fit to run actions.

Tests marked ``docker`` use the real engine and the image ``scripts/ensure-sandbox-image.sh``
builds; under CI (``CI`` set) a missing engine or image fails them instead of skipping.
Containers are made with ``containers.create`` + ``start`` (never ``containers.run``, which pulls).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from guru_mcp import sandbox_image
from guru_mcp.sandbox_image import (
    BASE_INPUTS,
    HELPER_NAME,
    RUNNER_PATH,
    UPSTREAM_BASE,
    base_tag,
    expected_tag,
    image_present,
    registry_reachable,
    sandbox_dir,
    top_tag,
)

# The seed's preinstalled libraries: distribution name -> module to import.
SEED_IMPORTS = {
    "anthropic": "anthropic",
    "beautifulsoup4": "bs4",
    "httpx": "httpx",
    "instructor": "instructor",
    "lxml": "lxml.etree",
    "matplotlib": "matplotlib.pyplot",
    "numpy": "numpy",
    "openai": "openai",
    "opencv-python-headless": "cv2",
    "pandas": "pandas",
    "pillow": "PIL.Image",
    "pydantic": "pydantic",
    "requests": "requests",
    "scikit-learn": "sklearn",
    "scipy": "scipy",
    "seaborn": "seaborn",
    "urllib3": "urllib3",
}

# Runs inside the sandbox as `python3 -c PROBE <pins-json> <imports-json> <runner-path>`; prints one JSON line.
PROBE = r"""
import hashlib, importlib, importlib.metadata as md, importlib.util, json, os, shutil, subprocess, sys
pins, imports = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {"uid": os.getuid(), "gid": os.getgid(), "python": list(sys.version_info[:2]),
       "errors": {}, "versions": {}, "pyc": {}, "tools": {}}
for dist, module in imports.items():
    try:
        importlib.import_module(module)
    except Exception as exc:
        out["errors"][dist] = repr(exc)
for dist in pins:
    try:
        out["versions"][dist] = md.version(dist)
    except md.PackageNotFoundError:
        out["versions"][dist] = None
for module in ("pandas", "pandas.core.frame", "numpy", "json", "email.message"):
    mod = importlib.import_module(module)
    out["pyc"][module] = os.path.exists(importlib.util.cache_from_source(mod.__file__))
for tool in ("git", "curl"):
    path = shutil.which(tool)
    run = subprocess.run([tool, "--version"], capture_output=True, text=True) if path else None
    out["tools"][tool] = run.stdout.splitlines()[0] if run and run.returncode == 0 else None
with open(sys.argv[3], "rb") as fh:
    out["runner_sha256"] = hashlib.sha256(fh.read()).hexdigest()
print(json.dumps(out))
"""

docker_test = pytest.mark.docker


from tests.conftest import unavailable as _unavailable  # noqa: E402
from tests.support.http import QuietHandler, loopback_http  # noqa: E402


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in (sandbox_dir() / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirement not pinned exactly: {raw!r}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


# ---------------------------------------------------------------------------------------------
# Pure: tags


def test_the_tag_is_stable_while_the_inputs_are_unchanged(tmp_path: Path) -> None:
    for name in (*BASE_INPUTS, "runner.py", HELPER_NAME):
        shutil.copy(sandbox_dir() / name, tmp_path / name)
    assert base_tag(tmp_path) == base_tag() == base_tag(sandbox_dir())
    assert re.fullmatch(r"[0-9a-f]{12}", base_tag())
    # The tags depend on the inputs' bytes only: the copies give the same tag, and so does another
    # process (another hash seed, another working directory) computing them from scratch.
    runner, helper = (tmp_path / "runner.py").read_bytes(), (tmp_path / HELPER_NAME).read_bytes()
    assert expected_tag() == f"guru-mcp-sandbox:{top_tag(base_tag(tmp_path), runner, helper)}"
    here = {"top": top_tag("abc", b"print(1)\n"), "expected": expected_tag(), "copy": base_tag(tmp_path)}
    probe = (
        "import json, sys; from pathlib import Path; from guru_mcp.sandbox_image import *; "
        "print(json.dumps({'top': top_tag('abc', b'print(1)\\n'), 'expected': expected_tag(), "
        "'copy': base_tag(Path(sys.argv[1]))}))"
    )
    other = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout) == here
    assert re.fullmatch(r"guru-mcp-sandbox:[0-9a-f]{12}", expected_tag())


def test_any_change_to_an_input_changes_the_tag(tmp_path: Path) -> None:
    for name in BASE_INPUTS:
        shutil.copy(sandbox_dir() / name, tmp_path / name)
    before = base_tag(tmp_path)
    with (tmp_path / "requirements.txt").open("a") as fh:
        fh.write("# touched\n")
    assert base_tag(tmp_path) != before
    assert top_tag(before, b"a") != top_tag(before, b"b")
    assert top_tag("aaaaaaaaaaaa", b"x") != top_tag("bbbbbbbbbbbb", b"x")


def test_a_missing_input_is_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(sandbox_image.SandboxImageError, match="Dockerfile"):
        base_tag(tmp_path)


def test_every_requirement_is_pinned_and_the_seed_list_is_complete() -> None:
    pins = _pins()
    assert set(SEED_IMPORTS) <= set(pins)


# ---------------------------------------------------------------------------------------------
# Choosing the build path (fake engine, loopback-only probes)


class _FakeImages:
    def __init__(self, present: set[str]) -> None:
        self.present = present

    def get(self, ref: str) -> object:
        if ref not in self.present:
            raise docker.errors.ImageNotFound(ref)
        return object()


class _FakeClient:
    def __init__(self, present: frozenset[str] = frozenset(), mirrors: list[str] | None = None) -> None:
        self.images = _FakeImages(set(present))
        self._mirrors = mirrors or []

    def info(self) -> dict[str, Any]:
        return {"RegistryConfig": {"Mirrors": self._mirrors}}


def _never_probe(url: str) -> bool:
    raise AssertionError(f"probed {url} although the upstream image is local")


def test_a_local_upstream_image_selects_the_dockerfile_without_probing() -> None:
    client = _FakeClient({UPSTREAM_BASE})
    assert sandbox_image._choose_offline(client, lambda _: None, _never_probe) is False  # type: ignore[arg-type]


def test_no_answering_registry_selects_the_offline_build() -> None:
    probed: list[str] = []
    client = _FakeClient(mirrors=["http://127.0.0.1:9/"])

    def probe(url: str) -> bool:
        probed.append(url)
        return False

    assert sandbox_image._choose_offline(client, lambda _: None, probe) is True  # type: ignore[arg-type]
    assert probed == ["http://127.0.0.1:9/v2/"]  # the engine's mirror, not Docker Hub


def test_an_answering_registry_selects_the_dockerfile() -> None:
    client = _FakeClient()
    assert sandbox_image._choose_offline(client, lambda _: None, lambda _: True) is False  # type: ignore[arg-type]


@pytest.fixture
def fake_registry() -> Iterator[str]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # a registry answers /v2/ with 401 until one logs in
            self.reply(401)

    with loopback_http(Handler) as server:
        yield f"{server.url}/v2/"


def test_a_registry_that_answers_401_counts_as_reachable(fake_registry: str) -> None:
    assert registry_reachable(fake_registry, timeout=5) is True


def test_a_closed_port_counts_as_unreachable() -> None:
    with socket.socket() as sock:  # find a free port, then close it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert registry_reachable(f"http://127.0.0.1:{port}/v2/", timeout=2) is False


# ---------------------------------------------------------------------------------------------
# The built image (real engine)


@pytest.fixture(scope="module")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        _unavailable(f"no Docker engine reachable ({exc}); run scripts/ensure-docker.sh")
    yield client
    client.close()


@pytest.fixture(scope="module")
def image(docker_client: docker.DockerClient) -> str:
    ref = expected_tag()
    if not image_present(docker_client):
        _unavailable(f"{ref} is not built; run scripts/ensure-sandbox-image.sh")
    return ref


@pytest.fixture(scope="module")
def probe(docker_client: docker.DockerClient, image: str) -> dict[str, Any]:
    """One hardened, offline, read-only run of the image that inspects it from inside."""
    pins = _pins()
    container = docker_client.containers.create(
        image,
        ["python3", "-c", PROBE, json.dumps(pins), json.dumps(SEED_IMPORTS), RUNNER_PATH],
        read_only=True,
        network_mode="none",
        tmpfs={"/tmp": "rw,noexec,nosuid,nodev,size=100m"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        mem_limit="1g",
        pids_limit=128,
    )
    try:
        container.start()
        status = container.wait(timeout=180)
        stdout = container.logs(stdout=True, stderr=False).decode()
        stderr = container.logs(stdout=False, stderr=True).decode()
    finally:
        container.remove(force=True)
    assert status["StatusCode"] == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


@docker_test
def test_the_image_for_the_current_inputs_is_built(docker_client: docker.DockerClient, image: str) -> None:
    assert image_present(docker_client)
    config = docker_client.images.get(image).attrs["Config"]
    assert config["User"] == "10001"
    assert config["WorkingDir"] == "/tmp"


@docker_test
def test_the_sandbox_runs_as_the_non_root_user(probe: dict[str, Any]) -> None:
    assert probe["uid"] == 10001
    assert probe["gid"] == 10001


@docker_test
def test_the_sandbox_python_is_3_13(probe: dict[str, Any]) -> None:
    assert probe["python"] == [3, 13]


@docker_test
def test_every_seed_library_imports_on_a_read_only_root(probe: dict[str, Any]) -> None:
    assert probe["errors"] == {}


@docker_test
def test_installed_versions_match_requirements_txt(probe: dict[str, Any]) -> None:
    assert probe["versions"] == _pins()


@docker_test
def test_byte_code_is_precompiled(probe: dict[str, Any]) -> None:
    assert probe["pyc"] == {
        m: True for m in ("pandas", "pandas.core.frame", "numpy", "json", "email.message")
    }


@docker_test
def test_git_and_curl_are_present(probe: dict[str, Any]) -> None:
    assert (probe["tools"]["git"] or "").startswith("git version")
    assert (probe["tools"]["curl"] or "").startswith("curl ")


@docker_test
def test_the_image_carries_the_current_runner(probe: dict[str, Any]) -> None:
    runner = (sandbox_dir() / "runner.py").read_bytes()
    assert probe["runner_sha256"] == hashlib.sha256(runner).hexdigest()
