"""Authentication per HTTP call: what an OAuth access token (JWT) and a static token add.

In-process, through `Authenticator.authenticate` (what `HttpAccess` calls for every request), on a
throw-away SQLite home. The issuer's JWKS is served by a loopback HTTP server and fetched once
(through the egress policy, loopback allowed); every timed call then validates the JWT from scratch
with the cached key: header, RS256 / ES256 signature, `iss`, `aud`, `exp`, claim mapping.

- jwt RS256, jwt ES256   `authenticate(token)`: the added latency of an OAuth caller, JWKS cached;
- verify only (RS256)    `JwtVerifier.verify_cached`: PyJWT's share of it;
- static token           `authenticate(token)` of a static token (look-up cached, as between
                         revocation checks).

    python -m benchmarks -k auth [-- --iterations 5000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from benchmarks._util import LOOPBACK, guru_settings, header, iterations_arg, measure, table, verdict
from guru_mcp.app import open_app

TARGET_MS = 0.2


def _jwks_server(keys: dict[str, object]) -> tuple[ThreadingHTTPServer, str]:
    jwks = {"keys": []}
    for kid, key in keys.items():
        algo = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
        jwk = json.loads(algo.to_jwk(key.public_key()))  # type: ignore[attr-defined]
        jwks["keys"].append({**jwk, "kid": kid, "use": "sig"})
    body = json.dumps(jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{LOOPBACK}:{server.server_address[1]}"


async def main(iterations: int, warmup: int) -> None:
    header(f"authentication per call: {iterations} calls per variant")
    keys = {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
    }
    server, base = _jwks_server(keys)
    resource = "https://mcp.example.com/mcp"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = guru_settings(Path(tmp)).model_copy(
                update={
                    "oauth_issuer": base,
                    "oauth_jwks_url": base + "/jwks",
                    "oauth_algorithms": ["RS256", "ES256"],
                }
            )
            async with open_app(settings, background=False, sandbox=False) as app:
                now = int(time.time())
                claims = {
                    "iss": base,
                    "aud": resource,
                    "sub": "u1",
                    "iat": now,
                    "exp": now + 3600,
                    "email": "kim@example.com",
                    "name": "Kim",
                    "groups": ["support", "billing"],
                    "scope": "guru-mcp",
                }
                rs = jwt.encode(claims, keys["rsa"], algorithm="RS256", headers={"kid": "rsa"})
                es = jwt.encode(claims, keys["ec"], algorithm="ES256", headers={"kid": "ec"})
                static = "gmcp_bench_static_token_0123456789abcdef"
                await app.store.tokens.create_token(
                    static, guru="default", label="bench", is_admin=False, email="kim@example.com"
                )
                auth = app.auth
                assert auth.verifier is not None
                verifier = auth.verifier
                first = await auth.authenticate(rs, None, resource=resource)  # fetches the JWKS once
                assert first.email == "kim@example.com" and first.groups == ("support", "billing")

                async def jwt_rs256() -> None:
                    await auth.authenticate(rs, None, resource=resource)

                async def jwt_es256() -> None:
                    await auth.authenticate(es, None, resource=resource)

                async def verify_only() -> None:
                    verifier.verify_cached(rs, [resource])

                async def static_token() -> None:
                    await auth.authenticate(static, None)

                results = await measure(
                    [
                        ("jwt RS256", jwt_rs256),
                        ("jwt ES256", jwt_es256),
                        ("verify only (RS256)", verify_only),
                        ("static token (cached)", static_token),
                    ],
                    iterations=iterations,
                    warmup=warmup,
                    block=200,
                )
    finally:
        server.shutdown()
        server.server_close()
    print(table(list(results.items()), title="Authenticator.authenticate, JWKS cached"))
    for label in ("jwt RS256", "jwt ES256"):
        print(f"{label} p50 {results[label].p50:.3f} ms: {verdict(results[label].p50, TARGET_MS)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    iterations_arg(parser, 3000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    anyio.run(main, args.iterations, args.warmup)
