"""Storage faults give clear errors and the server keeps serving: a full disk, a read-only state
directory (reads still work), an unreachable PostgreSQL. The disk is a real small tmpfs (mounting
needs root: the test fails under CI, skips elsewhere, without it)."""

from __future__ import annotations

import contextlib
import errno
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import api_action, unavailable
from tests.e2e.conftest import StdioServer, cli, free_port
from tests.support.http import EchoServer


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
        assert len(lines) == 1 and "read-only" in lines[0] and "Traceback" not in refused.stderr, (
            refused.stderr
        )
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
    env = cli_env | {
        "GURU_MCP_DATABASE_URL": f"postgresql+psycopg://postgres:postgres@127.0.0.1:{free_port()}/guru"
    }
    done = cli(env, "actions", "list", check=False)
    assert done.returncode == 6, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0] and "Traceback" not in done.stderr, done.stderr


class TcpRelay:
    """A loopback TCP relay to PostgreSQL that the test can cut and restore (the database going away
    and coming back, as seen by the server)."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket
        import threading

        self.target = target
        self.port = free_port()
        self._socket, self._threading = socket, threading
        self._conns: list = []
        self._listener = None
        self.start()

    def start(self) -> None:
        listener = self._socket.socket()
        listener.setsockopt(self._socket.SOL_SOCKET, self._socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        self._threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = self._socket.create_connection(self.target, timeout=10)
            upstream.settimeout(None)
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                self._threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        assert self._listener is not None
        # shutdown() first: close() alone does not wake a thread blocked in accept(), which would then
        # go on accepting new connections on the still-open listening socket.
        with contextlib.suppress(OSError):
            self._listener.shutdown(self._socket.SHUT_RDWR)
        self._listener.close()
        for conn in self._conns:
            try:
                conn.shutdown(self._socket.SHUT_RDWR)
                conn.close()
            except OSError:
                pass
        self._conns.clear()


@pytest.fixture
def postgres_url(postgres_server) -> Iterator[str]:
    """A fresh PostgreSQL database, on the SQLite pass too (this test is about PostgreSQL)."""
    from tests.databases import DEFAULT_SERVER, ENV, PostgresServer

    server = postgres_server
    own = server is None
    if own:
        import os

        server = PostgresServer.from_url(os.environ.get(ENV) or DEFAULT_SERVER)
        try:
            server.check()
        except RuntimeError as exc:
            unavailable(str(exc))
    name = server.create()
    try:
        yield server.url_of(name)
    finally:
        server.drop(name)
        if own:
            server.drop_all()


@pytest.mark.timeout(120)
def test_postgresql_going_away_gives_a_clear_tool_error_and_serving_resumes_when_it_is_back(
    cli_env, postgres_url, echo_server: EchoServer, tmp_path
) -> None:
    from sqlalchemy.engine import make_url

    target = make_url(postgres_url)
    relay = TcpRelay((target.host or "127.0.0.1", target.port or 5432))
    env = cli_env | {
        "GURU_MCP_DATABASE_URL": target.set(host="127.0.0.1", port=relay.port).render_as_string(
            hide_password=False
        )
    }
    cli(env, "init")
    (tmp_path / "hi.json").write_text(json.dumps(api_action("hi", echo_server.url + "/hi")))
    cli(env, "actions", "import", str(tmp_path / "hi.json"))
    server = StdioServer(env, tmp_path / "serve.log")
    try:
        assert not server.response(server.call("hi"))["result"].get("isError")
        relay.cut()
        down = server.response(server.call("hi"))
        assert down["result"].get("isError") is True, down
        assert "database server is unreachable" in text_of(down), text_of(down)
        listed = server.response(server.send("tools/list"))
        assert [t["name"] for t in listed["result"]["tools"]] == ["hi"]
        relay.start()
        back = server.response(server.call("hi"))
        assert not back["result"].get("isError"), text_of(back)
    finally:
        server.stop()
        relay.cut()
