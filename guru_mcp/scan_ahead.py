"""Checking the code of many Python actions on a second core while the first gets on with the rest.

A bulk import (`guru-mcp actions import`) spent about half its CPU parsing, compiling and walking the
code of its Python actions (`lint.check_code`): work that needs nothing but the text. `ScanAhead.start`
forks, before the command loads its heavy modules (the storage layer, pydantic), a child that runs
`check_code` on every code of the document and sends the results back through a pipe. The parent, in
the meantime, imports what it needs, opens the store and validates the definitions; it collects the
results when it reaches the code checks.

A result is used only for the text it was computed for (`result` compares it with the code being
checked), and everything the child did not answer (it was not started, failed, was killed, or met code
it could not parse at all) is computed in the parent as before: the outcome of an import is the same
either way, only sooner. The CLI alone uses this, before it starts any thread: a server is
multi-threaded, and forking such a process is unsafe.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
from collections.abc import Sequence

from guru_mcp.code_scan import CodeScan
from guru_mcp.lint import SyntaxProblem, check_code

__all__ = ["MIN_CODES", "ScanAhead", "Scanned", "usable_cores"]

MIN_CODES = 32
"""Fewer codes than this are checked in the parent: forking and collecting cost more than they save."""

Scanned = CodeScan | SyntaxProblem


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ScanAhead:
    """`check_code` of a list of codes, computed by a child process (see the module's docstring)."""

    def __init__(self, codes: Sequence[str | None], pid: int | None = None, fd: int | None = None):
        self._codes = list(codes)
        self._pid = pid
        self._fd = fd
        self._results: list[Scanned | None] | None = None if pid is not None else []

    @classmethod
    def start(cls, codes: Sequence[str | None]) -> ScanAhead:
        """Fork the checking child for `codes` (None: nothing to check at that index), or, with fewer
        than `MIN_CODES` codes, one usable core or no `fork` on this platform, return a ScanAhead that
        answers nothing (the parent checks every code itself)."""
        if (
            sum(code is not None for code in codes) < MIN_CODES
            or not hasattr(os, "fork")
            or usable_cores() < 2
        ):
            return cls(codes)
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no memory or no process slot left: check in the parent
            os.close(read_fd)
            os.close(write_fd)
            return cls(codes)
        if pid == 0:  # the child: check, send, and leave without running the parent's exit handlers
            status = 1
            try:
                os.close(read_fd)
                _send(write_fd, [_check(code) for code in codes])
                status = 0
            finally:
                os._exit(status)
        os.close(write_fd)
        return cls(codes, pid, read_fd)

    def result(self, index: int, code: str) -> Scanned | None:
        """What the child found for `codes[index]` if that is `code`, else None (check it yourself).
        The first call waits for the child to finish."""
        if self._results is None:
            self._results = self._collect()
        if index >= len(self._results) or self._codes[index] != code:
            return None
        return self._results[index]

    def close(self) -> None:
        """Stop the child if it still runs, and reap it (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it cannot have been reaped yet; cheap to allow
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None

    def __enter__(self) -> ScanAhead:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _collect(self) -> list[Scanned | None]:
        assert self._fd is not None and self._pid is not None
        chunks = []
        while chunk := os.read(self._fd, 1 << 20):
            chunks.append(chunk)
        os.close(self._fd)
        self._fd = None
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            return []  # the child failed: every code is checked in the parent
        results = pickle.loads(b"".join(chunks))  # our own child's answer, from our own pipe
        return results if isinstance(results, list) and len(results) == len(self._codes) else []


def _check(code: str | None) -> Scanned | None:
    if code is None:
        return None
    try:
        return check_code(code)
    except Exception:
        return None


def _send(fd: int, results: list[Scanned | None]) -> None:
    view = memoryview(pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL))
    while view:
        view = view[os.write(fd, view) :]
