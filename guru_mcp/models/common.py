"""What every model module shares: action and parameter types, triggers, names and their patterns.
No pydantic models here."""

from __future__ import annotations

import re
from enum import StrEnum

BUILTIN_VARIABLES = (
    "GURUBASE_USER_EMAIL",
    "GURUBASE_USER_NAME",
    "GURUBASE_USER_GROUPS",
    "GURUBASE_GURU_SLUG",
)
# Name patterns are applied with `fullmatch` only: `$` would also match before a trailing newline.
ACTION_NAME_RE = re.compile(r"[a-z0-9_]{1,64}")
PARAM_NAME_RE = re.compile(r"[A-Za-z_]{1,64}")
HEADER_NAME_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ARGS_JSON_VARIABLE = "GURU_ARGS_JSON"
"""The environment variable holding a Python action's arguments as typed JSON (sandbox/guru.py reads it)."""
MIN_SECRET_LENGTH = 8
"""Shorter values could not be masked meaningfully (they would blot out ordinary words)."""


class ActionType(StrEnum):
    PYTHON_CODE = "PYTHON_CODE"
    API_CALL = "API_CALL"
    AGENT = "AGENT"


class ParamType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"


class Trigger(StrEnum):
    TOOL_CALL = "tool_call"
    TEST = "test"
    MANUAL = "manual"
    SCHEDULE = "schedule"


def slugify(name: str) -> str:
    """A tool-safe name from a human one: `Get Weather Data` -> `get_weather_data`."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    return slug[:64] or "action"
