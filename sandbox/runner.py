"""The guru-mcp in-container runner: runs ONE Python action and reports its result. Standard library only.

Started as the sandbox container's command (`python3 -u /opt/guru/runner.py`) with stdin open. It never
imports guru_mcp; the server talks to it only through the framing below.

Start-up, before any job arrives (a warm-pool container sits here, waiting on stdin):

1. fd 1 is duplicated away: the copy is the *result channel*; fd 1 itself is pointed at stderr, so
   nothing printed during start-up (warnings from pre-imports, ...) can reach the result channel.
2. If `GURU_EGRESS_SOCKET` is set, a thread listens on 127.0.0.1:`GURU_PROXY_PORT` (default 3128) and
   forwards every TCP connection byte for byte to that Unix socket: the server's egress proxy, mounted
   into the container. `HTTP_PROXY`/`HTTPS_PROXY` in the container's environment point clients at it.
3. The modules named in `GURU_PREIMPORT` (comma-separated) are imported; failures are ignored.
4. The line `guru-runner: ready` is written on stderr, then the runner waits for its job.

Framing:

- **stdin**: exactly one line of UTF-8 JSON, ended by `\\n`::

      {"code": "<python source>", "env": {"NAME": "value", ...}, "max_output": 1048576, "timeout": 30,
       "events": false}

  `env` (parameters, the action's secrets, built-in variables) goes into `os.environ`. Secrets travel
  only here, never in the container's configuration. End of input before a full line: exit 0, silently.
  `events` (optional, default false): stream progress events while the code runs (below).
- **stdout** (the result channel): with `events`, zero or more *event lines* first, each one line of
  UTF-8 JSON whose first key is `"event"`::

      {"event": "line", "text": "<a line the code printed on stdout, at most 500 characters>"}
      {"event": "progress", "fraction": 0.5, "message": "<what the code passed to progress()>"}

  at most one per `EVENT_INTERVAL` seconds (a newer event replaces one held back; the last one held is
  written before the result). Then exactly one *result line* (never starting with `{"event"`), ended
  by `\\n`; the process then waits for stdin to close (the server closes it or removes the container)
  and exits 0::

      {"exit_code": 0, "stdout": "...", "stderr": "...", "stdout_truncated": false,
       "stderr_truncated": false, "error_kind": null, "duration_ms": 1.2}

  `stdout`/`stderr` hold what the code (and any process it started) wrote to fd 1 and fd 2, each
  capped at `max_output` bytes (the rest is drained and dropped; the `*_truncated` flag says so) and
  decoded as UTF-8 with replacement. `exit_code`: 0 on normal completion, the code of a `SystemExit`,
  1 for an uncaught exception (its traceback is on `stderr`). `error_kind`: null, `"exception"` or
  `"memory"` (a `MemoryError`) or `"timeout"`: the code was still running after the job's `timeout`
  seconds (optional), was interrupted (exit code 124), and what it printed so far is reported. A
  process killed from outside (timeout, kernel OOM killer) writes no
  result line at all; the server reads that from the container's state.
- **stderr**: free-form diagnostics of the runner itself; the server may ignore it.

The code finds a function `progress(fraction=None, message="")` among its globals: it reports how far
it is (`fraction` from 0 to 1, or None) with a short message; without `events` it does nothing.

The runner is a convenience, not a boundary: the code can do anything the container allows.
"""

from __future__ import annotations

import builtins
import json
import linecache
import os
import signal
import socket
import sys
import threading
import time
import types

ACTION_FILENAME = "action.py"
READY_MARKER = b"guru-runner: ready\n"
"""Written on stderr when start-up is done and the runner waits for its job (the warm pool waits for it)."""
DRAIN_GRACE_SECONDS = 0.5
"""How long to wait for output still held by processes the code left running in the background."""
EVENT_INTERVAL = 0.05
"""Seconds between two event lines; what comes sooner is held back (only the newest is kept)."""
EVENT_TEXT_LIMIT = 500
PARTIAL_LINE_LIMIT = 4096
"""Bytes of an unfinished stdout line kept for its line event (the full output is captured anyway)."""


# --- events -----------------------------------------------------------------------------------------


class Events:
    """Event lines on the result channel, written by the code's thread and the stdout drain."""

    def __init__(self, fd: int, enabled: bool) -> None:
        self.fd = fd
        self.enabled = enabled
        self.lock = threading.Lock()
        self.closed = False
        self.last = float("-inf")
        self.held: dict | None = None

    def emit(self, event: dict) -> None:
        if not self.enabled:
            return
        with self.lock:
            if self.closed:
                return
            now = time.monotonic()
            if now - self.last < EVENT_INTERVAL:
                self.held = event
                return
            self.held = None
            self.last = now
            self._write(event)

    def close(self) -> None:
        """Write what is held back; no event after this (the result line comes next)."""
        with self.lock:
            if self.held is not None and not self.closed:
                self._write(self.held)
            self.held = None
            self.closed = True

    def _write(self, event: dict) -> None:
        line = json.dumps({"event": event.pop("event"), **event}, ensure_ascii=False) + "\n"
        try:
            _write_all(self.fd, line.encode("utf-8", "replace"))
        except OSError:
            self.enabled = False

    def line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if text.strip():
            self.emit({"event": "line", "text": text[:EVENT_TEXT_LIMIT]})

    def progress(self, fraction: float | None = None, message: str = "") -> None:
        """Report how far the action is: `fraction` done (0 to 1, or None) and a short message."""
        if fraction is not None:
            if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
                raise ValueError("progress(fraction, message): fraction must be a number from 0 to 1, or None")
            fraction = float(fraction)
        self.emit({"event": "progress", "fraction": fraction, "message": str(message)[:EVENT_TEXT_LIMIT]})


# --- egress forwarder -------------------------------------------------------------------------------


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _forward(client: socket.socket, unix_path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(unix_path)
    except OSError:
        client.close()
        upstream.close()
        return
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _serve_forwarder(listener: socket.socket, unix_path: str) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=_forward, args=(client, unix_path), daemon=True).start()


def start_forwarder(unix_path: str, port: int) -> socket.socket | None:
    """Listen on 127.0.0.1:port and forward each connection to the Unix socket `unix_path`."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
    except OSError as exc:
        print(f"guru runner: egress forwarder not started: {exc}", file=sys.stderr)
        listener.close()
        return None
    threading.Thread(target=_serve_forwarder, args=(listener, unix_path), daemon=True).start()
    return listener


# --- output capture ---------------------------------------------------------------------------------


class _Drain:
    """Reads one pipe to its end, keeping the first `limit` bytes (set before any data can arrive)."""

    def __init__(self, fd: int, limit: int = 0) -> None:
        self.fd = fd
        self.limit = limit
        self.on_line = None
        """Called with each complete line read (set before any data can arrive), if set."""
        self.partial = b""
        self.chunks: list[bytes] = []
        self.kept = 0
        self.truncated = False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                break
            if not data:
                break
            if self.on_line is not None:
                self._lines(data)
            with self.lock:
                room = self.limit - self.kept
                if len(data) > room:
                    self.truncated = True
                    data = data[: max(room, 0)]
                if data:
                    self.chunks.append(data)
                    self.kept += len(data)
        os.close(self.fd)

    def _lines(self, data: bytes) -> None:
        *lines, rest = (self.partial + data).split(b"\n")
        self.partial = rest[:PARTIAL_LINE_LIMIT]
        if lines:
            try:
                self.on_line(lines[-1])  # only the newest complete line: older ones would be held back anyway
            except Exception:  # noqa: BLE001 - reporting must never stop the capture
                pass

    def result(self, grace: float) -> tuple[str, bool]:
        self.thread.join(grace)
        with self.lock:
            return b"".join(self.chunks).decode("utf-8", "replace"), self.truncated


# --- running the code -------------------------------------------------------------------------------


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, bool):
        return int(code)
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)  # like the interpreter: a non-integer code is printed, exit 1
    return 1


def _print_traceback(exc: BaseException) -> None:
    import traceback  # only on failure: it costs milliseconds of start-up

    tb = exc.__traceback__
    # Drop the runner's own frames: the trace starts in the action's code.
    while tb is not None and tb.tb_frame.f_code.co_filename != ACTION_FILENAME:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb if tb is not None else exc.__traceback__, file=sys.stderr)


class _Timeout(BaseException):
    """Raised in the code when the job's time is up (an exception the code is unlikely to catch)."""


def _time_up(_signum: int, _frame: object) -> None:
    raise _Timeout


def execute(code: str, timeout: float | None = None, extra_globals: dict | None = None) -> tuple[int, str | None]:
    """Run `code` as `__main__`; (exit code, error kind). Must be called with fds already redirected.
    With `timeout`, the code is interrupted after that many seconds: (124, "timeout")."""
    if timeout:
        signal.signal(signal.SIGALRM, _time_up)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return _execute(code, extra_globals)
    except _Timeout:  # raised between the code's end and the timer's reset
        return 124, "timeout"
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _execute(code: str, extra_globals: dict | None = None) -> tuple[int, str | None]:
    linecache.cache[ACTION_FILENAME] = (len(code), None, code.splitlines(True), ACTION_FILENAME)
    module = types.ModuleType("__main__")
    module.__dict__.update({"__builtins__": builtins, "__file__": ACTION_FILENAME, **(extra_globals or {})})
    sys.modules["__main__"] = module
    sys.argv = [ACTION_FILENAME]
    try:
        compiled = compile(code, ACTION_FILENAME, "exec")
        exec(compiled, module.__dict__)
    except _Timeout:
        print("guru runner: the action's time is up", file=sys.stderr)
        return 124, "timeout"
    except SystemExit as exc:
        return _exit_code(exc), None
    except MemoryError as exc:
        try:
            _print_traceback(exc)
        except MemoryError:
            pass
        print("guru runner: MemoryError: the action ran out of memory", file=sys.stderr)
        return 1, "memory"
    except BaseException as exc:  # noqa: BLE001 - every failure of the code is reported, not raised
        _print_traceback(exc)
        return 1, "exception"
    return 0, None


class Capture:
    """The pipes that will become fd 1 and 2, with their drain threads already running.

    Made before the job arrives: starting threads costs milliseconds of scheduling on a busy or
    virtualised host, so a warm container pays it while it waits, not while the caller does.
    """

    def __init__(self) -> None:
        out_r, self.out_w = os.pipe()
        err_r, self.err_w = os.pipe()
        self.drains = (_Drain(out_r), _Drain(err_r))

    def begin(self, limit: int, on_line=None) -> None:
        for drain in self.drains:
            drain.limit = limit
        self.drains[0].on_line = on_line
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self.out_w, 1)
        os.dup2(self.err_w, 2)
        os.close(self.out_w)
        os.close(self.err_w)


def run_job(job: dict, result_fd: int, capture: Capture | None = None) -> None:
    """Run one job with fd 1/2 captured and write the result line to `result_fd`."""
    code = job.get("code")
    if not isinstance(code, str):
        raise ValueError("job.code must be a string")
    env = job.get("env") or {}
    limit = int(job.get("max_output") or 1024 * 1024)
    timeout = float(job["timeout"]) if job.get("timeout") else None
    os.environ.update({str(k): str(v) for k, v in env.items()})

    runner_pid = os.getpid()
    events = Events(result_fd, bool(job.get("events")))
    capture = capture or Capture()
    drains = capture.drains
    capture.begin(limit, events.line if events.enabled else None)

    started = time.perf_counter()
    exit_code, error_kind = execute(code, timeout, {"progress": events.progress})
    duration_ms = (time.perf_counter() - started) * 1000

    if os.getpid() != runner_pid:
        # A process the code forked got here: only the runner itself reports.
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(exit_code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - the code may have replaced or closed the stream
            pass
    # Give the pipes' write ends back: the drains see end of file once no background process holds them.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    deadline = time.monotonic() + DRAIN_GRACE_SECONDS
    stdout, stdout_truncated = drains[0].result(max(deadline - time.monotonic(), 0.0))
    stderr, stderr_truncated = drains[1].result(max(deadline - time.monotonic(), 0.0))
    events.close()
    result = {
        "exit_code": exit_code,
        "stdout": stdout,
        "stderr": stderr,
        "stdout_truncated": stdout_truncated,
        "stderr_truncated": stderr_truncated,
        "error_kind": error_kind,
        "duration_ms": round(duration_ms, 3),
    }
    _write_all(result_fd, (json.dumps(result, ensure_ascii=False) + "\n").encode("utf-8", "replace"))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_job_line() -> bytes:
    buf = bytearray()
    while not buf.endswith(b"\n"):
        chunk = os.read(0, 65536)
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def main() -> None:
    # The result channel is a private copy of the original stdout; fd 1 goes to stderr until the job.
    result_fd = os.dup(1)
    os.set_inheritable(result_fd, False)
    os.dup2(2, 1)

    unix_path = os.environ.get("GURU_EGRESS_SOCKET")
    if unix_path:
        start_forwarder(unix_path, int(os.environ.get("GURU_PROXY_PORT") or 3128))
    for name in filter(None, (part.strip() for part in os.environ.get("GURU_PREIMPORT", "").split(","))):
        try:
            __import__(name)
        except BaseException:  # noqa: BLE001 - a missing or broken module must not stop the runner
            pass

    capture = Capture()
    os.write(2, READY_MARKER)
    line = _read_job_line()
    if not line.strip():
        os._exit(0)
    # The code must not read the job (or anything else) from stdin; the runner keeps its own copy.
    job_stdin = os.dup(0)
    os.set_inheritable(job_stdin, False)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    try:
        job = json.loads(line)
        run_job(job, result_fd, capture)
    except Exception as exc:  # noqa: BLE001 - a malformed job still gets exactly one result line
        os.dup2(result_fd, 1)
        result = {
            "exit_code": 1,
            "stdout": "",
            "stderr": f"guru runner: bad job: {type(exc).__name__}: {exc}",
            "stdout_truncated": False,
            "stderr_truncated": False,
            "error_kind": "exception",
            "duration_ms": 0.0,
        }
        _write_all(result_fd, (json.dumps(result) + "\n").encode())
    # Exiting at once would make the engine handle the container's exit while it still relays the
    # result line, which delays the line by milliseconds; so wait for stdin to close (the server
    # closes it, or removes the container) and only then exit.
    try:
        while os.read(job_stdin, 65536):
            pass
    except OSError:
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
