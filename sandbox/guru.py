"""Helpers for guru-mcp Python actions, importable in the sandbox as `import guru`. Standard library only.

Parameters also arrive as environment variables, but those are text: a boolean is `"true"` or
`"false"`, a number `"3"` or `"2.5"`. `guru.args()` gives them typed, as the tool call sent them
(defaults applied; optional parameters that were not given are absent)::

    import guru

    args = guru.args()              # {"city": "Zürich", "days": 3, "notify": False}
    if args["notify"]:
        ...
    days = guru.arg("days", 1)      # one argument, with a fallback
    me = guru.user()                # {"email": ..., "name": ..., "groups": [...], "guru": ...}

The arguments travel as JSON in the `GURU_ARGS_JSON` environment variable, set by the server for
every run; this module only reads it. Secrets are not in it: read them with `os.environ["NAME"]`.
"""

from __future__ import annotations

import json
import os
from typing import Any

ARGS_VARIABLE = "GURU_ARGS_JSON"

__all__ = ["ARGS_VARIABLE", "arg", "args", "user"]


def args() -> dict[str, Any]:
    """The run's arguments, typed: str, int or float, bool."""
    raw = os.environ.get(ARGS_VARIABLE)
    if raw is None:
        raise RuntimeError(f"{ARGS_VARIABLE} is not set: guru.args() works inside a guru-mcp run only")
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise RuntimeError(f"{ARGS_VARIABLE} does not hold a JSON object")
    return value


def arg(name: str, default: Any = None) -> Any:
    """One argument, typed; `default` when it was not given and has no default of its own."""
    return args().get(name, default)


def user() -> dict[str, Any]:
    """Who is calling: email, name, groups (a list) and the guru's slug (empty for scheduled runs)."""
    groups = os.environ.get("GURUBASE_USER_GROUPS", "")
    return {
        "email": os.environ.get("GURUBASE_USER_EMAIL", ""),
        "name": os.environ.get("GURUBASE_USER_NAME", ""),
        "groups": [g for g in groups.split(",") if g],
        "guru": os.environ.get("GURUBASE_GURU_SLUG", ""),
    }
