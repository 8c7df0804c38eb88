"""`guru-mcp actions list` without the App: the listing read straight from a SQLite file.

The full path (`admin_actions_list` through `cli_support.call`) builds the App: settings (pydantic),
SQLAlchemy, the models, the HTTP client. That costs most of a second; the listing itself is one
query. `listed_actions` gives the same rows as the full path (`catalog.describe` of each action in
name order, masked with the guru's secrets like every admin answer) from the standard library and a
read-only connection, so the command prints the same bytes.

It answers None, and the caller takes the full path, whenever it cannot vouch for the answer:

- a setting it does not check: any `GURU_MCP_*` variable or `config.toml` key other than those in
  `_TEXT`, `_LISTS` and `_FLAGS` (the full path validates every setting and may refuse one), or a
  value of the wrong type for the setting;
- a database other than a plain SQLite file, no file yet (the full path creates it), a file in a
  read-only directory (the full path opens it immutable, ignoring its write-ahead log);
- a schema not at the head revision (the full path migrates it), no default guru (it creates it), an
  unknown guru (it reports it), a run still marked running (it may settle it as cut off);
- no key given and no key file (it creates one), a key or a secret that does not decode;
- a stored spec whose fields are not those of `ActionSpec` (`_SPEC_FIELDS`, pinned by a test);
- any other error.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tomllib
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

from guru_mcp.errors import GuruError
from guru_mcp.migration_heads import head_revisions
from guru_mcp.secrets import Keyring, Masker, decode_key, read_key_file

_TEXT = frozenset({"database_url", "secret_key", "default_guru", "stdio_user_email", "stdio_user_name"})
"""Settings of type `str` (or `str | None`): any value of the environment is valid."""
_LISTS = frozenset({"old_secret_keys", "egress_allow", "stdio_user_groups"})
"""Comma-separated lists: any value of the environment; a string or a list of strings in the file."""
_FLAGS = frozenset({"sandbox_enabled", "scheduler_enabled"})
_FLAG_WORDS = frozenset({"1", "0", "true", "false", "t", "f", "yes", "no", "y", "n", "on", "off"})
"""What pydantic accepts as a boolean from text (in any case)."""

_SPEC_FIELDS = (
    "name",
    "title",
    "condition_prompt",
    "instructions",
    "action_type",
    "parameters",
    "config",
    "enabled",
    "secrets",
    "schedule",
    "groups",
    "output_schema",
    "confirm",
    "annotations",
    "icons",
)
"""`ActionSpec`'s fields, in the order its JSON (`model_dump_json`) is stored."""
_SCHEDULE_FIELDS = ("cron", "timezone", "enabled", "arguments", "overlap", "misfire")
"""`ScheduleSpec`'s fields: its `model_dump()` is the stored object as it is."""


class _Unsure(GuruError):
    """The lean path cannot vouch for its answer: the full path gives it."""


def listed_actions(guru: str | None, environ: Mapping[str, str] | None = None) -> list[dict[str, Any]] | None:
    """The rows `admin_actions_list` answers for `guru` (None: the default guru), or None when only the
    full path can tell."""
    try:
        return _listed(guru, os.environ if environ is None else environ)
    except Exception:  # _Unsure or anything unexpected: the full path decides, and reports errors
        return None


def _settings(environ: Mapping[str, str]) -> tuple[Path, dict[str, Any]]:
    """The home and the settings given (the environment over `config.toml`), each checked as
    `Settings` checks it."""
    given: dict[str, str] = {}
    for key, value in environ.items():
        if not key.lower().startswith("guru_mcp_"):
            continue
        name = key[len("GURU_MCP_") :].lower()
        if key != key.upper() or name not in {"home", *_TEXT, *_LISTS, *_FLAGS}:
            raise _Unsure(key)
        given[name] = value
    raw_home = given.pop("home", None)
    if raw_home is not None and (not raw_home or raw_home.startswith("~")):
        raise _Unsure("GURU_MCP_HOME")  # read differently by config_file and Settings
    home = Path(raw_home) if raw_home else Path.home() / ".guru-mcp"
    try:
        text = (home / "config.toml").read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    chosen: dict[str, Any] = tomllib.loads(text)
    for name, value in chosen.items():
        if name in _TEXT:
            ok = isinstance(value, str)
        elif name in _LISTS:
            ok = isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            )
        else:
            ok = name in _FLAGS and isinstance(value, bool)
        if not ok:
            raise _Unsure(name)
    if any(given[name].lower() not in _FLAG_WORDS for name in _FLAGS & given.keys()):
        raise _Unsure("flag")
    chosen.update(given)
    return home, chosen


def _items(value: str | list[str]) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


def _database_file(home: Path, settings: dict[str, Any]) -> str:
    url = settings.get("database_url") or f"sqlite:///{home / 'guru-mcp.db'}"
    path = url.removeprefix("sqlite:///")
    if path == url or "?" in path or "%" in path or not os.path.isfile(path):
        raise _Unsure("not an existing plain SQLite file")
    if not os.access(os.path.dirname(path) or ".", os.W_OK):
        raise _Unsure("a read-only directory")  # the full path opens such a file immutable
    return path


def _listed(guru: str | None, environ: Mapping[str, str]) -> list[dict[str, Any]]:
    home, settings = _settings(environ)
    path = _database_file(home, settings)
    secret_key = settings.get("secret_key")
    if secret_key is None and not (home / "secret.key").exists():
        raise _Unsure("no key file")
    primary = decode_key(secret_key) if secret_key is not None else read_key_file(home / "secret.key")
    older = [decode_key(k) for k in _items(settings.get("old_secret_keys", []))]
    default = settings.get("default_guru", "default")
    slug = guru or default
    with closing(sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=30)) as db:
        db.execute("BEGIN")  # one snapshot for every read below
        if {r for (r,) in db.execute("SELECT version_num FROM alembic_version")} != head_revisions():
            raise _Unsure("schema")
        ids = dict(db.execute("SELECT slug, id FROM gurus WHERE slug IN (?, ?)", (default, slug)))
        if default not in ids or slug not in ids:
            raise _Unsure("guru")
        if db.execute("SELECT 1 FROM runs WHERE status = 'running' LIMIT 1").fetchone():
            raise _Unsure("a run is marked running")
        actions = db.execute(
            "SELECT name, spec, version, enabled, disabled_reason FROM actions WHERE guru_id = ? ORDER BY name",
            (ids[slug],),
        ).fetchall()
        sealed = db.execute(
            "SELECT name, ciphertext, key_id FROM secrets WHERE guru_id = ?", (ids[slug],)
        ).fetchall()
    masker = Masker()
    if sealed:
        keyring = Keyring(primary, older)
        masker = Masker(keyring.decrypt(slug, name, text, kid) for name, text, kid in sealed)
    rows: list[dict[str, Any]] = masker.data({"actions": [_row(*action) for action in actions]})["actions"]
    return rows


def _row(name: str, spec_json: str, version: int, enabled: int, disabled_reason: str) -> dict[str, Any]:
    """`catalog.describe` of a stored action, from its JSON."""
    spec = json.loads(spec_json)
    if tuple(spec) != _SPEC_FIELDS or spec["name"] != name or enabled not in (0, 1):
        raise _Unsure(name)
    kind, config = spec["action_type"], spec["config"]
    row: dict[str, Any] = {
        "name": name,
        "title": spec["title"] or name.replace("_", " ").capitalize(),
        "type": kind,
        "enabled": bool(enabled),
        "version": version,
        "parameters": [p["name"] for p in spec["parameters"]],
    }
    if disabled_reason:
        row["disabled_reason"] = disabled_reason
    if kind == "API_CALL":
        row["request"] = f"{config['method']} {config['endpoint']}"
    elif kind == "AGENT":
        row["tools"] = list(config["tools"])
        row["provider"] = config["provider"]
    elif kind != "PYTHON_CODE":
        raise _Unsure(kind)
    if spec["schedule"] is not None:
        if tuple(spec["schedule"]) != _SCHEDULE_FIELDS:
            raise _Unsure(name)
        row["schedule"] = spec["schedule"]
    if spec["groups"]:
        row["groups"] = list(spec["groups"])
    return row
