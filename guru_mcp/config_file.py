"""The home's `config.toml`: loading it under the environment, saying where each setting came from,
writing the initial file and changing one setting.

Every command and transport builds its settings with `load_settings()`: `GURU_MCP_*` environment
variables win, then `config.toml` in `GURU_MCP_HOME` (default `~/.guru-mcp`), then the defaults. So
`serve --transport stdio` started by a desktop client with a bare environment sees the same egress
allow-list as `serve --transport http` started from a shell.

Keys are the setting names in lower case (`egress_allow = ["127.0.0.1"]`); an unknown key is refused
with the nearest known name, so a typo never goes unnoticed.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import EnvSettingsSource

from guru_mcp.errors import ConfigError
from guru_mcp.settings import CONFIG_FILE_NAME, Settings, config_file_var

ENV_PREFIX = "GURU_MCP_"
SECRET_FIELDS = frozenset({"secret_key", "old_secret_keys"})
NOT_IN_FILE = frozenset({"home"})
"""Settings that cannot come from the file (the file lives in the home)."""

INITIAL_TEXT = """\
# guru-mcp configuration, read by every command and transport (serve over stdio or HTTP, the CLI).
# Environment variables GURU_MCP_<NAME> override what is set here.
#   guru-mcp config show              effective settings and where each came from
#   guru-mcp config set NAME VALUE    change one setting here (restart the server to apply it)
# Every setting and its default: README.md, section Configuration.

# Hosts, *.suffix patterns, IPs or CIDRs that actions may reach although they are private or
# loopback (everything public is allowed; per action, config.allowed_hosts narrows it further).
# egress_allow = ["127.0.0.1", "*.corp.example"]

# Identity of a stdio client (HTTP callers get theirs from their token).
# stdio_user_email = "you@example.com"
# stdio_user_name = "Your Name"
"""


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _home(environ: Mapping[str, str]) -> Path:
    raw = environ.get(env_var("home"))
    return Path(raw).expanduser() if raw else Path.home() / ".guru-mcp"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where config.toml is: in GURU_MCP_HOME (default ~/.guru-mcp). Needs no valid settings, so a
    broken file can still be fixed with `config set`."""
    return _home(os.environ if environ is None else environ) / CONFIG_FILE_NAME


def _suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def read_file(path: Path) -> dict[str, Any]:
    """The file's settings, checked for unknown keys; {} when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    known = sorted(set(Settings.model_fields) - NOT_IN_FILE)
    for key in data:
        if key in NOT_IN_FILE:
            raise ConfigError(
                f"{path}: {key!r} cannot be set in the file that lives in it; set {env_var(key)}"
            )
        if key not in Settings.model_fields:
            raise ConfigError(f"{path}: unknown setting {key!r}{_suggest(key, known)}")
    return data


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    source = EnvSettingsSource(Settings)
    source.env_vars = {k.lower(): v for k, v in environ.items()}
    return source()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment over `config.toml` over the defaults; a bad value is a
    `ConfigError` naming the setting and where it came from."""
    environ = os.environ if environ is None else environ
    path = config_path(environ)
    read_file(path)  # an unreadable or invalid file fails here, naming it (read again below)
    env_values = _env_values(environ)
    token = config_file_var.set(path)
    try:
        # The environment comes in as init values, read from the mapping given; the file is read by
        # pydantic-settings' TOML source below them.
        return Settings(**env_values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        where = (
            f"environment variable {env_var(field)}" if field in env_values else f"{path}, setting {field!r}"
        )
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{where}: {message}") from None
    finally:
        config_file_var.reset(token)


def origins(settings: Settings, environ: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """One row per setting: name, shown value (secrets masked), and where it came from."""
    environ = os.environ if environ is None else environ
    env_values = _env_values(environ)
    file_values = read_file(settings.config_file)
    rows = []
    for name in Settings.model_fields:
        if name in env_values:
            source = f"env {env_var(name)}"
        elif name in file_values:
            source = CONFIG_FILE_NAME
        else:
            source = "default"
        rows.append({"name": name, "value": show_value(settings, name), "source": source})
    return rows


def show_value(settings: Settings, name: str) -> str:
    value = getattr(settings, name)
    if name == "secret_key":
        return "(set, hidden)" if value is not None else f"(key file {settings.key_file})"
    if name in SECRET_FIELDS:
        return f"({len(value)} set, hidden)" if value else "(none)"
    if name == "database_url":
        return _mask_url(value) if value else f"{settings.db_url} (default)"
    if isinstance(value, SecretStr):
        return "(hidden)"
    if isinstance(value, list):
        return ", ".join(map(str, value)) if value else "(none)"
    if value is None:
        return "(unset)"
    return str(value)


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy understands: hide everything after the scheme
        return url.split("://", 1)[0] + "://***"


def write_initial(path: Path) -> bool:
    """Write the commented starting file unless one exists; True if written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(INITIAL_TEXT, encoding="utf-8")
    return True


def parse_value(name: str, raw: str) -> Any:
    """A command-line value as the TOML value it becomes: lists from commas, numbers and booleans typed."""
    if name not in Settings.model_fields or name in NOT_IN_FILE:
        known = sorted(set(Settings.model_fields) - NOT_IN_FILE)
        raise ConfigError(f"unknown setting {name!r}{_suggest(name, known)}")
    if name in SECRET_FIELDS:
        raise ConfigError(
            f"{name} is a key: keep it in the key file or set {env_var(name)}, not in config.toml"
        )
    annotation = Settings.model_fields[name].annotation
    if "list" in str(annotation):
        return [part.strip() for part in raw.split(",") if part.strip()]
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
    return value if isinstance(value, (bool, int, float)) and "str" not in str(annotation) else raw


def set_value(path: Path, name: str, raw: str, environ: Mapping[str, str] | None = None) -> Any:
    """Set one setting in the file (keeping its comments), after checking that the result loads."""
    value = parse_value(name, raw)
    import tomlkit  # only for writing the file (keeps its comments); reading uses tomllib

    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    except Exception as exc:  # tomlkit raises its own parse errors
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    doc[name] = value
    try:
        Settings(**{name: value})
    except ValidationError as exc:
        raise ConfigError(f"{name}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)
    return value
