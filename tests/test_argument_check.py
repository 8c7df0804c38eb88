"""The fast argument check of a call (`ActionEntry.arguments_valid`) never accepts what the input
schema's validator refuses, and accepts the ordinary valid calls (for those the validator is not run)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from guru_mcp.catalog import ActionEntry
from guru_mcp.models import StoredAction, parse_spec


def entry_with(parameters: list[dict[str, Any]]) -> ActionEntry:
    spec = parse_spec(
        {
            "name": "check",
            "condition_prompt": "When testing.",
            "action_type": "API_CALL",
            "parameters": parameters,
            "config": {"endpoint": "http://127.0.0.1:9/x", "method": "GET"},
        }
    )
    now = datetime.now(UTC)
    stored = StoredAction(
        id=1, guru="default", spec=spec, version=1, enabled=True, created_at=now, updated_at=now
    )
    return ActionEntry(stored=stored, secret_names=frozenset())


ENTRY = entry_with(
    [
        {"name": "city", "type": "string", "required": True},
        {"name": "days", "type": "number"},
        {"name": "metric", "type": "boolean"},
        {"name": "unit", "type": "string", "required": True, "default": "C"},  # a default: not required
    ]
)

VALID = [
    {"city": "Paris"},
    {"city": "Paris", "days": 3},
    {"city": "Paris", "days": 2.5, "metric": False, "unit": "F"},
    {"city": "", "metric": True},
]

CASES = [
    *VALID,
    {},
    {"days": 3},
    {"city": 3},
    {"city": None},
    {"city": "Paris", "days": "3"},
    {"city": "Paris", "days": True},
    {"city": "Paris", "days": None},
    {"city": "Paris", "days": Decimal("1.5")},
    {"city": "Paris", "days": float("nan")},
    {"city": "Paris", "metric": 1},
    {"city": "Paris", "metric": "true"},
    {"city": "Paris", "extra": 1},
    {"city": ["Paris"]},
    {"city": {"name": "Paris"}},
]


@pytest.mark.parametrize("arguments", CASES, ids=repr)
def test_the_fast_check_accepts_only_what_the_validator_accepts(arguments):
    if ENTRY.arguments_valid(arguments):
        assert ENTRY.validator.is_valid(arguments)


@pytest.mark.parametrize("arguments", VALID, ids=repr)
def test_ordinary_valid_calls_pass_the_fast_check(arguments):
    assert ENTRY.arguments_valid(arguments)


def test_an_action_without_parameters_accepts_only_no_arguments():
    empty = entry_with([])
    assert empty.arguments_valid({})
    assert not empty.arguments_valid({"anything": 1})
    assert not empty.validator.is_valid({"anything": 1})
