"""The resource server's pieces: settings checks, claim mapping, JWKS caching and refresh limits.
(The whole flow, with a real authorization server and the SDK client, is in tests/e2e/test_oauth.py.)"""

from __future__ import annotations

import pytest

from guru_mcp.errors import ConfigError
from guru_mcp.identity.authn import Authenticator, Refused
from guru_mcp.identity.oauth import Jwks, JwtVerifier, OAuthConfig, claim
from guru_mcp.settings import Settings
from tests.identity.auth_server import LoopbackAuthServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def auth_server():
    server = LoopbackAuthServer()
    server.add_user("u1", "kim@corp.example", "Kim", ["support"])
    server.start()
    yield server
    server.stop()


def test_symmetric_and_none_algorithms_cannot_be_allowed(settings):
    for algs in (["HS256"], ["none"], ["RS256", "HS512"], []):
        with pytest.raises(ConfigError, match="GURU_MCP_OAUTH_ALGORITHMS"):
            OAuthConfig.from_settings(
                settings.model_copy(update={"oauth_issuer": "https://id.example", "oauth_algorithms": algs})
            )


def test_a_plain_http_issuer_is_refused_unless_it_is_loopback(settings):
    with pytest.raises(ConfigError, match="https"):
        OAuthConfig.from_settings(settings.model_copy(update={"oauth_issuer": "http://id.example"}))
    assert (
        OAuthConfig.from_settings(settings.model_copy(update={"oauth_issuer": "http://127.0.0.1:9"}))
        is not None
    )
    assert OAuthConfig.from_settings(settings) is None, "no issuer: OAuth is off"


def test_claims_are_read_by_name_or_nested_path():
    claims = {"realm_access": {"roles": ["ops", "support"]}, "https://corp/groups": ["x"], "email": "a@b"}
    assert claim(claims, "realm_access.roles") == ["ops", "support"]
    assert claim(claims, "https://corp/groups") == ["x"]
    assert claim(claims, "realm_access.missing") is None
    assert claim(claims, "") is None


async def test_claims_map_to_a_caller_by_settings(app):
    settings = app.settings.model_copy(
        update={
            "oauth_issuer": "https://id.example",
            "oauth_groups_claim": "realm_access.roles",
            "oauth_name_claim": "preferred_username",
            "oauth_admin_groups": ["guru-admins"],
            "oauth_guru_claim": "tenants",
        }
    )
    auth = Authenticator(settings, app.store, http=object())  # type: ignore[arg-type]
    base = {
        "iss": "https://id.example",
        "sub": "s-1",
        "email": "Kim@Corp.example",
        "preferred_username": "kim",
        "realm_access": {"roles": ["support"]},
        "tenants": ["default", "acme"],
    }
    kim = auth.caller_from_claims(base, None)
    assert (kim.email, kim.name, kim.groups, kim.is_admin, kim.guru) == (
        "Kim@Corp.example",
        "kim",
        ("support",),
        False,
        "default",
    )
    assert (
        kim.key == "user:kim@corp.example" and kim.via == "oauth" and kim.subject == "https://id.example#s-1"
    )
    assert auth.caller_from_claims(base, "acme").guru == "acme"
    with pytest.raises(Refused) as refused:
        auth.caller_from_claims(base, "globex")
    assert refused.value.status == 404
    admin = auth.caller_from_claims({**base, "realm_access": {"roles": ["guru-admins"]}}, None)
    assert admin.is_admin and not admin.server_admin
    by_scope = auth.caller_from_claims({**base, "scope": "openid guru-mcp:server-admin"}, "globex")
    assert by_scope.server_admin and by_scope.is_admin and by_scope.guru == "globex"
    only_acme = auth.caller_from_claims({**base, "tenants": "acme"}, None)
    assert only_acme.guru == "acme", "on /mcp a user of one guru lands in it"


async def test_keys_are_cached_and_unknown_key_ids_refetch_at_most_once_per_interval(app, auth_server):
    config = OAuthConfig.from_settings(
        Settings(oauth_issuer=auth_server.issuer, home=app.settings.home, secret_key=app.settings.secret_key)
    )
    assert config is not None
    from guru_mcp.egress import EgressPolicy, build_http_client

    async with build_http_client(EgressPolicy(["127.0.0.1"])) as http:
        jwks = Jwks(http, config, min_refresh=3600)
        verifier = JwtVerifier(config, jwks)
        user = auth_server.users["u1"]
        audience = "http://127.0.0.1:1/mcp"
        token = auth_server.sign(auth_server.claims_for(user, audience))
        assert (await verifier.verify(token, [audience]))["email"] == "kim@corp.example"
        assert verifier.verify_cached(token, [audience]) is not None, "second time: no I/O"
        auth_server.rotate_key("k2")
        rotated = auth_server.sign(auth_server.claims_for(user, audience))
        with pytest.raises(Exception, match="no signing key 'k2'"):
            await verifier.verify(rotated, [audience])  # just fetched: no new fetch within the interval
        jwks.min_refresh = 0
        assert (await verifier.verify(rotated, [audience]))["sub"] == "u1"

    async with build_http_client(EgressPolicy()) as guarded:
        jwks = Jwks(guarded, config)
        with pytest.raises(Exception, match="no signing key"):
            await JwtVerifier(config, jwks).verify(token, [audience])  # loopback not allowed: no keys
