"""OAuth 2.1 access tokens as JWTs: the issuer's keys (JWKS), signature and claim checks, claim mapping.

Verification is PyJWT's (with `cryptography`); nothing here parses a JWT by hand. The keys are
fetched through the one shared outbound HTTP client, so the egress policy applies to the issuer
like to any other host: a loopback issuer (the tests' authorization server) is reachable only when
`GURU_MCP_EGRESS_ALLOW` allows it, and is the only case where plain `http` is accepted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
import httpx

from guru_mcp.errors import ConfigError, RequestRefused
from guru_mcp.settings import Settings

if TYPE_CHECKING:  # PyJWT (and the cryptography it loads) is imported when an OAuth token is checked
    from jwt import PyJWK

log = logging.getLogger(__name__)

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""The only algorithms that may be allowed: a JWKS publishes public keys, so a symmetric (`HS*`)
algorithm would let anyone who read the JWKS sign tokens, and `none` signs nothing."""

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
FETCH_TIMEOUT = 10.0


class InvalidToken(RequestRefused):
    """The access token is not acceptable; the message says why (for the log, never the client)."""

    status = 401


def require_https(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return url
    raise ConfigError(f"{what} {url!r} must be an https URL (plain http only for a loopback address)")


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name, or a nested one by dotted path (`realm_access.roles`). A name that exists
    as-is wins (claims such as `https://example.com/groups` contain dots)."""
    if not path:
        return None
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def as_strings(value: Any) -> tuple[str, ...]:
    """A claim that holds one name or several: a list, or a comma/space separated string."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v for v in value.replace(",", " ").split() if v)
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if isinstance(v, (str, int)) and str(v))
    return ()


@dataclass(frozen=True)
class OAuthConfig:
    """The resource server's view of its authorization server, checked once at start-up."""

    issuer: str
    jwks_url: str | None
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    leeway: float
    scopes: tuple[str, ...]
    required_scopes: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> OAuthConfig | None:
        if not settings.oauth_issuer:
            return None
        issuer = require_https(settings.oauth_issuer, "GURU_MCP_OAUTH_ISSUER")
        if settings.oauth_jwks_url:
            require_https(settings.oauth_jwks_url, "GURU_MCP_OAUTH_JWKS_URL")
        algorithms = tuple(settings.oauth_algorithms)
        bad = [a for a in algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if bad or not algorithms:
            raise ConfigError(
                f"GURU_MCP_OAUTH_ALGORITHMS: {', '.join(bad) or 'empty'} not allowed; "
                f"use asymmetric ones ({', '.join(sorted(ASYMMETRIC_ALGORITHMS))})"
            )
        return cls(
            issuer=issuer,
            jwks_url=settings.oauth_jwks_url,
            audiences=tuple(settings.oauth_audience),
            algorithms=algorithms,
            leeway=settings.oauth_leeway,
            scopes=tuple(settings.oauth_scopes),
            required_scopes=tuple(settings.oauth_required_scopes),
        )


class Jwks:
    """The issuer's signing keys, fetched on first use, cached, and fetched again when a token names
    a key id we do not know (key rotation) — at most once per `min_refresh` seconds."""

    def __init__(
        self, http: httpx.AsyncClient, config: OAuthConfig, *, ttl: float = 3600.0, min_refresh: float = 10.0
    ) -> None:
        self.http = http
        self.config = config
        self.ttl = ttl
        self.min_refresh = min_refresh
        self._keys: dict[str | None, PyJWK] = {}
        self._algs: dict[str | None, str] = {}
        """The `alg` a JWK names, when it names one: tokens it verifies must use that algorithm."""
        self._fetched_at = float("-inf")
        self._lock = anyio.Lock()
        self._jwks_url = config.jwks_url

    def cached(self, kid: str | None) -> PyJWK | None:
        """The key for `kid` if it is cached and fresh (no I/O: the fast path of every call)."""
        if time.monotonic() - self._fetched_at > self.ttl:
            return None
        return self._key(kid)

    def bound_algorithm(self, kid: str | None) -> str | None:
        return self._algs.get(kid)

    def _key(self, kid: str | None) -> PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def key(self, kid: str | None) -> PyJWK:
        found = self.cached(kid)
        if found is not None:
            return found
        async with self._lock:
            found = self.cached(kid)
            if found is not None:
                return found
            stale = time.monotonic() - self._fetched_at > self.ttl
            if stale or time.monotonic() - self._fetched_at >= self.min_refresh:
                await self._refresh()
            found = self._key(kid)
        if found is None:
            raise InvalidToken(f"no signing key {kid!r} in the issuer's JWKS")
        return found

    async def _refresh(self) -> None:
        try:
            with anyio.fail_after(FETCH_TIMEOUT):
                url = self._jwks_url or await self._discover()
                response = await self.http.get(url)
                response.raise_for_status()
                from jwt import PyJWKSet

                keyset = PyJWKSet.from_dict(response.json())
        except Exception as exc:
            # Keep serving with the keys we had; tokens signed by an unknown key are refused.
            log.warning("could not fetch the issuer's keys: %s", exc)
            self._fetched_at = time.monotonic() - max(self.ttl - self.min_refresh, 0)
            return
        self._jwks_url = url
        self._keys = {k.key_id: k for k in keyset.keys if k.public_key_use in (None, "sig")}
        raw = response.json().get("keys", [])
        self._algs = {
            k.get("kid"): k["alg"] for k in raw if isinstance(k, dict) and isinstance(k.get("alg"), str)
        }
        self._fetched_at = time.monotonic()
        log.info("loaded %d signing keys from %s", len(self._keys), url)

    async def _discover(self) -> str:
        """`jwks_uri` from the issuer's metadata (RFC 8414, then OpenID Connect Discovery)."""
        issuer = self.config.issuer.rstrip("/")
        parts = urlsplit(issuer)
        origin = f"{parts.scheme}://{parts.netloc}"
        candidates = [
            f"{origin}/.well-known/oauth-authorization-server{parts.path}",
            f"{issuer}/.well-known/openid-configuration",
        ]
        for url in candidates:
            response = await self.http.get(url)
            if response.status_code != 200:
                continue
            meta = response.json()
            if str(meta.get("issuer", "")).rstrip("/") != issuer:
                raise InvalidToken(f"metadata at {url} names issuer {meta.get('issuer')!r}, not {issuer!r}")
            jwks_uri = meta.get("jwks_uri")
            if not jwks_uri:
                raise InvalidToken(f"metadata at {url} has no jwks_uri")
            return require_https(str(jwks_uri), "jwks_uri")
        raise InvalidToken(f"the issuer publishes no metadata at {' or '.join(candidates)}")


class JwtVerifier:
    """Checks an access token: signature by a key of the issuer's JWKS with an allowed algorithm,
    `iss`, `aud` (one of `audiences`), `exp`/`nbf`/`iat` with a small leeway, required scopes."""

    def __init__(self, config: OAuthConfig, jwks: Jwks) -> None:
        self.config = config
        self.jwks = jwks
        self._options = {"require": ["exp", "iss", "aud"], "verify_signature": True}

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        return token.count(".") == 2

    def _header(self, token: str) -> tuple[str, str | None]:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from None
        alg = header.get("alg")
        if alg not in self.config.algorithms:
            raise InvalidToken(f"algorithm {alg!r} is not allowed")
        kid = header.get("kid")
        return alg, kid if isinstance(kid, str) else None

    def _decode(self, token: str, alg: str, key: PyJWK, audiences: Sequence[str]) -> dict[str, Any]:
        bound = self.jwks.bound_algorithm(key.key_id)
        if bound is not None and bound != alg:
            raise InvalidToken(f"key {key.key_id!r} is for {bound}, not {alg}")
        import jwt

        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=list(audiences),
                issuer=self.config.issuer,
                leeway=self.config.leeway,
                options=self._options,  # type: ignore[arg-type]
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"{type(exc).__name__}: {exc}") from None
        missing = [s for s in self.config.required_scopes if s not in scopes_of(claims)]
        if missing:
            raise InvalidToken(f"missing scopes: {', '.join(missing)}")
        return claims

    def verify_cached(self, token: str, audiences: Sequence[str]) -> dict[str, Any] | None:
        """Verify without I/O when the signing key is cached; None when the JWKS must be fetched."""
        alg, kid = self._header(token)
        key = self.jwks.cached(kid)
        if key is None:
            return None
        return self._decode(token, alg, key, audiences)

    async def verify(self, token: str, audiences: Sequence[str]) -> dict[str, Any]:
        """The token's claims, or InvalidToken saying what is wrong."""
        found = self.verify_cached(token, audiences)
        if found is not None:
            return found
        alg, kid = self._header(token)
        return self._decode(token, alg, await self.jwks.key(kid), audiences)


def scopes_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """`scope` (RFC 9068, space-separated) or `scp` (a list, as some providers send)."""
    return as_strings(claims.get("scope")) or as_strings(claims.get("scp"))
