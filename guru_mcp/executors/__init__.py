"""Executors run one job and return its result; they never touch the database.

The seam is one method, `execute(job) -> ExecResult` (like httpx's transport), so tests swap in fakes.
"""

from guru_mcp.executors.base import Executor, UnavailableExecutor

__all__ = ["Executor", "UnavailableExecutor"]
