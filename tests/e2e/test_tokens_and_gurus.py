"""Static tokens and gurus through the real CLI and the real HTTP server: listing never shows a
token, revocation is immediate (admin tool, same process) or takes seconds (CLI, another process),
expired tokens are refused, the database holds only hashes, and each guru has its own endpoint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import cli
from tests.e2e.conftest import initialize_status as status
from tests.e2e.test_oauth import _rpc
from tests.support.polling import wait_for


@pytest.fixture
def cli_env(cli_env: dict[str, str]) -> dict[str, str]:
    """The raw JSON-RPC client here cannot answer a confirmation question (no elicitation), so the
    default guru allows the destructive admin tools (admin_token_revoke) to run unconfirmed."""
    return cli_env | {"GURU_MCP_UNCONFIRMED_GURUS": "default"}


def database_bytes(env: dict[str, str]) -> bytes:
    """Everything the database holds: the SQLite files as bytes, or every PostgreSQL row as text."""
    url = env.get("GURU_MCP_DATABASE_URL")
    if not url:
        files = [p for p in Path(env["GURU_MCP_HOME"]).iterdir() if p.name.startswith("guru-mcp.db")]
        return b"".join(p.read_bytes() for p in files)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            return b"\n".join(
                str(row[0]).encode()
                for table in list(tables)
                for row in conn.execute(sa.text(f'SELECT t::text FROM "{table}" t'))
            )
    finally:
        engine.dispose()


def test_tokens_are_listed_without_the_token_and_stored_only_as_hashes(cli_env, tmp_path):
    admin = cli(cli_env, "init", "--email", "ada@corp.example").stdout.strip()
    made = {
        "alex": cli(
            cli_env,
            "tokens",
            "create",
            "--label",
            "laptop",
            "--email",
            "alex@corp.example",
            "--groups",
            "hr,eng",
            "--expires",
            "30d",
        ).stdout.strip(),
        "ci": cli(cli_env, "tokens", "create", "--label", "ci", "--admin").stdout.strip(),
    }
    tokens = [admin, *made.values()]
    assert all(t.startswith("gmcp_") and len(t) > 40 for t in tokens)
    listing = cli(cli_env, "tokens", "list")
    as_json = cli(cli_env, "tokens", "list", "--json")
    for out in (listing, as_json):
        for token in tokens:
            assert token not in out.stdout and token not in out.stderr
            assert token[5:20] not in out.stdout  # not even a prefix of the secret part
    rows = {r["label"]: r for r in json.loads(as_json.stdout)}
    assert rows["laptop"]["email"] == "alex@corp.example" and rows["laptop"]["groups"] == ["hr", "eng"]
    assert rows["laptop"]["expires_at"] is not None and rows["laptop"]["admin"] is False
    assert rows["ci"]["admin"] is True and rows["init"]["admin"] == "server"
    assert "laptop" in listing.stdout and "alex@corp.example [hr,eng]" in listing.stdout
    revoked = cli(cli_env, "tokens", "revoke", str(rows["ci"]["id"]))
    assert "revoked token" in revoked.stdout
    assert "ci" not in {r["label"] for r in json.loads(cli(cli_env, "tokens", "list", "--json").stdout)}
    missing = cli(cli_env, "tokens", "revoke", "999", check=False)
    assert missing.returncode == 3 and missing.stderr.startswith("error: no token with id 999")
    bad_expiry = cli(cli_env, "tokens", "create", "--expires", "soon", check=False)
    assert bad_expiry.returncode == 2 and "30d" in bad_expiry.stderr

    raw = database_bytes(cli_env)
    for token in tokens:
        assert token.encode() not in raw and token[5:].encode() not in raw
    assert hashlib.sha256(admin.encode()).hexdigest().encode() in raw, "the scan reads the database"


def test_revocation_and_expiry_over_http(http_server, cli_env):
    user = http_server.user_token
    assert status(http_server.url, user) == 200
    listed = _rpc(
        http_server.url, http_server.admin_token, "tools/call", {"name": "admin_tokens_list", "arguments": {}}
    )["structuredContent"]["tokens"]
    assert user not in json.dumps(listed)
    user_id = next(t["id"] for t in listed if t["email"] == "alex@corp.example")
    revoked = _rpc(
        http_server.url,
        http_server.admin_token,
        "tools/call",
        {"name": "admin_token_revoke", "arguments": {"id": user_id}},
    )
    assert not revoked.get("isError"), revoked
    assert status(http_server.url, user) == 401, "revoked through an admin tool: refused at once"

    other = cli(cli_env, "tokens", "create", "--email", "kim@corp.example").stdout.strip()
    assert status(http_server.url, other) == 200
    other_id = max(r["id"] for r in json.loads(cli(cli_env, "tokens", "list", "--json").stdout))
    cli(cli_env, "tokens", "revoke", str(other_id))
    wait_for(lambda: status(http_server.url, other) == 401, timeout=15)

    expired = cli(
        cli_env, "tokens", "create", "--email", "old@corp.example", "--expires", "2020-01-01"
    ).stdout.strip()
    assert status(http_server.url, expired) == 401

    def last_used_recorded() -> bool:
        rows = json.loads(cli(cli_env, "tokens", "list", "--json").stdout)
        return any(r["label"] == "init" and r["last_used_at"] for r in rows)

    wait_for(last_used_recorded, timeout=20, interval=0.5)


def test_each_guru_has_its_own_endpoint_and_tokens(http_server, cli_env):
    base = http_server.url.removesuffix("/mcp")
    created = cli(cli_env, "gurus", "create", "acme")
    assert "/g/acme/mcp" in created.stdout
    again = cli(cli_env, "gurus", "create", "acme", check=False)
    assert again.returncode == 5 and "exists already" in again.stderr
    acme = cli(cli_env, "tokens", "create", "--guru", "acme", "--email", "ann@acme.example").stdout.strip()
    assert status(base + "/g/acme/mcp", acme) == 200
    assert status(http_server.url, acme) == 200  # /mcp serves the token's own guru
    assert status(base + "/g/default/mcp", acme) == 404
    assert status(base + "/g/acme/mcp", http_server.user_token) == 404, "a default-guru token is not for acme"
    assert status(base + "/g/acme/mcp", http_server.admin_token) == 200, (
        "the init token is a server-wide admin"
    )
    who = _rpc(
        base + "/g/acme/mcp",
        http_server.admin_token,
        "tools/call",
        {"name": "admin_gurus_list", "arguments": {}},
    )["structuredContent"]["gurus"]
    assert {g["slug"] for g in who} == {"default", "acme"}
    listing = cli(cli_env, "gurus", "list").stdout
    assert "acme" in listing and "default" in listing
    refused = cli(cli_env, "gurus", "delete", "default", "--yes", check=False)
    assert refused.returncode == 4 and "default guru" in refused.stderr
    cli(cli_env, "gurus", "delete", "acme", "--yes")
    wait_for(lambda: status(base + "/g/acme/mcp", http_server.admin_token) == 404, timeout=15)
    assert status(base + "/g/acme/mcp", acme) in (401, 404)
    unknown = cli(cli_env, "actions", "list", "--guru", "nope", check=False)
    assert unknown.returncode == 3 and "gurus create nope" in unknown.stderr
