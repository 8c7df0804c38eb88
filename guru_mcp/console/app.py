"""The console's ASGI application: routes, static files, login and logout."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from guru_mcp.app import App
from guru_mcp.console import pages_actions, pages_more, pages_runs
from guru_mcp.console.security import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SecurityHeaders,
    cookie_header,
)
from guru_mcp.console.web import HERE, PREFIX, Authenticate, Console, Ctx, redirect, refused

log = logging.getLogger(__name__)

CONSOLE_PREFIX = PREFIX


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _safe_next(target: str) -> str:
    """Only console paths: a login link must not send the admin elsewhere."""
    if target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/actions"


def build_console(app: App, authenticate: Authenticate) -> ASGIApp:
    console = Console(app, authenticate)

    async def login_form(request: Request, *, status: int = 200, problem: str = "") -> Response:
        csrf, cookie = console.codec.new_login()
        page = console.templates.get_template("login.html").render(
            csrf=csrf,
            caller=None,
            path="",
            problem=problem,
            query=urlencode,
            next=_safe_next(request.query_params.get("next", "")),
        )
        response = Response(page, status_code=status, media_type="text/html")
        response.headers.append(
            "set-cookie", cookie_header(LOGIN_COOKIE, cookie, secure=_secure(request), max_age=600)
        )
        return response

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return await login_form(request)
        form = await request.form()
        if not console.codec.check_login(request.cookies.get(LOGIN_COOKIE), str(form.get(CSRF_FIELD, ""))):
            refused(request, "login form without its CSRF token")
            return await login_form(request, status=403, problem="The login form expired; try again.")
        token = str(form.get("token", "")).strip()
        caller = await console.authenticate(token) if token else None
        if caller is None:
            refused(request, "login with an unknown or revoked token")
            return await login_form(request, status=401, problem="Unknown or revoked token.")
        if not caller.is_admin:
            refused(request, "login with a token that is not an admin's", caller=caller.key)
            return await login_form(request, status=403, problem="This token is not an admin token.")
        _, cookie = console.codec.new_session(token)
        log.info("console: %s logged in", caller.key)
        response = redirect(_safe_next(str(form.get("next", ""))))
        lifetime = int(console.codec.lifetime)
        response.headers.append(
            "set-cookie", cookie_header(SESSION_COOKIE, cookie, secure=_secure(request), max_age=lifetime)
        )
        response.headers.append(
            "set-cookie", cookie_header(LOGIN_COOKIE, "", secure=_secure(request), max_age=0)
        )
        return response

    async def logout(ctx: Ctx) -> Response:
        response = redirect(f"{PREFIX}/login")
        response.headers.append(
            "set-cookie", cookie_header(SESSION_COOKIE, "", secure=_secure(ctx.request), max_age=0)
        )
        return response

    async def home(ctx: Ctx) -> Response:
        return redirect(f"{PREFIX}/actions")

    routes = [
        Route("/", console.page(home)),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", console.page(logout), methods=["POST"]),
        *pages_actions.routes(console),
        *pages_runs.routes(console),
        *pages_more.routes(console),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    inner = Starlette(routes=[Mount(PREFIX, routes=routes), Route(PREFIX, console.page(home))])
    return SecurityHeaders(inner)
