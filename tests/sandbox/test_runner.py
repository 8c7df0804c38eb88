"""The in-container runner, run as a plain subprocess (no Docker): its framing and its guarantees."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

RUNNER = Path(__file__).resolve().parents[2] / "sandbox" / "runner.py"
RESULT_KEYS = {
    "exit_code",
    "stdout",
    "stderr",
    "stdout_truncated",
    "stderr_truncated",
    "error_kind",
    "duration_ms",
}


def run_raw(
    job: Any, *, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    data = job if isinstance(job, bytes) else (json.dumps(job) + "\n").encode()
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-u", str(RUNNER)], input=data, capture_output=True, timeout=timeout, env=full_env
    )


def run(
    code: str, *, env: dict[str, str] | None = None, max_output: int = 1 << 20, **kw: Any
) -> dict[str, Any]:
    proc = run_raw({"code": code, "env": env or {}, "max_output": max_output}, **kw)
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    assert set(result) == RESULT_KEYS
    return result


def test_the_job_environment_arrives_in_os_environ():
    result = run(
        "import os\nprint(os.environ['city'], os.environ['API_KEY'], os.getenv('GURUBASE_USER_EMAIL'))",
        env={"city": "Paris", "API_KEY": "sk-123456789", "GURUBASE_USER_EMAIL": "ada@example.com"},
    )
    assert result["stdout"] == "Paris sk-123456789 ada@example.com\n"
    assert result["exit_code"] == 0 and result["error_kind"] is None


def test_stdout_and_stderr_are_captured_separately():
    result = run("import sys\nprint('out')\nprint('err', file=sys.stderr)")
    assert (result["stdout"], result["stderr"]) == ("out\n", "err\n")


def test_output_of_subprocesses_is_captured_too():
    code = (
        "import os, subprocess, sys\n"
        'child = \'import sys; print("child out"); print("child err", file=sys.stderr)\'\n'
        "subprocess.run([sys.executable, '-c', child])\n"
        "os.system('echo from shell')\n"
    )
    result = run(code)
    assert result["stdout"] == "child out\nfrom shell\n"
    assert result["stderr"] == "child err\n"


def test_system_exit_maps_to_its_code():
    assert run("raise SystemExit(3)")["exit_code"] == 3
    assert run("import sys\nsys.exit()")["exit_code"] == 0
    failed = run("import sys\nsys.exit('giving up')")
    assert failed["exit_code"] == 1 and failed["stderr"] == "giving up\n"
    assert failed["error_kind"] is None


def test_an_uncaught_exception_exits_1_with_a_traceback_of_the_action():
    result = run("def f():\n    return 1 / 0\nf()\n")
    assert result["exit_code"] == 1
    assert result["error_kind"] == "exception"
    assert 'File "action.py", line 3' in result["stderr"]
    assert "return 1 / 0" in result["stderr"]  # the source line is shown
    assert result["stderr"].rstrip().endswith("ZeroDivisionError: division by zero")
    assert "runner.py" not in result["stderr"]


def test_a_memory_error_is_marked_as_such():
    result = run("raise MemoryError()")
    assert result["exit_code"] == 1
    assert result["error_kind"] == "memory"
    assert "MemoryError" in result["stderr"]


def test_output_is_capped_and_flagged_while_the_rest_is_drained():
    code = (
        "import subprocess, sys\n"
        "print('x' * 50_000)\n"
        "subprocess.run([sys.executable, '-c', 'print(\"y\" * 500_000)'])\n"
        "print('e' * 50_000, file=sys.stderr)\n"
    )
    result = run(code, max_output=1000)
    assert result["stdout"] == "x" * 1000
    assert result["stdout_truncated"] is True
    assert len(result["stderr"]) == 1000 and result["stderr_truncated"] is True
    assert result["exit_code"] == 0


def test_output_below_the_cap_is_not_flagged():
    result = run("print('short')", max_output=1000)
    assert result["stdout_truncated"] is False and result["stderr_truncated"] is False


def test_exactly_one_result_line_even_when_the_code_forks():
    code = (
        "import os\n"
        "for _ in range(3):\n"  # 8 processes in all, each finishing the code; parents wait for children
        "    pid = os.fork()\n"
        "    if pid:\n"
        "        os.waitpid(pid, 0)\n"
        "print('done', os.getpid())\n"
    )
    result = run(code)
    assert result["exit_code"] == 0
    assert result["stdout"].count("done") == 8


def test_nothing_printed_during_start_up_reaches_the_result_channel():
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "noisy_module.py").write_text("print('noise at import')\n")
        proc = run_raw(
            {"code": "print('result')", "env": {}, "max_output": 1000},
            env={"PYTHONPATH": tmp, "GURU_PREIMPORT": "noisy_module, does_not_exist"},
        )
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["stdout"] == "result\n"
    assert b"noise at import" in proc.stderr
    assert b"guru-runner: ready" in proc.stderr


def test_pre_imported_modules_are_already_loaded_when_the_code_runs():
    proc = run_raw(
        {"code": "import sys\nprint('decimal' in sys.modules)", "env": {}, "max_output": 1000},
        env={"GURU_PREIMPORT": "decimal"},
    )
    assert json.loads(proc.stdout)["stdout"] == "True\n"


def test_the_code_cannot_read_the_job_from_stdin():
    result = run("import sys\nprint(repr(sys.stdin.read()))", env={"SECRET": "sk-abcdefgh"})
    assert result["stdout"] == "''\n"


def test_end_of_input_without_a_job_exits_quietly():
    proc = run_raw(b"")
    assert proc.returncode == 0 and proc.stdout == b""


def test_a_malformed_job_still_gets_one_result_line():
    proc = run_raw(b"{not json}\n")
    result = json.loads(proc.stdout)
    assert result["exit_code"] == 1 and "bad job" in result["stderr"]


def test_the_egress_forwarder_relays_loopback_connections_to_the_unix_socket():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "proxy.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)
        server.settimeout(20)

        def echo_once() -> None:
            conn, _ = server.accept()
            with conn:
                data = conn.recv(100)
                conn.sendall(b"echo:" + data)

        thread = threading.Thread(target=echo_once, daemon=True)
        thread.start()
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        code = (
            "import socket\n"
            f"s = socket.create_connection(('127.0.0.1', {port}), timeout=10)\n"
            "s.sendall(b'ping')\n"
            "print(s.recv(100).decode())\n"
        )
        proc = run_raw(
            {"code": code, "env": {}, "max_output": 1000},
            env={"GURU_EGRESS_SOCKET": path, "GURU_PROXY_PORT": str(port)},
        )
        thread.join(10)
        server.close()
    assert json.loads(proc.stdout)["stdout"] == "echo:ping\n"


def test_duration_is_reported_in_milliseconds():
    result = run("import time\ntime.sleep(0.05)")
    assert 40 <= result["duration_ms"] < 5000


def run_with_events(code: str, **kw: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    proc = run_raw({"code": code, "env": {}, "max_output": 1 << 20, "events": True}, **kw)
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert lines, proc.stderr
    *events, result = lines
    assert set(result) == RESULT_KEYS and all(set(e) >= {"event"} for e in events)
    return events, result


def test_with_events_each_flushed_line_and_progress_call_is_reported_before_the_result():
    events, result = run_with_events(
        "import time\n"
        "for i in range(3):\n"
        "    print(f'step {i}', flush=True)\n"
        "    time.sleep(0.2)\n"
        "progress(0.5, 'half way')\n"
        "time.sleep(0.2)\n"
        "progress(1, 'done')\n"
    )
    assert [e["text"] for e in events if e["event"] == "line"] == ["step 0", "step 1", "step 2"]
    assert [(e["fraction"], e["message"]) for e in events if e["event"] == "progress"] == [
        (0.5, "half way"),
        (1.0, "done"),
    ]
    assert result["stdout"] == "step 0\nstep 1\nstep 2\n" and result["exit_code"] == 0


def test_events_come_at_most_one_per_interval_and_the_last_held_one_still_arrives():
    events, result = run_with_events(
        "import time\nfor i in range(2000):\n    print(i, flush=True)\ntime.sleep(0.3)\nprogress(None, 'end')\n"
    )
    assert len(events) < 200
    assert events[-1] == {"event": "progress", "fraction": None, "message": "end"}
    assert result["stdout"].count("\n") == 2000


def test_progress_is_always_defined_and_silent_without_events():
    result = run("progress(0.3, 'quiet')\nprint('ok')")
    assert result["stdout"] == "ok\n" and result["exit_code"] == 0


def test_a_bad_fraction_is_the_scripts_error_with_a_clear_message():
    events, result = run_with_events("progress(3, 'too far')")
    assert result["exit_code"] == 1 and "fraction must be a number from 0 to 1" in result["stderr"]
    assert events == []


def test_a_script_cannot_fake_an_event_by_printing_one():
    events, result = run_with_events('print(\'{"event": "progress", "fraction": 1}\')')
    assert [e["event"] for e in events] == ["line"]
    assert result["stdout"] == '{"event": "progress", "fraction": 1}\n'


def test_the_newest_line_held_back_by_the_rate_limit_is_written_before_the_result():
    events, _ = run_with_events("for i in range(2000):\n    print(i, flush=True)\n")
    assert events[-1] == {"event": "line", "text": "1999"}
