"""Analytics (charts over 24 h / 7 d / 30 d), secrets (write-only), and import/export with a dry run."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from guru_mcp.console.service import call
from guru_mcp.console.web import PREFIX, Console, Ctx, Refused, redirect
from guru_mcp.errors import ValidationFailed
from guru_mcp.stats import WINDOW_CHOICES, bucket_size, parse_window, series, stats_of

# -- analytics -----------------------------------------------------------------------------------------


async def _analytics_data(ctx: Ctx) -> dict[str, Any]:
    p = ctx.request.query_params
    window = parse_window(p.get("window", "24h"))
    if window.length is None:
        raise Refused(422, "window: charts need a bounded window (24h, 7d, 30d)")
    action = p.get("action", "").strip()
    names = [a.name for a in await ctx.app.catalog.list_actions(ctx.guru)]
    if action and action not in names:
        await ctx.app.catalog.get(ctx.guru, action)
    now = datetime.now(UTC)
    since = window.since(now)
    assert since is not None
    step = bucket_size(window)
    start = datetime.fromtimestamp((since.timestamp() // step.total_seconds()) * step.total_seconds(), UTC)
    facts = await ctx.app.store.runs.run_facts(
        ctx.guru, start, None
    )  # one read for the charts and the figures
    stats = stats_of(
        facts, [action] if action else names, window, now, await ctx.app.store.runs.last_run_times(ctx.guru)
    )
    shown = [f for f in facts if f[0] == action] if action else facts
    return {
        "action": action,
        "window": window.label,
        "step_seconds": int(step.total_seconds()),
        "series": series(shown, start, now, step),
        "summary": stats["stats"][0] if action else stats["overall"],
        "per_action": [] if action else stats["stats"],
    }


async def analytics(ctx: Ctx) -> Response:
    data = await _analytics_data(ctx)
    names = sorted(a.name for a in await ctx.app.catalog.list_actions(ctx.guru))
    return await ctx.render(
        "analytics.html",
        data=data,
        chart_json=json.dumps(data["series"]).replace("<", "\\u003c"),
        names=names,
        windows=WINDOW_CHOICES,
    )


async def analytics_json(ctx: Ctx) -> Response:
    return JSONResponse(await _analytics_data(ctx))


# -- secrets ---------------------------------------------------------------------------------------------


async def secrets_page(
    ctx: Ctx, *, status: int = 200, problem: str = "", note: str = "", name: str = ""
) -> Response:
    listing = await call(ctx, "admin_secrets_list")
    return await ctx.render(
        "secrets.html",
        status_code=status,
        secrets=listing["secrets"],
        problem=problem,
        note=note or ctx.request.query_params.get("note", ""),
        name=name,
        query_name=ctx.request.query_params.get("name", ""),
    )


async def secrets_get(ctx: Ctx) -> Response:
    return await secrets_page(ctx)


async def secret_set(ctx: Ctx) -> Response:
    form = await ctx.request.form()
    name = str(form.get("name", "")).strip()
    value = str(form.get("value", ""))
    hosts_text = str(form.get("hosts", "")).strip()
    limits: dict[str, Any] = {}
    if form.get("hosts_mode") == "any":
        limits["hosts"] = []
    elif form.get("hosts_mode") == "only":
        limits["hosts"] = [h for h in re.split(r"[,\s]+", hosts_text) if h]
    try:
        result = await call(
            ctx,
            "admin_secret_set",
            name=name,
            value=value,
            enable_actions=form.get("enable_actions") == "on",
            **limits,
        )
    except ValidationFailed as exc:
        return await secrets_page(ctx, status=422, problem=str(exc), name=name)
    note = f"{'Created' if result['created'] else 'Replaced'} {result['name']}."
    if result.get("note"):
        note += f" {result['note']}."
    return redirect(f"{PREFIX}/secrets?note={_q(note)}")


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


async def secret_confirm_delete(ctx: Ctx) -> Response:
    name = ctx.request.path_params["name"]
    listing = await call(ctx, "admin_secrets_list")
    row = next((s for s in listing["secrets"] if s["name"] == name), None)
    if row is None:
        raise Refused(404, f"no secret named {name!r}")
    snap = await ctx.app.catalog.snapshot(ctx.guru)
    enabled = [n for n in row["used_by"] if snap.entries[n].stored.enabled]
    return await ctx.render("secret_delete.html", secret=row, will_disable=enabled)


async def secret_delete(ctx: Ctx) -> Response:
    result = await call(ctx, "admin_secret_delete", name=ctx.request.path_params["name"])
    disabled = result["disabled_actions"]
    note = f"Deleted {result['deleted']}." + (f" Disabled: {', '.join(disabled)}." if disabled else "")
    return redirect(f"{PREFIX}/secrets?note={_q(note)}")


# -- import / export -------------------------------------------------------------------------------------


async def transfer_page(ctx: Ctx, *, status: int = 200, **values: Any) -> Response:
    names = sorted(a.name for a in await ctx.app.catalog.list_actions(ctx.guru))
    defaults: dict[str, Any] = {"document": "", "report": None, "problem": "", "applied": None}
    return await ctx.render("transfer.html", status_code=status, names=names, **{**defaults, **values})


async def transfer_get(ctx: Ctx) -> Response:
    return await transfer_page(ctx)


async def export_json(ctx: Ctx) -> Response:
    names = ctx.request.query_params.getlist("name") or None
    data = await call(ctx, "admin_export", names=names)
    body = json.dumps(data["actions"], indent=2, ensure_ascii=False)
    return Response(
        body,
        media_type="application/json",
        headers={"content-disposition": 'attachment; filename="guru-mcp-actions.json"'},
    )


async def import_post(ctx: Ctx) -> Response:
    form = await ctx.request.form()
    upload = form.get("file")
    document = str(form.get("document", ""))
    if upload is not None and hasattr(upload, "read"):
        content = await upload.read()
        if content:
            document = content.decode("utf-8", "replace")
    apply = form.get("apply") == "yes"
    if not document.strip():
        return await transfer_page(ctx, status=422, problem="paste an export document or choose a file")
    try:
        report = await call(ctx, "admin_import", document=document, dry_run=not apply)
    except ValidationFailed as exc:
        return await transfer_page(ctx, status=422, document=document, problem=str(exc))
    return await transfer_page(ctx, document=document, report=report, applied=apply)


def routes(console: Console) -> list[Route]:
    page = console.page
    return [
        Route("/analytics", page(analytics)),
        Route("/analytics/data", page(analytics_json)),
        Route("/secrets", page(secrets_get), methods=["GET"]),
        Route("/secrets", page(secret_set), methods=["POST"]),
        Route("/secrets/{name}/delete", page(secret_confirm_delete), methods=["GET"]),
        Route("/secrets/{name}/delete", page(secret_delete), methods=["POST"]),
        Route("/transfer", page(transfer_get), methods=["GET"]),
        Route("/transfer/export.json", page(export_json), methods=["GET"]),
        Route("/transfer/import", page(import_post), methods=["POST"]),
    ]
