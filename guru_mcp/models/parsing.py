"""Input documents to models: every problem is reported as one `FieldError` naming its field
(`config.headers[0].key`), never as pydantic's own error text with model and union names."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from guru_mcp.errors import FieldError, ValidationFailed
from guru_mcp.models.action import CONFIG_NOT_AN_OBJECT, ActionSpec
from guru_mcp.models.common import ActionType
from guru_mcp.models.provider import ModelProvider

_CONFIG_TAGS = frozenset(t.value for t in ActionType)


def parse_spec(data: Any, *, where: str = "") -> ActionSpec:
    """Validate an action definition; every problem is reported with the field it concerns."""
    if not isinstance(data, dict):
        raise ValidationFailed("an action definition must be a JSON object", prefix=where)
    prefix = where or f"action {data.get('name', '?')!r}"
    try:
        return ActionSpec.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(_spec_errors(exc.errors()), prefix=prefix) from None


def parse_provider(data: dict[str, Any]) -> ModelProvider:
    """Validate a model provider's settings; every problem names its field."""
    try:
        return ModelProvider.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            [_field_error(err["loc"], err["msg"]) for err in exc.errors()],
            prefix=f"provider {data.get('name', 'default')!r}",
        ) from None


def _spec_errors(details: list[ErrorDetails]) -> list[FieldError]:
    """An action's errors as users read them: the problems inside its config first (their path without
    the union's tag: `config.endpoint`, not `config.API_CALL.endpoint`), then the others in field
    order. A config that could not be checked because `action_type` is missing or unknown adds
    nothing to the `action_type` error."""
    type_wrong = any(err["loc"][:1] == ("action_type",) for err in details)
    inside: list[FieldError] = []
    others: list[FieldError] = []
    for err in details:
        loc = err["loc"]
        if err["type"] == CONFIG_NOT_AN_OBJECT and type_wrong:
            continue
        if loc[:1] == ("config",) and len(loc) > 1 and loc[1] in _CONFIG_TAGS:
            inside.append(_field_error((loc[0], *loc[2:]), err["msg"]))
        else:
            others.append(_field_error(loc, err["msg"]))
    return inside + others


def _field_error(loc: tuple[int | str, ...], message: str) -> FieldError:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return FieldError(path, message.removeprefix("Value error, "))
