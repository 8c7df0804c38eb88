"""One error tree: every exception class guru-mcp defines is a `GuruError`, and run statuses are one enum."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import get_args

import guru_mcp
from guru_mcp.errors import EgressDenied, GuruError, RequestRefused, RunFailure, SandboxUnavailable
from guru_mcp.run_status import RunStatus


def _module_names() -> list[str]:
    """Every module of the package, namespace packages (`identity/`) included; not alembic's scripts."""
    root = Path(guru_mcp.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if "migrations" in parts or parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module_name in _module_names():
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module_name:
                found[f"{module_name}.{name}"] = obj
    return found


def test_every_exception_class_is_in_the_tree() -> None:
    classes = _exception_classes()
    # the walk reaches every module, namespace packages included
    assert {"guru_mcp.sandbox_image.SandboxImageError", "guru_mcp.identity.oauth.InvalidToken"} <= set(
        classes
    )
    stray = sorted(name for name, cls in classes.items() if not issubclass(cls, GuruError))
    assert stray == []


def test_refusals_at_http_surfaces_share_a_branch() -> None:
    from guru_mcp.console.web import Refused as ConsoleRefused
    from guru_mcp.identity.authn import Refused as AuthRefused
    from guru_mcp.identity.oauth import InvalidToken

    assert AuthRefused("no bearer token").status == 401
    assert AuthRefused("gone", status=404).status == 404
    assert InvalidToken("bad signature").status == 401
    assert ConsoleRefused(422, "bad input").status == 422
    for cls in (AuthRefused, InvalidToken, ConsoleRefused):
        assert issubclass(cls, RequestRefused)


def test_run_failure_status_is_the_enum_with_the_same_strings() -> None:
    assert RunFailure("boom").status is RunStatus.ERROR
    assert RunFailure("slow", status=RunStatus.TIMEOUT).status == "timeout"
    assert EgressDenied("refused", host="example.com").status is RunStatus.DENIED
    assert SandboxUnavailable("no engine").status is RunStatus.ERROR
    assert json.dumps({"status": RunStatus.CANCELLED}) == '{"status": "cancelled"}'
    assert [s.value for s in RunStatus] == ["running", "ok", "error", "timeout", "denied", "cancelled"]


def test_status_choices_elsewhere_are_the_enum() -> None:
    from guru_mcp.cli import _STATUSES
    from guru_mcp.tools.admin import RunsListArgs

    literal = next(a for a in get_args(RunsListArgs.model_fields["status"].annotation) if a is not type(None))
    assert list(get_args(literal)) == [s.value for s in RunStatus]
    assert [s.value for s in RunStatus] == _STATUSES
