"""`guru-mcp` commands run as their own processes, forked from one interpreter that has already
imported the package (a "zygote"), instead of a fresh interpreter per command.

A fresh `guru-mcp` process spends seconds of CPU importing before it does anything; an end-to-end
test running ten commands paid that ten times. Each command here is still a separate process with
its own arguments, environment, working directory, stdin, stdout, stderr and exit status (the
command's `main()` runs in a forked child that then exits through the interpreter's own shutdown). What the fork shares is only the imported modules.
`tests/test_cli.py::test_the_installed_command_exits_with_the_documented_codes` and the servers the
e2e tests start (`guru-mcp serve`, a real executable) keep covering the installed entry point.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

GURU = str(Path(sys.executable).with_name("guru-mcp"))

_ZYGOTE = r"""
import atexit, importlib, json, os, pkgutil, signal, socket, sys, traceback

import guru_mcp
import guru_mcp.cli

for info in pkgutil.walk_packages(guru_mcp.__path__, "guru_mcp."):
    if not info.name.endswith("__main__"):
        try:
            importlib.import_module(info.name)
        except Exception:
            pass
for name in ("alembic.command", "alembic.runtime.migration", "sqlalchemy.dialects.sqlite",
             "sqlalchemy.dialects.postgresql.psycopg", "psycopg"):
    try:
        importlib.import_module(name)
    except Exception:
        pass

channel = socket.socket(fileno=int(sys.argv[1]))
requests = channel.makefile("rb")
channel.sendall(b"ready\n")


def child(req):
    channel.close()
    signal.alarm(int(req["timeout"]))  # the default action ends the process, like a timeout kill
    os.chdir(req["cwd"])
    for fd, (path, mode) in enumerate(((req["stdin"], os.O_RDONLY), (req["stdout"], os.O_WRONLY),
                                       (req["stderr"], os.O_WRONLY))):
        opened = os.open(path, mode)
        os.dup2(opened, fd)
        os.close(opened)
    os.environ.clear()
    os.environ.update(req["env"])
    sys.argv = req["argv"]
    code = 0
    try:
        guru_mcp.cli.main()
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    # The interpreter's own exit from here (the SystemExit leaves the loop below): atexit handlers,
    # flushed streams, and objects finalized, e.g. SQLite connections closed (which checkpoints and
    # removes the WAL, as a fresh process leaves it).
    sys.exit(code)


for line in requests:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        child(req)
    _, status = os.waitpid(pid, 0)
    channel.sendall((json.dumps({"status": os.waitstatus_to_exitcode(status)}) + "\n").encode())
"""


class _Zygote:
    """One pre-imported interpreter per test session; forks a child per command (one at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: socket.socket | None = None
        self._replies = None

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if not k.startswith("GURU_MCP_")},
        )
        theirs.close()
        ours.settimeout(300)
        self._channel = ours
        self._replies = ours.makefile("rb")
        if self._replies.readline() != b"ready\n":
            raise RuntimeError("the preloaded guru-mcp interpreter did not start")
        atexit.register(self.close)

    def run(
        self, args: list[str], env: dict[str, str], stdin: str | None, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        with self._lock, tempfile.TemporaryDirectory(prefix="guru-cli-") as tmp:
            if self._process is None or self._process.poll() is not None:
                self._start()
            assert self._channel is not None and self._replies is not None
            paths = {name: Path(tmp, name) for name in ("stdin", "stdout", "stderr")}
            paths["stdin"].write_text(stdin or "")
            request = {
                "argv": [GURU, *args],
                "env": env,
                "cwd": os.getcwd(),
                "timeout": max(1, round(timeout)),
                **{name: str(path) for name, path in paths.items()},
            }
            for name in ("stdout", "stderr"):
                paths[name].touch()
            self._channel.sendall((json.dumps(request) + "\n").encode())
            line = self._replies.readline()
            if not line:
                self._process = None
                raise RuntimeError("the preloaded guru-mcp interpreter went away")
            status = json.loads(line)["status"]
            out, err = (paths[name].read_text(errors="replace") for name in ("stdout", "stderr"))
            if status == -14:  # SIGALRM: the command's time ran out
                raise subprocess.TimeoutExpired([GURU, *args], timeout, out, err)
            return subprocess.CompletedProcess([GURU, *args], status, out, err)

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            assert self._channel is not None
            self._channel.close()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)


_zygote = _Zygote()


def run_cli(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`guru-mcp ARGS` in a process of its own (see the module docstring): like
    `subprocess.run([GURU, *args], env=env, input=stdin, capture_output=True, text=True)`."""
    return _zygote.run(list(args), env, stdin, timeout)
