"""Storage faults give clear errors and the server keeps serving: a full disk, a read-only state
directory (reads still work), an unreachable PostgreSQL. The disk is a real small tmpfs (mounting
needs root: the test fails under CI, skips elsewhere, without it)."""

from __future__ import annotations

import errno
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EchoServer, api_action, unavailable
from tests.e2e.conftest import StdioServer, cli, free_port


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture
def disk_env(cli_env, small_disk) -> dict[str, str]:
    """A SQLite home on the small disk (whatever database the suite runs on: the fault is the file's)."""
    env = {k: v for k, v in cli_env.items() if k != "GURU_MCP_DATABASE_URL"}
    return env | {"GURU_MCP_HOME": str(small_disk / "home"), "GURU_MCP_RUN_OUTPUT_LIMIT": "2000000"}


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb") as out:
        try:
            for _ in range(10_000):  # bounded: at most 10 GB, far beyond the disk
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def text_of(response: dict) -> str:
    return " ".join(c.get("text", "") for c in response["result"]["content"])


@pytest.mark.timeout(120)
def test_a_full_disk_gives_a_clear_tool_error_and_the_server_keeps_serving(
    disk_env, small_disk, echo_server: EchoServer, tmp_path
) -> None:
    cli(disk_env, "init")
    (tmp_path / "big.json").write_text(json.dumps(api_action("big", echo_server.url + "/big")))
    cli(disk_env, "actions", "import", str(tmp_path / "big.json"))
    server = StdioServer(disk_env, tmp_path / "serve.log")
    try:
        filler = fill(small_disk)
        refused = server.response(server.call("big"))
        assert refused["result"].get("isError") is True, refused
        assert "disk holding the database is full" in text_of(refused), text_of(refused)
        listed = server.response(server.send("tools/list"))
        assert [t["name"] for t in listed["result"]["tools"]] == ["big"]
        filler.unlink()
        again = server.response(server.call("big"))
        assert not again["result"].get("isError"), text_of(again)
    finally:
        server.stop()


@pytest.mark.timeout(120)
def test_a_read_only_state_directory_still_lists_and_refuses_writes_in_one_line(
    disk_env, small_disk, echo_server: EchoServer, tmp_path
) -> None:
    cli(disk_env, "init")
    (tmp_path / "hi.json").write_text(json.dumps(api_action("hi", echo_server.url + "/hi")))
    cli(disk_env, "actions", "import", str(tmp_path / "hi.json"))
    cli(disk_env, "actions", "test", "hi")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        assert "hi" in cli(disk_env, "actions", "list").stdout
        assert "ok" in cli(disk_env, "runs", "list").stdout
        refused = cli(disk_env, "secrets", "set", "TOKEN", stdin="s3cret-value", check=False)
        assert refused.returncode == 6, refused
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "read-only" in lines[0] and "Traceback" not in refused.stderr, refused.stderr
        server = StdioServer(disk_env, tmp_path / "serve.log")
        try:
            listed = server.response(server.send("tools/list"))
            assert [t["name"] for t in listed["result"]["tools"]] == ["hi"]
            call = server.response(server.call("hi"))
            assert call["result"].get("isError") is True and "read-only" in text_of(call), call
        finally:
            server.stop()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], capture_output=True)


def test_an_unreachable_database_server_is_one_clear_line(cli_env) -> None:
    env = cli_env | {"GURU_MCP_DATABASE_URL": f"postgresql+psycopg://postgres:postgres@127.0.0.1:{free_port()}/guru"}
    done = cli(env, "actions", "list", check=False)
    assert done.returncode == 6, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0] and "Traceback" not in done.stderr, done.stderr
