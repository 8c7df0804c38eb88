"""Settings: one object, built once in the CLI and passed down.

Sources, strongest first: `GURU_MCP_*` environment variables, then `config.toml` in the home
directory (see `guru_mcp.config_file`, which loads both and says where each value came from), then
the defaults below. Nothing below the CLI reads the environment; tests build `Settings(...)` directly
(which reads no file).
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_NAME = "config.toml"
config_file_var: ContextVar[Path | None] = ContextVar("guru_mcp_config_file", default=None)
"""Set by `config_file.load_settings` while it builds settings: then the environment arrives as init
values (read from the mapping it was given) and this file is read beneath them. Unset: a plain
`Settings()` reads the process environment and no file."""

CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every tunable of the server. Environment variables use the prefix `GURU_MCP_`."""

    model_config = SettingsConfigDict(env_prefix="GURU_MCP_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".guru-mcp")
    """State directory: the SQLite database, the secret key file."""

    database_url: str | None = None
    """SQLAlchemy URL. Default: a SQLite file under `home`."""

    secret_key: SecretStr | None = None
    """Master key for secrets at rest (base64 of 32 bytes). Default: `home/secret.key`, made by `init`."""

    old_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Earlier master keys, comma-separated, still accepted for decryption during a key rotation."""

    egress_allow: CommaList = Field(default_factory=list)
    """Hosts, IPs or CIDRs that outbound calls may reach even though they are private/loopback."""

    default_guru: str = "default"
    """The guru (tenant) a connection serves unless its token names another."""

    unconfirmed_gurus: CommaList = Field(default_factory=list)
    """Gurus whose calls needing confirmation run unconfirmed when the client cannot ask the user
    (no elicitation support); `*` for every guru. Default: none (such calls are refused)."""

    # Runs
    max_concurrent_runs_per_caller: int = Field(default=3, ge=1)
    run_queue_timeout: float = Field(default=30.0, gt=0)
    """How long a call may wait for one of its caller's run slots before it is refused."""
    run_output_limit: int = Field(default=64 * 1024, ge=1024)
    """Characters of output kept in a run record (the tool result may carry more)."""

    # API-call actions
    http_default_timeout: float = Field(default=30.0, gt=0)
    http_max_timeout: float = Field(default=120.0, gt=0)
    http_response_limit: int = Field(default=1024 * 1024, ge=1024)
    http_max_redirects: int = Field(default=5, ge=0)

    # Python actions / sandbox
    sandbox_enabled: bool = True
    sandbox_image: str | None = None
    """Image reference; default: the tag computed from the sandbox/ inputs."""
    sandbox_default_timeout: float = Field(default=30.0, gt=0)
    sandbox_max_timeout: float = Field(default=120.0, gt=0)
    sandbox_memory: str = "512m"
    sandbox_cpus: float = Field(default=1.0, gt=0)
    sandbox_pids_limit: int = Field(default=128, ge=16)
    sandbox_tmp_size: str = "100m"
    sandbox_output_limit: int = Field(default=1024 * 1024, ge=1024)
    sandbox_pool_size: int = Field(default=2, ge=0)
    sandbox_preimport: CommaList = Field(default_factory=lambda: ["pandas", "numpy"])
    sandbox_egress: Literal["proxy", "none", "bridge"] = "proxy"
    sandbox_runtime: str = "auto"
    """OCI runtime of the sandbox containers: `auto` (crun when the engine has it registered, else the
    engine's default), `default` (the engine's default, usually runc), or a runtime the engine knows."""
    max_code_bytes: int = Field(default=100_000, ge=1000)

    # Agents
    agent_default_timeout: float = Field(default=120.0, gt=0)
    agent_max_timeout: float = Field(default=900.0, gt=0)
    """The longest an agent's whole loop (model calls and tool runs) may take."""

    # Identity for stdio callers (HTTP callers get theirs from their token)
    stdio_user_email: str = ""
    stdio_user_name: str = ""
    stdio_user_groups: CommaList = Field(default_factory=list)

    # HTTP access: static tokens and OAuth 2.1 (guru-mcp is a resource server; see the README)
    public_url: str | None = None
    """The server's public base URL, e.g. `https://mcp.example.com`: resource URLs (`/mcp`,
    `/g/{slug}/mcp`) and the metadata document are built from it. Default: the address it listens on."""
    token_cache_ttl: float = Field(default=2.0, ge=0)
    """Seconds a static-token look-up is cached. A revocation is immediate in the process that made
    it and takes at most this long in other replicas."""
    oauth_issuer: str | None = None
    """The authorization server's issuer URL. Setting it turns on JWT access tokens."""
    oauth_jwks_url: str | None = None
    """Where the issuer's signing keys are. Default: `jwks_uri` from the issuer's metadata."""
    oauth_audience: CommaList = Field(default_factory=list)
    """Accepted `aud` values. Default: the resource URL of the endpoint called (RFC 8707)."""
    oauth_algorithms: CommaList = Field(default_factory=lambda: ["RS256", "ES256", "PS256", "EdDSA"])
    oauth_leeway: float = Field(default=30.0, ge=0, le=300)
    """Seconds of clock skew tolerated on `exp`, `nbf` and `iat`."""
    oauth_scopes: CommaList = Field(default_factory=list)
    """Scopes advertised in the resource metadata (and asked for by clients)."""
    oauth_required_scopes: CommaList = Field(default_factory=list)
    """Scopes every access token must carry."""
    oauth_email_claim: str = "email"
    oauth_name_claim: str = "name"
    oauth_groups_claim: str = "groups"
    """Claim names; a dotted path reads a nested claim (`realm_access.roles`)."""
    oauth_subject_claim: str = "sub"
    oauth_guru_claim: str = ""
    """Claim naming the gurus a user may use (string or list). Empty: the URL decides."""
    oauth_admin_groups: CommaList = Field(default_factory=list)
    """Members of these groups are admins of the gurus they reach."""
    oauth_admin_scope: str = "guru-mcp:admin"
    oauth_server_admin_groups: CommaList = Field(default_factory=list)
    """Members of these groups are server-wide admins (every guru, creating and deleting gurus)."""
    oauth_server_admin_scope: str = "guru-mcp:server-admin"
    oauth_jwks_cache_ttl: float = Field(default=3600.0, gt=0)
    oauth_jwks_min_refresh_interval: float = Field(default=10.0, ge=0)
    """Fewest seconds between two JWKS fetches caused by unknown key ids (bounds the cost of junk tokens)."""

    # Scheduler
    scheduler_enabled: bool = True
    scheduler_misfire_grace: float = Field(default=3600.0, ge=0)

    # Several processes on one database; stopping
    process_lapse: float = Field(default=3.0, ge=0.3)
    """Seconds without a heartbeat after which a server process counts as stopped: its running runs
    are marked cancelled and its schedule claims released to the other servers. It beats every third
    of this."""
    shutdown_grace: float = Field(default=20.0, ge=0)
    """On SIGTERM/SIGINT, how long runs in flight may take to finish before they are cancelled."""

    catalog_poll_interval: float = Field(default=2.0, gt=0)
    """Seconds between checks for catalog changes made by other processes (CLI, replicas)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = config_file_var.get()
        if path is None:
            return (init_settings, env_settings)
        return (init_settings, TomlConfigSettingsSource(settings_cls, toml_file=path))

    _split = field_validator(
        "egress_allow",
        "sandbox_preimport",
        "stdio_user_groups",
        "old_secret_keys",
        "oauth_audience",
        "oauth_algorithms",
        "oauth_scopes",
        "oauth_required_scopes",
        "oauth_admin_groups",
        "oauth_server_admin_groups",
        "unconfirmed_gurus",
        mode="before",
    )(_split_commas)

    def allows_unconfirmed(self, guru: str) -> bool:
        return "*" in self.unconfirmed_gurus or guru in self.unconfirmed_gurus

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'guru-mcp.db'}"

    @property
    def key_file(self) -> Path:
        return self.home / "secret.key"

    @property
    def config_file(self) -> Path:
        return self.home / CONFIG_FILE_NAME
