"""The console's request plumbing: who is asking (session or bearer header), CSRF, rendering, masking.

`Console.page` wraps a handler: it authenticates the request (an admin session cookie, or an
`Authorization: Bearer` header of an admin), checks the CSRF token of state-changing requests, and
hands the handler a `Ctx`. `Ctx.render` renders a Jinja2 template with autoescape on and masks every
secret value (raw, encoded, and HTML-escaped) in the page before it leaves the process.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from guru_mcp.app import App
from guru_mcp.console.security import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Session, SessionCodec, same
from guru_mcp.errors import GuruError, RequestRefused, to_tool_text
from guru_mcp.logs import log_refusal
from guru_mcp.models import Caller
from guru_mcp.secrets import Masker
from guru_mcp.server import bearer_token

log = logging.getLogger(__name__)

PREFIX = "/admin"
HERE = Path(__file__).parent
Authenticate = Callable[[str], Awaitable[Caller | None]]
"""Turns a bearer token into a Caller (None if unknown): the MCP endpoint's own function."""


def _when(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    return str(value.strftime("%Y-%m-%d %H:%M:%S %Z")).strip()


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        if not value.lstrip().startswith(("{", "[")):
            return str(value)
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _pretty_value(value: Any) -> str:
    """A JSON value as shown in a diff: strings as they are, everything else as indented JSON."""
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _ms(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _percent(value: Any) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def build_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value: action code, outputs and errors are untrusted
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=_when,
        pretty=_pretty,
        pretty_value=_pretty_value,
        ms=_ms,
        percent=_percent,
        q=lambda v: quote(str(v), safe=""),
    )
    env.globals["prefix"] = PREFIX
    return env


class Refused(RequestRefused):
    """Ends a request early with a status and a message shown on an error page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Ctx:
    console: Console
    request: Request
    caller: Caller
    session: Session | None

    @property
    def app(self) -> App:
        return self.console.app

    @property
    def guru(self) -> str:
        return self.caller.guru

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session else ""

    @property
    def htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    async def masker(self) -> Masker:
        return await self.console.page_masker(self.guru)

    async def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        page = self.console.templates.get_template(template).render(
            csrf=self.csrf, caller=self.caller, path=self.request.url.path, query=urlencode, **values
        )
        return HTMLResponse((await self.masker()).text(page), status_code=status_code)


def refused(request: Request, reason: str, **fields: Any) -> None:
    """The server's one log line for a refused console request (never the token)."""
    client = request.client.host if request.client else "?"
    log_refusal(
        "console",
        f"{request.method} {request.url.path} from {client}: {reason}",
        method=request.method,
        path=request.url.path,
        client=client,
        reason=reason,
        **fields,
    )


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


class Console:
    """The console's shared state: the application, the session codec, templates, the authenticator."""

    def __init__(self, app: App, authenticate: Authenticate, *, session_lifetime: float = 8 * 3600) -> None:
        self.app = app
        self.authenticate = authenticate
        self.codec = SessionCodec(app.keyring.derive("console-session"), lifetime=session_lifetime)
        self.templates = build_templates()

    async def page_masker(self, guru: str) -> Masker:
        """Masks every secret of the guru as it could appear in a page: raw, encoded, HTML-escaped."""
        names = await self.app.store.secrets.secret_names(guru)
        values = list((await self.app.vault.resolve(guru, names)).values())
        return Masker([*values, *(html.escape(v) for v in values)])

    async def identify(self, request: Request) -> tuple[Caller | None, Session | None]:
        header = bearer_token(request.headers.get("authorization", ""))
        if header:
            return await self.authenticate(header), None
        session = self.codec.open_session(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None, None
        return await self.authenticate(session.token), session

    def page(
        self, handler: Callable[[Ctx], Awaitable[Response]], *, write: bool | None = None
    ) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler with authentication, the admin check and (for POST) the CSRF check."""

        async def endpoint(request: Request) -> Response:
            caller, session = await self.identify(request)
            if caller is None:
                if request.method == "GET" and request.headers.get("hx-request") != "true":
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return redirect(f"{PREFIX}/login?{urlencode({'next': target})}")
                refused(request, "not logged in")
                return self.error_page(401, "Log in with an admin token first.")
            if not caller.is_admin:
                refused(request, "not an admin", caller=caller.key)
                return self.error_page(
                    403, "This token is not an admin token; the console is for admins only."
                )
            ctx = Ctx(self, request, caller, session)
            try:
                if (write if write is not None else request.method == "POST") and session is not None:
                    await self._check_csrf(request, session, caller)
                return await handler(ctx)
            except Refused as exc:
                return self.error_page(exc.status, exc.message)
            except GuruError as exc:
                masker = await ctx.masker()
                return self.error_page(_status_of(exc), masker.text(to_tool_text(exc)))

        return endpoint

    async def _check_csrf(self, request: Request, session: Session, caller: Caller) -> None:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent:
            form = await request.form()
            sent = str(form.get(CSRF_FIELD, ""))
        if not same(session.csrf, sent):
            refused(request, "missing or wrong CSRF token", caller=caller.key)
            raise Refused(
                403,
                "This form has expired or did not come from the console (CSRF check failed). "
                "Reload the page and try again.",
            )

    def error_page(self, status: int, message: str) -> HTMLResponse:
        page = self.templates.get_template("error.html").render(
            status=status, message=message, csrf="", caller=None, path="", query=urlencode
        )
        return HTMLResponse(page, status_code=status)


def _status_of(exc: GuruError) -> int:
    from guru_mcp.errors import Conflict, NotFound, ValidationFailed

    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, ValidationFailed):
        return 422
    return 400
