"""Run history across actions (filters: action, status, trigger, caller, time range, text) and one run
in full: inputs, output, error, hosts, timing, the due and fired times of scheduled runs, and the
action's definition as it was when the run happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.responses import Response
from starlette.routing import Route

from guru_mcp.console.web import Console, Ctx, Refused
from guru_mcp.models import RunStatus, Trigger
from guru_mcp.versions import run_snapshot

PAGE_SIZE = 50


def _time(text: str, name: str) -> datetime | None:
    """A filter bound from a `datetime-local` field (taken as UTC) or an ISO time with a zone."""
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(422, f"{name}: {text!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def runs_list(ctx: Ctx) -> Response:
    p = ctx.request.query_params
    filters = {
        k: p.get(k, "").strip() for k in ("action", "status", "trigger", "caller", "since", "until", "q")
    }
    if filters["status"] and filters["status"] not in {s.value for s in RunStatus}:
        raise Refused(422, f"status: {filters['status']!r} is not a run status")
    if filters["trigger"] and filters["trigger"] not in {t.value for t in Trigger}:
        raise Refused(422, f"trigger: {filters['trigger']!r} is not a trigger")
    page = max(0, int(p.get("page", "0") or 0)) if p.get("page", "0").isdigit() else 0
    runs = await ctx.app.store.runs.list_runs(
        ctx.guru,
        action=filters["action"] or None,
        status=filters["status"] or None,
        trigger=filters["trigger"] or None,
        caller=filters["caller"] or None,
        since=_time(filters["since"], "since"),
        until=_time(filters["until"], "until"),
        text=filters["q"] or None,
        limit=PAGE_SIZE + 1,
        offset=page * PAGE_SIZE,
    )
    names = sorted(a.name for a in await ctx.app.catalog.list_actions(ctx.guru))
    template = "_runs_rows.html" if ctx.htmx else "runs.html"
    return await ctx.render(
        template,
        runs=runs[:PAGE_SIZE],
        more=len(runs) > PAGE_SIZE,
        page=page,
        filters=filters,
        names=names,
        statuses=[s.value for s in RunStatus],
        triggers=[t.value for t in Trigger],
    )


async def run_page(ctx: Ctx) -> Response:
    run = await ctx.app.store.runs.get_run(ctx.guru, ctx.request.path_params["run_id"])
    snapshot = (await ctx.masker()).data(await run_snapshot(ctx.app, run))
    late = None
    if run.due_at is not None:
        late = (run.started_at - run.due_at) / timedelta(milliseconds=1)
    return await ctx.render("run.html", run=run, snapshot=snapshot, late_ms=late)


def routes(console: Console) -> list[Route]:
    return [
        Route("/runs", console.page(runs_list)),
        Route("/runs/{run_id}", console.page(run_page)),
    ]
