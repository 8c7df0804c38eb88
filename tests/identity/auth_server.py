"""A small, real OAuth 2.1 authorization server on 127.0.0.1 for the tests, built from authlib.

Flask + authlib's authorization server: dynamic client registration (RFC 7591), the authorization
code grant with PKCE required (RFC 7636), RFC 8414 metadata, and JWT access tokens (RFC 9068) whose
`aud` is the `resource` the client asked for (RFC 8707), signed with an RSA key published as JWKS.
The "user" who approves is whoever the test names in `login_as`: `/authorize` grants at once and
redirects back with the code, as a browser would after a login.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask, jsonify, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server


@dataclass
class User:
    sub: str
    email: str
    name: str
    groups: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    def get_user_id(self) -> str:
        return self.sub


class Client(ClientMixin):
    def __init__(self, info: dict[str, Any], metadata: dict[str, Any]) -> None:
        self.client_id = info["client_id"]
        self.client_secret = info.get("client_secret")
        self.metadata = metadata

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.metadata["redirect_uris"][0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.metadata.get("redirect_uris", [])

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret is not None and client_secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method == self.metadata.get("token_endpoint_auth_method", "client_secret_basic")
        return True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.metadata.get("grant_types", ["authorization_code"])


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: User
    code_challenge: str
    code_challenge_method: str
    resource: str
    issued: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return time.time() - self.issued > 300


class LoopbackAuthServer:
    """The server, its key, its users, and helpers to mint tokens directly (for the negative cases)."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.keys = KeySet([self.key])
        self.users: dict[str, User] = {}
        self.login_as: str | None = None
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.tokens_issued: list[str] = []
        self.issuer = ""
        self._httpd: Any = None
        self._generator: Any = None

    def add_user(self, sub: str, email: str, name: str, groups: list[str], **extra: Any) -> User:
        self.users[sub] = User(sub, email, name, groups, extra)
        return self.users[sub]

    def rotate_key(self, kid: str) -> None:
        """A new signing key; the JWKS publishes both (old tokens keep working until they expire)."""
        self.key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
        self.keys = KeySet([self.key, *self.keys.keys])

    def sign(
        self, claims: dict[str, Any], *, key: RSAKey | None = None, header: dict[str, Any] | None = None
    ) -> str:
        key = key or self.key
        return jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": key.kid, **(header or {})}, claims, key)

    def claims_for(
        self, user: User, audience: str, *, lifetime: int = 600, scope: str = ""
    ) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "sub": user.sub,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
            "client_id": "test",
            "scope": scope,
            "email": user.email,
            "name": user.name,
            "groups": user.groups,
            **user.extra,
        }

    # -- the HTTP server ---------------------------------------------------------------------------

    def start(self) -> None:
        flask_app = self._build()
        self._httpd = make_server("127.0.0.1", 0, flask_app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._httpd.server_port}"
        self._generator.issuer = self.issuer
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def _build(self) -> Flask:
        outer = self
        app = Flask("test-auth-server")

        def metadata() -> dict[str, Any]:
            return {
                "issuer": outer.issuer,
                "authorization_endpoint": f"{outer.issuer}/authorize",
                "token_endpoint": f"{outer.issuer}/token",
                "registration_endpoint": f"{outer.issuer}/register",
                "jwks_uri": f"{outer.issuer}/jwks",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                    "none",
                ],
                "scopes_supported": ["guru-mcp", "guru-mcp:admin"],
            }

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ]

            def save_authorization_code(self, code: str, req: Any) -> None:
                outer.codes[code] = Code(
                    code=code,
                    client_id=req.client.client_id,
                    redirect_uri=req.payload.redirect_uri,
                    scope=req.payload.scope or "",
                    user=req.user,
                    code_challenge=req.payload.data.get("code_challenge"),
                    code_challenge_method=req.payload.data.get("code_challenge_method"),
                    resource=req.payload.data.get("resource", ""),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = outer.codes.get(code)
                return found if found is not None and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                outer.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> User:
                return authorization_code.user

        class Tokens(JWTBearerTokenGenerator):
            def get_jwks(self) -> KeySet:
                return KeySet([outer.key])

            def get_audiences(self, client: Client, user: User, scope: str) -> str:
                # RFC 8707: the audience is the resource the client named (at the token endpoint).
                return request.form.get("resource") or client.get_client_id()

            def get_extra_claims(
                self, client: Client, grant_type: str, user: User, scope: str
            ) -> dict[str, Any]:
                return {"email": user.email, "name": user.name, "groups": user.groups, **user.extra}

        class Registration(ClientRegistrationEndpoint):
            def authenticate_token(self, req: Any) -> bool:
                return True  # open registration, as MCP clients expect

            def get_server_metadata(self) -> dict[str, Any]:
                return metadata()

            def generate_client_secret(self, req: Any) -> str | None:
                if req.payload.data.get("token_endpoint_auth_method") == "none":
                    return None
                return super().generate_client_secret(req)

            def save_client(
                self, client_info: dict[str, Any], client_metadata: dict[str, Any], req: Any
            ) -> Client:
                client = Client(client_info, client_metadata)
                outer.clients[client.client_id] = client
                return client

        server = AuthorizationServer(app, query_client=self.clients.get, save_token=lambda token, req: None)
        server.register_grant(CodeGrant, [CodeChallenge(required=True)])
        self._generator = Tokens(issuer="")
        server.register_token_generator("default", self._generator)
        server.register_endpoint(Registration)

        @app.get("/.well-known/oauth-authorization-server")
        def as_metadata() -> Any:
            return jsonify(metadata())

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(outer.keys.as_dict(private=False))

        @app.get("/authorize")
        def authorize() -> Any:
            user = outer.users.get(outer.login_as or "")
            grant = server.get_consent_grant(end_user=user)
            return server.create_authorization_response(grant=grant, grant_user=user)

        @app.post("/token")
        def token() -> Any:
            response = server.create_token_response()
            body = response.get_json(silent=True) or {}
            if "access_token" in body:
                outer.tokens_issued.append(body["access_token"])
            return response

        @app.post("/register")
        def register() -> Any:
            return server.create_endpoint_response(Registration.ENDPOINT_NAME)

        return app
