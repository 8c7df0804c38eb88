"""Turning a bearer token into a `Caller`: static tokens (hashed in the database) and OAuth access
tokens (JWTs from the configured issuer), for the guru an endpoint serves.

`Authenticator.authenticate(token, guru)` is the one entry point; the MCP endpoint and any other
HTTP surface (e.g. a web console) call it, and get either a Caller or `Refused` with the reason to
log (never to show: a client only learns "invalid token").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx

from guru_mcp.errors import RequestRefused
from guru_mcp.identity.oauth import InvalidToken, Jwks, JwtVerifier, OAuthConfig, as_strings, claim, scopes_of
from guru_mcp.models import Caller
from guru_mcp.settings import Settings
from guru_mcp.store import Store
from guru_mcp.store.tokens import TokenInfo

log = logging.getLogger(__name__)

TOUCH_INTERVAL = 60.0
"""Seconds between two writes of a token's last-used time by this process."""


class Refused(RequestRefused):
    """No caller for this token at this endpoint. `reason` is for the server log."""

    def __init__(self, reason: str, *, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Authenticator:
    """Static tokens and OAuth access tokens -> Caller, with short-lived caches.

    Static-token look-ups are cached `settings.token_cache_ttl` seconds (default 2): revoking through
    `revoke` (CLI in this process, admin tools) takes effect at once here, and within that time in
    other processes and replicas. Last-used times are written at most once a minute per token.
    """

    def __init__(self, settings: Settings, store: Store, http: httpx.AsyncClient | None) -> None:
        self.settings = settings
        self.store = store
        self.oauth = OAuthConfig.from_settings(settings)
        self.verifier: JwtVerifier | None = None
        if self.oauth is not None:
            if http is None:
                raise RuntimeError("OAuth needs the shared HTTP client")
            jwks = Jwks(
                http,
                self.oauth,
                ttl=settings.oauth_jwks_cache_ttl,
                min_refresh=settings.oauth_jwks_min_refresh_interval,
            )
            self.verifier = JwtVerifier(self.oauth, jwks)
        self._tokens: dict[str, tuple[float, TokenInfo | None]] = {}
        self._gurus: dict[str, tuple[float, bool]] = {}
        self._touched: dict[int, float] = {}
        self._pending_touch: dict[int, datetime] = {}

    # -- the entry point ---------------------------------------------------------------------------

    async def authenticate(self, token: str, guru: str | None, *, resource: str = "") -> Caller:
        """The caller `token` stands for at the endpoint of `guru` (None: the plain `/mcp`
        endpoint, which serves the credential's own guru). `resource` is the endpoint's resource URL,
        the default accepted audience of OAuth access tokens (RFC 8707).

        Raises:
            Refused: unknown, revoked, expired or invalid token (401), or a guru this credential
                may not use or that does not exist (404, the same answer for both).
        """
        token = token.strip()
        if not token:
            raise Refused("no bearer token")
        if self.verifier is not None and JwtVerifier.looks_like_jwt(token):
            caller = await self._from_jwt(token, guru, resource)
        else:
            caller = await self._from_static(token, guru)
        if not await self._guru_exists(caller.guru):
            raise Refused(f"no guru {caller.guru!r}", status=404)
        return caller

    async def caller(self, token: str, guru: str | None = None, *, resource: str = "") -> Caller | None:
        """`authenticate` for surfaces that only need yes or no (the web console): the Caller, or
        None when the token is refused (the reason is logged at debug level; the surface logs its own
        refusal)."""
        try:
            return await self.authenticate(token, guru, resource=resource)
        except Refused as exc:
            log.debug("token refused: %s", exc.reason)
            return None

    # -- static tokens -----------------------------------------------------------------------------

    async def _lookup(self, token: str) -> TokenInfo | None:
        now = time.monotonic()
        cached = self._tokens.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        info = await self.store.tokens.find_token(token)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[token] = (now + self.settings.token_cache_ttl, info)
        return info

    async def _from_static(self, token: str, guru: str | None) -> Caller:
        info = await self._lookup(token)
        if info is None:
            raise Refused("unknown, revoked or malformed token")
        now = datetime.now(UTC)
        if info.expired(now):
            raise Refused(f"token {info.id} expired at {info.expires_at:%Y-%m-%d %H:%M} UTC")
        target = guru or info.guru
        if target != info.guru and not info.server_admin:
            raise Refused(f"token {info.id} is for guru {info.guru!r}, not {target!r}", status=404)
        self._note_use(info.id, now)
        return Caller(
            key=f"user:{info.email.lower()}" if info.email else f"token:{info.id}",
            email=info.email,
            name=info.name,
            groups=info.groups,
            is_admin=info.is_admin,
            server_admin=info.server_admin,
            guru=target,
            via="token",
            subject=f"token:{info.id}",
        )

    def forget(self, token_id: int) -> None:
        """Drop cached look-ups of a token (after revoking it)."""
        for key, (_, info) in list(self._tokens.items()):
            if info is not None and info.id == token_id:
                self._tokens.pop(key, None)

    async def revoke(self, token_id: int, guru: str | None = None) -> TokenInfo:
        info = await self.store.tokens.revoke_token(token_id, guru)
        self.forget(token_id)
        return info

    def _note_use(self, token_id: int, now: datetime) -> None:
        mono = time.monotonic()
        if mono - self._touched.get(token_id, float("-inf")) < TOUCH_INTERVAL:
            return
        self._touched[token_id] = mono
        self._pending_touch[token_id] = now

    async def flush_usage(self) -> None:
        """Write pending last-used times (called by `run_usage_writer`, and at shutdown)."""
        if not self._pending_touch:
            return
        pending, self._pending_touch = self._pending_touch, {}
        try:
            await self.store.tokens.touch_tokens(pending)
        except Exception:  # bookkeeping only: never fail a request for it
            log.warning("could not record token use", exc_info=True)

    async def run_usage_writer(self, interval: float = 5.0) -> None:
        """Runs until cancelled; writes last-used times in the background, off the request path."""
        try:
            while True:
                await anyio.sleep(interval)
                await self.flush_usage()
        finally:
            with anyio.CancelScope(shield=True):
                await self.flush_usage()

    # -- gurus -------------------------------------------------------------------------------------

    async def _guru_exists(self, slug: str) -> bool:
        now = time.monotonic()
        cached = self._gurus.get(slug)
        if cached is not None and cached[0] > now:
            return cached[1]
        exists = await self.store.gurus.guru_exists(slug)
        if len(self._gurus) > 10_000:
            self._gurus.clear()
        self._gurus[slug] = (now + self.settings.token_cache_ttl, exists)
        return exists

    def guru_changed(self, slug: str) -> None:
        self._gurus.pop(slug, None)

    # -- OAuth access tokens -----------------------------------------------------------------------

    def audiences(self, resource: str) -> Sequence[str]:
        assert self.oauth is not None
        return self.oauth.audiences or ((resource,) if resource else ())

    async def _from_jwt(self, token: str, guru: str | None, resource: str) -> Caller:
        assert self.verifier is not None
        audiences = self.audiences(resource)
        if not audiences:
            raise Refused("no audience to check the token against")
        try:
            claims = await self.verifier.verify(token, audiences)
        except InvalidToken as exc:
            raise Refused(f"access token refused: {exc}") from None
        return self.caller_from_claims(claims, guru)

    def caller_from_claims(self, claims: dict[str, Any], guru: str | None) -> Caller:
        """Map verified claims to a caller, by the `GURU_MCP_OAUTH_*_CLAIM` settings."""
        s = self.settings
        email = claim(claims, s.oauth_email_claim)
        name = claim(claims, s.oauth_name_claim)
        groups = as_strings(claim(claims, s.oauth_groups_claim))
        subject = str(claim(claims, s.oauth_subject_claim) or "")
        scopes = scopes_of(claims)
        server_admin = s.oauth_server_admin_scope in scopes or bool(
            set(groups) & set(s.oauth_server_admin_groups)
        )
        admin = server_admin or s.oauth_admin_scope in scopes or bool(set(groups) & set(s.oauth_admin_groups))
        target = guru or s.default_guru
        if s.oauth_guru_claim:
            allowed = as_strings(claim(claims, s.oauth_guru_claim))
            if guru is None and allowed and s.default_guru not in allowed:
                target = allowed[0]
            if target not in allowed and not server_admin:
                raise Refused(
                    f"the token's {s.oauth_guru_claim!r} claim does not name guru {target!r}", status=404
                )
        email = email if isinstance(email, str) else ""
        issuer = str(claims.get("iss", ""))
        return Caller(
            key=f"user:{email.lower()}" if email else f"oauth:{issuer}#{subject}",
            email=email,
            name=name if isinstance(name, str) else "",
            groups=groups,
            is_admin=admin,
            server_admin=server_admin,
            guru=target,
            via="oauth",
            subject=f"{issuer}#{subject}",
        )
