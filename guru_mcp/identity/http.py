"""The HTTP front door: endpoints per guru, bearer authentication, OAuth Protected Resource Metadata.

- `/mcp` serves the credential's own guru (a static token's guru; for OAuth the default guru, or
  the one the guru claim names); `/g/{slug}/mcp` serves guru `slug`.
- `/.well-known/oauth-protected-resource/mcp` and `/.well-known/oauth-protected-resource/g/{slug}/mcp`
  (RFC 9728, path-suffixed), plus `/.well-known/oauth-protected-resource` for `/mcp`: the resource URL
  (the audience tokens must carry, RFC 8707), the authorization server and the scopes. Served when
  OAuth is configured.
- A request without an acceptable token gets 401 with `WWW-Authenticate: Bearer
  resource_metadata="..."`, so an MCP client can discover where to get one.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp, Receive, Scope, Send

from guru_mcp.identity.authn import Authenticator, Refused
from guru_mcp.logs import log_refusal
from guru_mcp.models import Caller

log = logging.getLogger(__name__)

CALLER_SCOPE_KEY = "guru_mcp.caller"
METADATA_PREFIX = "/.well-known/oauth-protected-resource"
_GURU_PATH = re.compile(r"^/g/([a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)/mcp/?$")


def endpoint_of(path: str) -> tuple[bool, str | None]:
    """(is an MCP endpoint, guru slug or None for `/mcp`)."""
    if path in ("/mcp", "/mcp/"):
        return True, None
    match = _GURU_PATH.match(path)
    return (True, match.group(1)) if match else (False, None)


def principal(caller: Caller) -> AuthenticatedUser:
    """The SDK's view of the caller: a session of the Streamable HTTP transport answers only to the
    principal (credential and guru) that opened it."""
    token = AccessToken(
        token="",
        client_id=f"{caller.guru}|{caller.subject or caller.key}",
        scopes=["admin"] if caller.is_admin else [],
        subject=caller.subject or caller.key,
    )
    return AuthenticatedUser(token)


class HttpAccess:
    """ASGI app in front of the SDK's Streamable HTTP app (mounted at `/mcp`)."""

    def __init__(
        self,
        inner: ASGIApp,
        authenticator: Authenticator,
        *,
        public_url: str,
        anonymous: Caller | None = None,
    ) -> None:
        self.inner = inner
        self.auth = authenticator
        self.public_url = public_url.rstrip("/")
        self.anonymous = anonymous

    def resource_url(self, guru: str | None) -> str:
        return f"{self.public_url}/g/{guru}/mcp" if guru else f"{self.public_url}/mcp"

    def metadata_url(self, guru: str | None) -> str:
        return f"{self.public_url}{METADATA_PREFIX}" + (f"/g/{guru}/mcp" if guru else "/mcp")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(METADATA_PREFIX):
            await self._metadata(scope, send, path[len(METADATA_PREFIX) :])
            return
        is_endpoint, guru = endpoint_of(path)
        if not is_endpoint:
            await _json(
                send, 404, {"error": "not_found", "message": "MCP is served at /mcp and /g/{guru}/mcp"}
            )
            return
        if self.anonymous is not None:
            caller = self.anonymous.model_copy(update={"guru": guru or self.anonymous.guru})
        else:
            token = _scope_token(scope)
            try:
                if token is None:
                    raise Refused("no bearer token")
                caller = await self.auth.authenticate(token, guru, resource=self.resource_url(guru))
            except Refused as exc:
                await self._refuse(scope, send, guru, exc, presented=token is not None)
                return
        scope = dict(scope)
        scope[CALLER_SCOPE_KEY] = caller
        scope["user"] = principal(caller)
        if guru is not None:
            scope["path"] = "/mcp"
            scope["raw_path"] = b"/mcp"
        await self.inner(scope, receive, send)

    async def _refuse(
        self, scope: Scope, send: Send, guru: str | None, exc: Refused, *, presented: bool
    ) -> None:
        client = scope.get("client") or ("?", 0)
        log_refusal(
            "unauthorized",
            f"{scope.get('method', '?')} {scope.get('path', '?')} from {client[0]}: {exc.reason}",
            status=exc.status,
            method=scope.get("method"),
            path=scope.get("path"),
            client=client[0],
        )
        if exc.status == 404:
            await _json(send, 404, {"error": "not_found", "message": f"no guru {guru!r} for this credential"})
            return
        parts = []
        if presented:
            parts.append('error="invalid_token"')
        if self.auth.oauth is not None:
            parts.append(f'resource_metadata="{self.metadata_url(guru)}"')
            if self.auth.oauth.scopes:
                parts.append(f'scope="{" ".join(self.auth.oauth.scopes)}"')
        else:
            parts.append('realm="guru-mcp"')
        message = "the token is not valid here" if presented else "send Authorization: Bearer <token>"
        await _json(
            send,
            401,
            {"error": "invalid_token" if presented else "unauthorized", "message": message},
            [(b"www-authenticate", ("Bearer " + ", ".join(parts)).encode())],
        )

    async def _metadata(self, scope: Scope, send: Send, suffix: str) -> None:
        oauth = self.auth.oauth
        if oauth is None or scope.get("method") not in ("GET", "HEAD", "OPTIONS"):
            await _json(
                send, 404, {"error": "not_found", "message": "OAuth is not configured on this server"}
            )
            return
        if suffix in ("", "/"):
            guru = None
        else:
            is_endpoint, guru = endpoint_of(suffix)
            if not is_endpoint:
                await _json(send, 404, {"error": "not_found", "message": "no such resource"})
                return
        metadata = ProtectedResourceMetadata(
            resource=AnyHttpUrl(self.resource_url(guru)),
            authorization_servers=[AnyHttpUrl(oauth.issuer)],
            scopes_supported=list(oauth.scopes) or None,
            bearer_methods_supported=["header"],
            resource_name=f"guru-mcp ({guru})" if guru else "guru-mcp",
        )
        body = metadata.model_dump(mode="json", exclude_none=True)
        # AnyHttpUrl renders the bare issuer with a trailing slash; the issuer must match exactly.
        body["authorization_servers"] = [oauth.issuer]
        body["resource"] = self.resource_url(guru)
        await _json(
            send, 200, body, [(b"access-control-allow-origin", b"*"), (b"cache-control", b"max-age=300")]
        )


def _scope_token(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


async def _json(send: Send, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(data).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
