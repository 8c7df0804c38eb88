"""The server's log: one line per run and per refusal, on stderr, as text or JSON.

`configure` sets up the root handler once (in the CLI); `log_run` writes the line of a finished run
(run id, guru, action, version, trigger, caller, status, duration, first line of the error);
`log_refusal` the line of a refused request (a 401, an egress refusal). Everything goes through the
masking filter of `guru_mcp.secrets`, installed on the handler, like every other log line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # a type only: the pydantic models are not imported by every command
    from guru_mcp.models import RunRecord

RUNS = logging.getLogger("guru_mcp.run")
"""Run lines; at INFO, shown whatever the root level (a server always logs its runs)."""
REFUSALS = logging.getLogger("guru_mcp.refused")

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the structured fields of run and
    refusal lines."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            data["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure(*, verbose: bool = False, log_format: LogFormat = "text") -> None:
    """Log to stderr: WARNING and up (INFO with `verbose`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    from guru_mcp.secrets import install_log_masking

    install_log_masking()


def log_every_run() -> None:
    """A server logs every run and refusal, whatever the level (CLI commands print their own)."""
    RUNS.setLevel(logging.INFO)
    REFUSALS.setLevel(logging.INFO)


def first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def log_run(record: RunRecord) -> None:
    """The one line of a finished run. The record's error and caller are masked already."""
    if not RUNS.isEnabledFor(logging.INFO):
        return
    caller = record.caller or {}
    fields = {
        "run_id": record.id,
        "guru": record.guru,
        "action": record.action_name,
        "version": record.action_version,
        "trigger": str(record.trigger),
        "caller": caller.get("email") or caller.get("key") or "",
        "status": str(record.status),
        "duration_ms": record.duration_ms,
        "error": first_line(record.error),
    }
    duration = f"{record.duration_ms:.1f} ms" if record.duration_ms is not None else "-"
    message = (
        f"run {record.id} guru={record.guru} action={record.action_name} v{record.action_version} "
        f"trigger={fields['trigger']} caller={fields['caller'] or '-'} status={fields['status']} {duration}"
    )
    if fields["error"]:
        message += f" error={json.dumps(fields['error'], ensure_ascii=False)}"
    # The record is made directly (what `Logger.info` does, less its search of the call stack for a
    # file and line that no format of ours shows): the line runs once per run, on the hot path.
    RUNS.handle(RUNS.makeRecord(RUNS.name, logging.INFO, "", 0, message, (), None, extra={"fields": fields}))


def log_refusal(kind: str, message: str, **fields: Any) -> None:
    """The one line of a refused request (`kind`: "unauthorized", "egress", ...)."""
    REFUSALS.warning("%s: %s", kind, message, extra={"fields": {"refused": kind, **fields}})
