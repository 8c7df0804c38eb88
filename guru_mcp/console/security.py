"""The console's protections: sessions, CSRF tokens, and the headers every response carries.

- A session is an AES-GCM sealed cookie (HttpOnly, SameSite=Strict, Path=/admin, Secure over https)
  holding the bearer token the admin logged in with, a CSRF token and an expiry. Every request
  re-authenticates the token through the same function as the MCP endpoint, so a revoked token (or,
  later, an expired OAuth token) ends its sessions; the cookie cannot be read or forged without the
  server's key, which is derived from the master key and so is the same on every replica.
- Every POST of a cookie session must carry the session's CSRF token (form field `csrf` or header
  `X-CSRF-Token`, which the console's script adds to htmx requests). A request authenticated with an
  `Authorization: Bearer` header needs none: a browser never adds that header on its own.
- The login form has its own CSRF token, bound to a short-lived pre-session cookie.
- Headers: a strict Content-Security-Policy (scripts and styles from the console's own static files
  only, no inline code, no eval, `frame-ancestors 'none'`), X-Frame-Options DENY, nosniff,
  no-referrer, and no caching of pages.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "guru_console"
LOGIN_COOKIE = "guru_console_login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Seals and opens session and login cookies with a key of their own."""

    _AAD = b"guru-mcp console session v1"
    _LOGIN_AAD = b"guru-mcp console login v1"

    def __init__(self, key: bytes, *, lifetime: float) -> None:
        self._aead = AESGCM(key)
        self._mac_key = key
        self.lifetime = lifetime

    def _seal(self, payload: dict[str, Any], aad: bytes) -> str:
        nonce = secrets.token_bytes(12)
        return _b64(nonce + self._aead.encrypt(nonce, json.dumps(payload).encode(), aad))

    def _open(self, cookie: str, aad: bytes) -> dict[str, Any] | None:
        try:
            raw = _unb64(cookie)
            payload = json.loads(self._aead.decrypt(raw[:12], raw[12:], aad))
        except (InvalidTag, ValueError, TypeError):
            return None
        if not isinstance(payload, dict) or float(payload.get("e", 0)) < time.time():
            return None
        return payload

    def new_session(self, token: str) -> tuple[Session, str]:
        session = Session(token=token, csrf=secrets.token_urlsafe(24), expires=time.time() + self.lifetime)
        return session, self._seal({"t": session.token, "c": session.csrf, "e": session.expires}, self._AAD)

    def open_session(self, cookie: str | None) -> Session | None:
        payload = self._open(cookie, self._AAD) if cookie else None
        if payload is None or not isinstance(payload.get("t"), str) or not isinstance(payload.get("c"), str):
            return None
        return Session(token=payload["t"], csrf=payload["c"], expires=float(payload["e"]))

    def new_login(self) -> tuple[str, str]:
        """A login CSRF token and the pre-session cookie that vouches for it (10 minutes)."""
        token = secrets.token_urlsafe(24)
        return token, self._seal({"c": token, "e": time.time() + 600}, self._LOGIN_AAD)

    def check_login(self, cookie: str | None, token: str) -> bool:
        payload = self._open(cookie, self._LOGIN_AAD) if cookie else None
        return payload is not None and same(str(payload.get("c", "")), token)


def same(a: str, b: str) -> bool:
    return bool(a) and hmac.compare_digest(a.encode(), b.encode())


def cookie_header(name: str, value: str, *, secure: bool, max_age: int | None = None) -> str:
    parts = [f"{name}={value}", "Path=/admin", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


class SecurityHeaders:
    """ASGI middleware adding the console's security headers to every response."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/admin/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() not in _OURS]
                headers += SECURITY_HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.inner(scope, receive, send_with_headers)


_OURS = {name for name, _ in SECURITY_HEADERS} | {b"cache-control"}
