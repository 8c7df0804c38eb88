"""Cron maths: schedule validation and fire times in a time zone. Pure: no I/O, no clock.

Expressions are croniter's: the standard five fields (minute hour day-of-month month day-of-week,
with names, ranges, lists, steps, `L` and `#`) and the aliases `@hourly`, `@daily`/`@midnight`,
`@weekly`, `@monthly`, `@yearly`/`@annually`. As an extension, six fields are accepted with the
seconds field FIRST, as Quartz, Spring and node-cron write it: `*/5 * * * * *` fires every five
seconds.

An expression names wall-clock times in the schedule's IANA zone. Around daylight-saving changes:

- A wall time skipped by a spring-forward (02:30 on 2026-03-08 in New York) fires once, at the first
  instant after the gap (03:00 EDT). Several skipped times collapse into that one fire.
- A wall time repeated by a fall-back (01:30 on 2026-11-01 in New York) fires once, in its first
  pass. Expressions whose hour field is a wildcard (`*`, `*/n`) are intervals ("every 15 minutes",
  "hourly") and keep firing through the repeated hour, as Vixie cron does: an every-15-minutes
  monitor never stalls for an hour, while a daily 01:30 job still runs once.

All instants in and out are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import difflib
import threading
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from croniter import croniter
from croniter.croniter import CroniterError

from guru_mcp.errors import FieldError, ValidationFailed
from guru_mcp.models import ActionSpec, ParamType

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_HELP = "five fields: minute hour day-of-month month day-of-week, e.g. '0 9 * * 1' (or six, seconds first)"
_EPOCH = datetime(2000, 1, 1)
_TINY = timedelta(microseconds=1)


@dataclass(frozen=True)
class CronExpr:
    """A parsed expression. `interval_hours` is true when the hour field is a wildcard."""

    text: str
    seconds: bool
    interval_hours: bool
    _iter: croniter
    _lock: threading.Lock

    def step(self, wall: datetime, *, backwards: bool = False) -> datetime:
        """The next (or previous) matching naive wall time strictly after (before) `wall`."""
        with self._lock:  # one shared iterator per expression; croniter objects are stateful
            self._iter.set_current(wall, force=True)
            return self._iter.get_prev(datetime) if backwards else self._iter.get_next(datetime)


@lru_cache(maxsize=4096)
def parse_cron(text: str) -> CronExpr:
    """Parse and check an expression. Raises ValueError with a message for the admin."""
    expr = " ".join(text.split())
    expr = ALIASES.get(expr.lower(), expr)
    fields = expr.split(" ")
    if len(fields) not in (5, 6) or not expr:
        raise ValueError(f"{text!r} has {len(fields) if expr else 0} fields; use {_HELP}")
    try:
        it = croniter(expr, _EPOCH, second_at_beginning=True)
        it.get_next(datetime)
    except CroniterError as exc:
        if "failed to find" in str(exc):
            raise ValueError(f"{text!r} never matches a real date") from None
        raise ValueError(f"{text!r} is not a valid cron expression ({exc}); use {_HELP}") from None
    hour = fields[2 if len(fields) == 6 else 1]
    return CronExpr(expr, len(fields) == 6, hour.startswith("*"), it, threading.Lock())


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@lru_cache(maxsize=1024)
def get_zone(name: str) -> tzinfo:
    """The zone for an IANA name. Raises ValueError (with a suggestion when one is close)."""
    if name == "UTC":
        return UTC
    if name not in _zone_names():
        close = difflib.get_close_matches(name, _zone_names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else " (use an IANA name such as 'Europe/Berlin')"
        raise ValueError(f"{name!r} is not a known time zone{hint}")
    return zoneinfo.ZoneInfo(name)


def _instants(wall: datetime, zone: tzinfo, both_passes: bool) -> tuple[datetime, datetime | None]:
    """The instants a naive wall time stands for: (first, second pass or None)."""
    first = wall.replace(tzinfo=zone).astimezone(UTC)
    later = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == later:
        return first, None
    if first < later:  # repeated by a fall-back
        return first, later if both_passes else None
    return _gap_end(later, first, zone), None  # skipped by a spring-forward


def _gap_end(before: datetime, after: datetime, zone: tzinfo) -> datetime:
    """The transition instant between `before` (old offset) and `after` (new offset), to the second."""
    new = after.astimezone(zone).utcoffset()
    lo, hi = int(before.timestamp()), int(after.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == new:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _fold_width(local: datetime) -> timedelta:
    """How long the wall time of `local` repeats (zero when it is not ambiguous)."""
    other = local.replace(fold=1 - local.fold)
    offset, other_offset = local.utcoffset(), other.utcoffset()
    if offset is None or other_offset is None:  # a naive time has no zone, so no fold
        return timedelta(0)
    return abs(other_offset - offset)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    return value.astimezone(UTC)


def next_fire(cron: str, tz: str, after: datetime) -> datetime:
    """The first fire instant strictly after `after` (UTC-aware in and out)."""
    return _next_fire(cron, tz, _utc(after))


@lru_cache(maxsize=8192)
def _next_fire(cron: str, tz: str, after: datetime) -> datetime:
    # Cached: schedules sharing an expression fall due together and ask the same question then.
    expr, zone = parse_cron(cron), get_zone(tz)
    local = after.astimezone(zone)
    # Inside a repeated hour, earlier wall times may still have a later second-pass instant.
    wall = local.replace(tzinfo=None) - _fold_width(local)
    best: datetime | None = None
    while True:
        wall = expr.step(wall)
        first, second = _instants(wall, zone, expr.interval_hours)
        if best is not None and first >= best:
            return best
        for instant in (first, second):
            if instant is not None and instant > after and (best is None or instant < best):
                best = instant
        if second is None and best is not None and first > after:  # later wall times map later
            return best


def prev_fire(cron: str, tz: str, at: datetime) -> datetime:
    """The last fire instant at or before `at` (UTC-aware in and out)."""
    expr, zone, at = parse_cron(cron), get_zone(tz), _utc(at)
    local = at.astimezone(zone)
    wall = local.replace(tzinfo=None) + _fold_width(local) + _TINY
    best: datetime | None = None
    while True:
        wall = expr.step(wall, backwards=True)
        first, second = _instants(wall, zone, expr.interval_hours)
        if best is not None and (second or first) <= best:
            return best
        for instant in (first, second):
            if instant is not None and instant <= at and (best is None or instant > best):
                best = instant
        if second is None and best is not None and first <= at:
            return best


def due_times(cron: str, tz: str, after: datetime, until: datetime, limit: int = 1000) -> list[datetime]:
    """Fire instants in (after, until], at most `limit` of them."""
    out: list[datetime] = []
    when = after
    while len(out) < limit:
        when = next_fire(cron, tz, when)
        if when > until:
            break
        out.append(when)
    return out


def _type_problem(ptype: ParamType, value: object) -> str | None:
    if ptype is ParamType.STRING and not isinstance(value, str):
        return "expected a string"
    if ptype is ParamType.NUMBER and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return "expected a number"
    if ptype is ParamType.BOOLEAN and not isinstance(value, bool):
        return "expected true or false"
    return None


def validate_schedule(spec: ActionSpec) -> None:
    """Refuse a schedule that cannot run: a bad expression or zone, or arguments that do not fit the
    action's parameters (unknown names, wrong types, a required parameter with neither a default nor
    a scheduled value). Raises ValidationFailed naming each field."""
    schedule = spec.schedule
    if schedule is None:
        return
    errors: list[FieldError] = []
    try:
        parse_cron(schedule.cron)
    except ValueError as exc:
        errors.append(FieldError("schedule.cron", str(exc)))
    try:
        get_zone(schedule.timezone)
    except ValueError as exc:
        errors.append(FieldError("schedule.timezone", str(exc)))
    params = {p.name: p for p in spec.parameters}
    unknown = sorted(set(schedule.arguments) - set(params))
    if unknown:
        known = ", ".join(params) or "none"
        errors.append(
            FieldError("schedule.arguments", f"no parameter named {', '.join(unknown)} (parameters: {known})")
        )
    for name, value in schedule.arguments.items():
        if name in params and value is not None and (problem := _type_problem(params[name].type, value)):
            errors.append(FieldError(f"schedule.arguments.{name}", problem))
    missing = [
        p.name
        for p in spec.parameters
        if p.required and p.default is None and schedule.arguments.get(p.name) is None
    ]
    if missing:
        errors.append(
            FieldError(
                "schedule.arguments",
                f"required parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"need{'' if len(missing) > 1 else 's'} a default or a scheduled value",
            )
        )
    if errors:
        raise ValidationFailed(errors, prefix=f"action {spec.name!r}")
