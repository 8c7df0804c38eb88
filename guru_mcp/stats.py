"""Run statistics over a time window: counts, error rate, p50/p95 duration, per trigger, and series.

Used by the `admin_action_stats` tool and the admin console's lists and charts, so both report the same
figures. A run counts as an error when its status is anything but `ok` (error, timeout, denied,
cancelled); runs still going are not counted.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from guru_mcp.errors import FieldError, ValidationFailed
from guru_mcp.models import RunStatus, Trigger
from guru_mcp.store import Store
from guru_mcp.store.runs import RunFact

Fact = RunFact
"""(action, trigger, status, duration_ms, started_at), as `RunStore.run_facts` returns them."""

WINDOW_CHOICES = ("24h", "7d", "30d")
"""The windows the console offers; the tool takes any `<number><m|h|d>` or `all`."""

_WINDOW_RE = re.compile(r"(\d{1,5})\s*([mhd])")  # applied with fullmatch to the stripped label
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_MAX_WINDOW = timedelta(days=3660)


@dataclass(frozen=True)
class Window:
    """A span of time ending now: `length` None means all time."""

    label: str
    length: timedelta | None

    def since(self, now: datetime) -> datetime | None:
        return None if self.length is None else now - self.length


def parse_window(text: str | None, *, field: str = "window") -> Window:
    """`24h`, `7d`, `30d`, `90m` ... or `all`. Anything else is refused, naming the field."""
    label = (text or "24h").strip().lower()
    if label == "all":
        return Window("all", None)
    match = _WINDOW_RE.fullmatch(label)
    if not match or int(match.group(1)) == 0:
        raise ValidationFailed(
            FieldError(field, f"{text!r} is not a window: use e.g. 24h, 7d, 30d, 90m or all")
        )
    length = int(match.group(1)) * _UNITS[match.group(2)]
    if length > _MAX_WINDOW:
        raise ValidationFailed(FieldError(field, "a window can be at most 3660 days (or 'all')"))
    return Window(f"{match.group(1)}{match.group(2)}", length)


def percentile(values: Sequence[float], q: int) -> float | None:
    """The q-th percentile (inclusive method) of sorted or unsorted values, rounded to µs."""
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 3)


def summarize(facts: Iterable[Fact]) -> dict[str, Any]:
    """Runs, errors, error rate and p50/p95 duration of some runs."""
    rows = list(facts)
    durations = [d for _, _, _, d, _ in rows if d is not None]
    errors = sum(1 for _, _, status, _, _ in rows if status != RunStatus.OK)
    return {
        "runs": len(rows),
        "errors": errors,
        "error_rate": round(errors / len(rows), 4) if rows else None,
        "p50_ms": percentile(durations, 50),
        "p95_ms": percentile(durations, 95),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def describe(facts: Sequence[Fact], last_run_at: datetime | None) -> dict[str, Any]:
    """A summary plus one per trigger that occurred, and the last run's start (of all time)."""
    out = {"last_run_at": _iso(last_run_at), **summarize(facts)}
    by_trigger: dict[str, list[Fact]] = {}
    for fact in facts:
        by_trigger.setdefault(fact[1], []).append(fact)
    order = [t.value for t in Trigger]
    out["by_trigger"] = {
        t: summarize(by_trigger[t])
        for t in sorted(by_trigger, key=lambda t: order.index(t) if t in order else 99)
    }
    return out


async def window_stats(
    store: Store, guru: str, names: Sequence[str], window: Window, *, now: datetime | None = None
) -> dict[str, Any]:
    """Statistics of each of `names` and of all of the guru's runs over `window` (ending `now`)."""
    now = now or datetime.now(UTC)
    since = window.since(now)
    facts = await store.runs.run_facts(guru, since, None)
    return stats_of(facts, names, window, now, await store.runs.last_run_times(guru))


def stats_of(
    facts: Sequence[Fact], names: Sequence[str], window: Window, now: datetime, last: dict[str, datetime]
) -> dict[str, Any]:
    """`window_stats` from runs already read (those before the window's start are left out)."""
    since = window.since(now)
    if since is not None:
        facts = [f for f in facts if f[4] >= since]
    per: dict[str, list[Fact]] = {name: [] for name in names}
    for fact in facts:
        if fact[0] in per:
            per[fact[0]].append(fact)
    return {
        "window": window.label,
        "since": _iso(since),
        "until": now.isoformat(),
        "overall": describe(facts, max(last.values(), default=None)),
        "stats": [{"action": name, **describe(per[name], last.get(name))} for name in names],
    }


def bucket_size(window: Window) -> timedelta:
    """Chart resolution: hourly up to two days, 6-hourly up to two weeks, then daily."""
    length = window.length or timedelta(days=30)
    if length <= timedelta(days=2):
        return timedelta(hours=1)
    if length <= timedelta(days=14):
        return timedelta(hours=6)
    return timedelta(days=1)


def series(facts: Sequence[Fact], since: datetime, until: datetime, step: timedelta) -> dict[str, list[Any]]:
    """Per-bucket runs, errors, error rate and p50/p95 from `since` to `until`, for charts.

    `t` holds each bucket's start as Unix seconds; empty buckets have zero runs and no percentiles.
    """
    count = max(1, min(2000, int((until - since) / step) + 1))
    buckets: list[list[Fact]] = [[] for _ in range(count)]
    for fact in facts:
        index = int((fact[4] - since) / step)
        if 0 <= index < count:
            buckets[index].append(fact)
    out: dict[str, list[Any]] = {
        "t": [],
        "runs": [],
        "errors": [],
        "error_rate": [],
        "p50_ms": [],
        "p95_ms": [],
    }
    for i, bucket in enumerate(buckets):
        summary = summarize(bucket)
        out["t"].append(int((since + i * step).timestamp()))
        out["runs"].append(summary["runs"])
        out["errors"].append(summary["errors"])
        out["error_rate"].append(summary["error_rate"])
        out["p50_ms"].append(summary["p50_ms"])
        out["p95_ms"].append(summary["p95_ms"])
    return out
