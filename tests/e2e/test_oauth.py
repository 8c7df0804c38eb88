"""OAuth 2.1 end to end: a real authorization server on loopback (authlib), the real server as a
subprocess, and the official `mcp` SDK client discovering the resource metadata from the 401,
registering, getting a token with the authorization code + PKCE (the test playing the user), then
listing and calling tools as that user."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from mcp.shared.exceptions import MCPError

from tests.conftest import api_action
from tests.e2e.conftest import INITIALIZE, cli, initialize_status, serve_http
from tests.identity.auth_server import LoopbackAuthServer


@pytest.fixture
def auth_server() -> Iterator[LoopbackAuthServer]:
    server = LoopbackAuthServer()
    server.add_user("u-alice", "alice@corp.example", "Alice Support", ["support"])
    server.add_user("u-bob", "bob@corp.example", "Bob Billing", ["billing"])
    server.add_user("u-olga", "olga@corp.example", "Olga Ops", ["ops"], roles={"guru": ["acme"]})
    server.start()
    yield server
    server.stop()


@dataclass
class OAuthServer:
    base: str
    url: str
    admin_token: str
    env: dict[str, str]


@pytest.fixture
def oauth_server(cli_env, auth_server) -> Iterator[OAuthServer]:
    env = {
        **cli_env,
        "GURU_MCP_OAUTH_ISSUER": auth_server.issuer,
        "GURU_MCP_OAUTH_SCOPES": "guru-mcp",
        "GURU_MCP_OAUTH_ADMIN_GROUPS": "ops",
        "GURU_MCP_OAUTH_JWKS_MIN_REFRESH_INTERVAL": "0",  # the rotation test signs with a new key at once
    }
    admin = cli(env, "init", "--email", "ada@corp.example").stdout.strip()
    cli(env, "gurus", "create", "acme")
    with serve_http(env, admin) as server:
        yield OAuthServer(server.base, server.url, admin, env)


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def oauth_client(
    server_url: str, auth: LoopbackAuthServer, user: str
) -> tuple[OAuthClientProvider, MemoryStorage]:
    """The SDK's OAuth client; the redirect handler plays the user's browser: it opens the
    authorization URL (where `user` is logged in and approves) and hands back the redirect's code."""
    redirect: dict[str, str] = {}

    async def open_browser(authorization_url: str) -> None:
        auth.login_as = user
        async with httpx2.AsyncClient(follow_redirects=False, timeout=10) as browser:
            response = await browser.get(authorization_url)
        assert response.status_code == 302, response.text
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert "code" in query, response.headers["location"]
        redirect.update(code=query["code"][0], state=query["state"][0])

    async def callback() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=redirect["code"], state=redirect["state"])

    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=server_url,
        client_metadata=OAuthClientMetadata(
            client_name="guru-mcp tests",
            redirect_uris=["http://127.0.0.1:9/callback"],
            grant_types=["authorization_code"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=open_browser,
        callback_handler=callback,
    )
    return provider, storage


def admin_call(server: OAuthServer, path: str, tool: str, arguments: dict) -> dict:
    """Call an admin tool with the static admin token (a plain JSON-RPC client, stateless)."""
    result = _rpc(
        server.base + path, server.admin_token, "tools/call", {"name": tool, "arguments": arguments}
    )
    assert not result.get("isError"), result
    return result["structuredContent"]


def _rpc(url: str, token: str, method: str, params: dict) -> dict:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    init = httpx.post(
        url,
        headers=headers,
        json=INITIALIZE,
        timeout=30,
    )
    assert init.status_code == 200, init.text
    session = init.headers.get("mcp-session-id")
    if session:
        headers["mcp-session-id"] = session
    headers["mcp-protocol-version"] = "2025-06-18"
    httpx.post(
        url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, timeout=30
    )
    response = httpx.post(
        url, headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": method, "params": params}, timeout=30
    )
    assert response.status_code == 200, response.text
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        text = next(line[5:] for line in text.splitlines() if line.startswith("data:"))
    return json.loads(text)["result"]


@pytest.mark.anyio
async def test_an_mcp_client_signs_in_with_oauth_and_its_actions_see_who_the_user_is(
    oauth_server, auth_server, echo_server
):
    whoami = api_action(
        "whoami",
        echo_server.url + "/me?e={GURUBASE_USER_EMAIL}&n={GURUBASE_USER_NAME}&g={GURUBASE_USER_GROUPS}",
    )
    admin_call(oauth_server, "/mcp", "admin_action_create", {"action": whoami})
    admin_call(
        oauth_server,
        "/mcp",
        "admin_action_create",
        {"action": api_action("refund", echo_server.url + "/refund", groups=["billing"])},
    )

    provider, storage = oauth_client(oauth_server.url, auth_server, "u-alice")
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        async with Client(streamable_http_client(oauth_server.url, http_client=http)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "whoami" in names
            assert "refund" not in names, "a billing-only tool is hidden from a support user"
            assert not [n for n in names if n.startswith("admin_")]
            result = await client.call_tool("whoami", {})
            assert not result.is_error, result.content[0].text
            with pytest.raises(MCPError, match="Unknown tool"):
                await client.call_tool("refund", {})
    assert echo_server.last()["query"] == {"e": "alice@corp.example", "n": "Alice Support", "g": "support"}
    # The token the client obtained: a JWT from our issuer, for this resource (RFC 8707).
    claims = pyjwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert claims["aud"] == oauth_server.url and claims["iss"] == auth_server.issuer
    runs = admin_call(oauth_server, "/mcp", "admin_runs_list", {})["runs"]
    by_action = {r["action_name"]: r for r in runs}
    assert by_action["whoami"]["caller"]["email"] == "alice@corp.example"
    assert by_action["whoami"]["caller"]["via"] == "oauth"
    assert by_action["refund"]["status"] == "denied"
    assert by_action["refund"]["caller"]["groups"] == ["support"]


def test_the_resource_metadata_and_the_401_tell_a_client_where_to_get_a_token(oauth_server, auth_server):
    response = httpx.post(oauth_server.url, json={})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{oauth_server.base}/.well-known/oauth-protected-resource/mcp"' in challenge
    for path, resource in (
        ("/.well-known/oauth-protected-resource/mcp", oauth_server.url),
        ("/.well-known/oauth-protected-resource", oauth_server.url),
        ("/.well-known/oauth-protected-resource/g/acme/mcp", oauth_server.base + "/g/acme/mcp"),
    ):
        meta = httpx.get(oauth_server.base + path).json()
        assert meta["resource"] == resource
        assert meta["authorization_servers"] == [auth_server.issuer]
        assert meta["scopes_supported"] == ["guru-mcp"]
        assert meta["bearer_methods_supported"] == ["header"]
    guru_401 = httpx.post(oauth_server.base + "/g/acme/mcp", json={})
    assert "/.well-known/oauth-protected-resource/g/acme/mcp" in guru_401.headers["www-authenticate"]


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = "mallory@corp.example"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _hs256(claims: dict, public_jwk: dict) -> str:
    """The key-confusion attack: an HMAC 'signature' keyed with the issuer's public key (PEM)."""
    pem = pyjwt.PyJWK(public_jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
        + "."
        + b64(json.dumps(claims).encode())
    )
    return signing_input + "." + b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())


def test_bad_access_tokens_get_401(oauth_server, auth_server):
    alice = auth_server.users["u-alice"]
    good = auth_server.sign(auth_server.claims_for(alice, oauth_server.url))
    assert initialize_status(oauth_server.url, good) == 200
    other_key = type(auth_server.key).generate_key(2048, parameters={"kid": "k1"})
    public = auth_server.keys.as_dict(private=False)["keys"][0]
    cases = {
        "expired": auth_server.sign(auth_server.claims_for(alice, oauth_server.url, lifetime=-120)),
        "wrong audience": auth_server.sign(auth_server.claims_for(alice, "https://other.example/mcp")),
        "another guru's audience": auth_server.sign(
            auth_server.claims_for(alice, oauth_server.base + "/g/acme/mcp")
        ),
        "wrong issuer": auth_server.sign(
            {**auth_server.claims_for(alice, oauth_server.url), "iss": "https://evil.example"}
        ),
        "tampered": _tamper(good),
        "signed by another key with the same kid": auth_server.sign(
            auth_server.claims_for(alice, oauth_server.url), key=other_key
        ),
        "alg none": pyjwt.encode(auth_server.claims_for(alice, oauth_server.url), None, algorithm="none"),
        "HS256 keyed with the public key": _hs256(auth_server.claims_for(alice, oauth_server.url), public),
        "no expiry": auth_server.sign(
            {k: v for k, v in auth_server.claims_for(alice, oauth_server.url).items() if k != "exp"}
        ),
    }
    for case, token in cases.items():
        assert initialize_status(oauth_server.url, token) == 401, case


def test_a_rotated_signing_key_is_fetched_when_a_token_names_it(oauth_server, auth_server):
    alice = auth_server.users["u-alice"]
    assert (
        initialize_status(oauth_server.url, auth_server.sign(auth_server.claims_for(alice, oauth_server.url)))
        == 200
    )
    auth_server.rotate_key("k2")
    token = auth_server.sign(auth_server.claims_for(alice, oauth_server.url))
    assert pyjwt.get_unverified_header(token)["kid"] == "k2"
    assert initialize_status(oauth_server.url, token) == 200


def test_an_oauth_user_reaches_another_guru_only_with_a_token_for_it(oauth_server, auth_server, echo_server):
    admin_call(
        oauth_server,
        "/mcp",
        "admin_action_create",
        {"action": api_action("home_only", echo_server.url + "/h")},
    )
    olga = auth_server.users["u-olga"]  # in group ops: an admin (GURU_MCP_OAUTH_ADMIN_GROUPS)
    acme = oauth_server.base + "/g/acme/mcp"
    token = auth_server.sign(auth_server.claims_for(olga, acme))
    assert initialize_status(oauth_server.url, token) == 401, (
        "a token for acme's endpoint is not for the default one"
    )
    nope = oauth_server.base + "/g/nope/mcp"
    assert initialize_status(nope, auth_server.sign(auth_server.claims_for(olga, nope))) == 404
    tools = {t["name"] for t in _rpc(acme, token, "tools/list", {})["tools"]}
    assert "home_only" not in tools and "admin_actions_list" in tools
    assert "admin_gurus_list" not in tools, "a guru admin is not a server-wide admin"
    listed = _rpc(acme, token, "tools/call", {"name": "admin_actions_list", "arguments": {}})
    assert listed["structuredContent"]["actions"] == []
